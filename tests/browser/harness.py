"""What the browser tests and the screenshot command share: Debian's chromium driven by Playwright,
and `python -m proxy serve` as a real process on a local directory or on moto.

Playwright's own browser downloads are never used (`playwright install` cannot work here and is
not needed): the browser is /usr/bin/chromium from Debian's `chromium` package, installed by
install-chromium.sh when it is missing.
"""

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tests.support.credentials import LOG_SECRETS
from tests.support.hawk import tooltool_header
from tests.support.net import free_port, wait_for_http

CHROMIUM = Path("/usr/bin/chromium")
INSTALL_SCRIPT = Path(__file__).with_name("install-chromium.sh")
# Without the background-networking flags Chromium keeps trying to reach Google's services.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class ChromiumMissing(Exception):
    """Chromium is not installed and install-chromium.sh could not install it."""


def ensure_chromium() -> Path:
    """/usr/bin/chromium, installed with install-chromium.sh (apt-get) first when missing."""
    if CHROMIUM.exists():
        return CHROMIUM
    result = subprocess.run(["bash", str(INSTALL_SCRIPT)], capture_output=True, text=True)
    if result.returncode != 0 or not CHROMIUM.exists():
        last = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ChromiumMissing(
            f"the browser tests need Debian's chromium and {INSTALL_SCRIPT.name} could not install it "
            f"(exit {result.returncode}: {last[0]}); run `apt-get install chromium` as root"
        )
    return CHROMIUM


def launch_chromium(playwright: Any) -> Any:
    """A headless Chromium; Playwright gives each launch a fresh profile directory of its own."""
    return playwright.chromium.launch(executable_path=str(ensure_chromium()), headless=True, args=CHROMIUM_ARGS)


class ServeProcess:
    """`python -m proxy serve` on a free loopback port, its log in a file."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("TOOLTOOL_")}
        self.env = {**inherited, "TOOLTOOL_PUBLIC_URL": self.url, **env}
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> "ServeProcess":
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "proxy", "serve", "--port", str(self.port)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for_http(f"{self.url}/__lbheartbeat__")
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def log_lines(self) -> list[str]:
        return self.log_path.read_text(errors="replace").splitlines()

    def leaked_secrets(self, secrets: Iterable[str] = LOG_SECRETS) -> list[str]:
        """Log lines of this process holding any of `secrets`."""
        return [f"{secret!r} in: {line}" for line in self.log_lines() for secret in secrets if secret in line]


def api_request(
    base_url: str,
    method: str,
    path: str,
    *,
    hawk: tuple[str, str] | None = None,
    bearer: str | None = None,
    body: Any = None,
) -> tuple[int, Any]:
    """One API call as tooltool.py makes it (Hawk-signed with (clientId, accessToken), or Bearer)."""
    url = base_url + path
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if hawk is not None:
        request.add_header("Authorization", tooltool_header(hawk[0], hawk[1], method, url, data))
    elif bearer is not None:
        request.add_header("Authorization", f"Bearer {bearer}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            status = response.status
    except urllib.error.HTTPError as refused:
        raw = refused.read()
        status = refused.code
        refused.close()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw


def put_bytes(put_url: str, data: bytes) -> int:
    """The bare PUT tooltool.py makes: only Content-Type and Content-Length."""
    request = urllib.request.Request(
        put_url, data=data, method="PUT", headers={"Content-Type": "application/octet-stream"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        response.read()
        return int(response.status)


def upload_as_tooltool(
    base_url: str,
    files: dict[str, bytes],
    message: str,
    *,
    visibility: str = "public",
    hawk: tuple[str, str] | None = None,
    bearer: str | None = None,
) -> dict[str, Any]:
    """POST /upload, PUT each file, upload/complete: the sequence of tooltool.py; the batch."""
    import hashlib

    digests = {name: hashlib.sha512(data).hexdigest() for name, data in files.items()}
    body = {
        "message": message,
        "files": {
            name: {"size": len(data), "digest": digests[name], "algorithm": "sha512", "visibility": visibility}
            for name, data in files.items()
        },
    }
    status, answer = api_request(base_url, "POST", "/upload", hawk=hawk, bearer=bearer, body=body)
    assert status == 200, answer
    batch: dict[str, Any] = answer["result"]
    for name, data in files.items():
        put_url = batch["files"][name].get("put_url")
        if put_url:
            assert put_bytes(put_url, data) == 200
            path = f"/upload/complete/sha512/{digests[name]}"
            status, answer = api_request(base_url, "GET", path, hawk=hawk, bearer=bearer)
            assert status == 202, answer
    return batch
