"""A protocol peer that behaves as tooltool.py 1.4 does on the wire (PROTOCOL.md §1, §4, §5).

Downloads go through urllib with the Authorization header added "unredirected", so it is not
forwarded to the redirect target; uploads POST the batch, PUT each file with raw http.client
and only Content-Type/Content-Length, then poll upload/complete honouring X-Retry-After.
"""

import hashlib
import http.client
import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from tests.support.hawk import tooltool_header


def _authorize(request: urllib.request.Request, auth_file: Path | None) -> None:
    if auth_file is None:
        return
    content = auth_file.read_text().strip()
    try:
        credentials = json.loads(content)
        header = tooltool_header(
            credentials["clientId"],
            credentials["accessToken"],
            request.get_method(),
            request.full_url,
            request.data if isinstance(request.data, bytes) else None,
        )
    except (ValueError, KeyError, TypeError):
        header = f"Bearer {content}"
    request.add_unredirected_header("Authorization", header)


def file_record(path: Path, visibility: str) -> dict[str, Any]:
    data = path.read_bytes()
    return {
        "filename": path.name,
        "size": len(data),
        "algorithm": "sha512",
        "digest": hashlib.sha512(data).hexdigest(),
        "visibility": visibility,
    }


def fetch(base_url: str, record: dict[str, Any], destination: Path, auth_file: Path | None = None) -> None:
    """Fetch one manifest record into `destination`, checking size and sha512 like the client."""
    url = urljoin(base_url, f"sha512/{record['digest']}")
    request = urllib.request.Request(url)
    _authorize(request, auth_file)
    with urllib.request.urlopen(request, timeout=30) as response:
        data = response.read()
    if len(data) != record["size"] or hashlib.sha512(data).hexdigest() != record["digest"]:
        raise ValueError(f"{record['filename']}: fetched bytes fail the integrity check")
    destination.write_bytes(data)


def _put(put_url: str, path: Path) -> int:
    url = urlsplit(put_url)
    host, port = url.netloc.split(":") if ":" in url.netloc else (url.netloc, "443")
    connection_class = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
    connection = connection_class(host, int(port), timeout=30)
    try:
        target = f"{url.path}?{url.query}" if url.query else url.path
        with path.open("rb") as body:
            connection.request(
                "PUT",
                target,
                body,
                {"Content-Type": "application/octet-stream", "Content-Length": str(path.stat().st_size)},
            )
            response = connection.getresponse()
            response.read()
            return response.status
    finally:
        connection.close()


def upload(base_url: str, auth_file: Path, files: dict[Path, str], message: str) -> dict[str, Any]:
    """Upload files ({path: visibility}); returns the batch the server answered."""
    records = {path.name: file_record(path, visibility) for path, visibility in files.items()}
    body = json.dumps(
        {
            "message": message,
            "files": {name: {k: v for k, v in r.items() if k != "filename"} for name, r in records.items()},
        }
    ).encode()
    request = urllib.request.Request(
        urljoin(base_url, "upload"), data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    _authorize(request, auth_file)
    with urllib.request.urlopen(request, timeout=30) as response:
        batch: dict[str, Any] = json.loads(response.read())["result"]
    paths = {path.name: path for path in files}
    for name, info in batch["files"].items():
        if "put_url" not in info:
            continue
        if _put(info["put_url"], paths[name]) != 200:
            raise RuntimeError(f"{name}: PUT did not answer 200")
        _complete(base_url, auth_file, info["digest"])
    return batch


def _complete(base_url: str, auth_file: Path, digest: str) -> None:
    for _ in range(20):
        request = urllib.request.Request(urljoin(base_url, f"upload/complete/sha512/{digest}"))
        _authorize(request, auth_file)
        try:
            with urllib.request.urlopen(request, timeout=30):
                return
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code != 409:
                raise
            time.sleep(int(exc.headers.get("X-Retry-After", "60")))
    raise RuntimeError("upload never completed")
