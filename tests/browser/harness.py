"""What the browser tests and the screenshot command share: Debian's chromium driven by Playwright,
and the API calls tooltool.py makes (the proxy itself runs as tests/support/serve.py's ServeProcess).

Playwright's own browser downloads are never used (`playwright install` cannot work here and is
not needed): the browser is /usr/bin/chromium from Debian's `chromium` package, installed by
install-chromium.sh when it is missing.
"""

import fcntl
import json
import subprocess
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.hawk import tooltool_header

CHROMIUM = Path("/usr/bin/chromium")
INSTALL_SCRIPT = Path(__file__).with_name("install-chromium.sh")
INSTALL_LOCK = Path(tempfile.gettempdir()) / "tooltool-proxy-chromium-install.lock"
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
    # One install at a time: the suite's worker processes may all get here at once, and apt-get
    # refuses to run beside itself.
    with open(INSTALL_LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
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
