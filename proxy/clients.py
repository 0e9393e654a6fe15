"""The static clients file: Hawk credentials and Bearer tokens with their scopes.

    {"clients": [{"clientId": "admin", "accessToken": "...", "scopes": ["..."]}],
     "bearerTokens": [{"name": "ci", "sha256": "<hex of the token>", "scopes": ["..."]}]}

Bearer tokens are stored only as SHA-256 digests. The file is re-read when its modification
time changes, so `tooltool-proxy clients add` takes effect without a restart.
"""

import hashlib
import json
import logging
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RECHECK_SECONDS = 1.0
RELOAD_FAILED_WARNING = "the clients file could not be reloaded; the last good version is in use"

log = logging.getLogger("tooltool.clients")


class ClientsFileError(Exception):
    """The clients file is unreadable or malformed; str() says which and how to fix it."""


@dataclass(frozen=True)
class Client:
    client_id: str
    access_token: str
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class BearerToken:
    name: str
    scopes: tuple[str, ...]


def _scopes(entry: dict[str, Any], where: str) -> tuple[str, ...]:
    scopes = entry.get("scopes", [])
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        raise ClientsFileError(f"{where}: 'scopes' must be a list of strings")
    return tuple(scopes)


def parse_clients(doc: Any, path: Path) -> tuple[dict[str, Client], dict[str, BearerToken]]:
    if not isinstance(doc, dict):
        raise ClientsFileError(f"{path}: must be a JSON object with 'clients' and 'bearerTokens' lists")
    for section in ("clients", "bearerTokens"):
        if not isinstance(doc.get(section, []), list):
            raise ClientsFileError(f"{path}: '{section}' must be a list")
    clients: dict[str, Client] = {}
    for position, entry in enumerate(doc.get("clients", [])):
        where = f"{path}: clients[{position}]"
        if not isinstance(entry, dict):
            raise ClientsFileError(f"{where} must be an object")
        client_id, token = entry.get("clientId"), entry.get("accessToken")
        if not isinstance(client_id, str) or not isinstance(token, str) or not client_id or not token:
            raise ClientsFileError(f"{where} needs string 'clientId' and 'accessToken'")
        clients[client_id] = Client(client_id, token, _scopes(entry, where))
    tokens: dict[str, BearerToken] = {}
    for position, entry in enumerate(doc.get("bearerTokens", [])):
        where = f"{path}: bearerTokens[{position}]"
        if not isinstance(entry, dict):
            raise ClientsFileError(f"{where} must be an object")
        name, digest = entry.get("name"), entry.get("sha256")
        if not isinstance(name, str) or not isinstance(digest, str) or len(digest) != 64:
            raise ClientsFileError(f"{where} needs string 'name' and a 64-hex-digit 'sha256'")
        tokens[digest.lower()] = BearerToken(name, _scopes(entry, where))
    return clients, tokens


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ClientsFile:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._version: tuple[int, int, int] | None = None
        self._checked = 0.0
        self._clients: dict[str, Client] = {}
        self._tokens: dict[str, BearerToken] = {}
        self.reload_problem: str | None = None  # why the last reload failed, while it does
        self.reload()

    def reload(self) -> None:
        if self.path is None:
            return
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._clients, self._tokens, self._version = {}, {}, None
            return
        except OSError as exc:
            raise ClientsFileError(f"{self.path}: cannot be read ({exc.strerror})") from None
        # Not the mtime alone: timestamps are coarse, and a replacement within one tick keeps it.
        version = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        if version == self._version:
            return
        try:
            doc = json.loads(self.path.read_text())
        except (OSError, ValueError) as exc:
            raise ClientsFileError(f"{self.path}: cannot be read as JSON ({exc})") from None
        self._clients, self._tokens = parse_clients(doc, self.path)
        self._version = version

    def _refresh(self) -> None:
        now = time.monotonic()
        if now - self._checked >= RECHECK_SECONDS:
            self._checked = now
            # A half-edited file must not lock everyone out: keep the last good version, and say
            # so (in the log at every recheck, and in /__heartbeat__) until it is fixed.
            try:
                self.reload()
                self.reload_problem = None
            except ClientsFileError as exc:
                self.reload_problem = str(exc)
                log.error(RELOAD_FAILED_WARNING, extra={"reason": str(exc)})

    def client(self, client_id: str) -> Client | None:
        self._refresh()
        return self._clients.get(client_id)

    def bearer(self, token: str) -> BearerToken | None:
        self._refresh()
        # Looking up the SHA-256 of the token: the comparison never touches the secret itself.
        return self._tokens.get(token_digest(token))


def new_access_token() -> str:
    return secrets.token_urlsafe(32)


def _load_for_update(path: Path) -> dict[str, Any]:
    """The clients file's document, validated, or an empty one if there is no file yet."""
    if not path.exists():
        return {"clients": [], "bearerTokens": []}
    try:
        doc: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ClientsFileError(f"{path}: cannot be read as JSON ({exc}); fix or move it first") from None
    parse_clients(doc, path)
    return doc


def add_client(path: Path, client_id: str, scopes: list[str]) -> Client:
    """Add or replace a client in the clients file (written atomically, mode 0600)."""
    doc = _load_for_update(path)
    client = Client(client_id, new_access_token(), tuple(scopes))
    doc["clients"] = [c for c in doc.get("clients", []) if c.get("clientId") != client_id]
    doc["clients"].append({"clientId": client_id, "accessToken": client.access_token, "scopes": scopes})
    doc.setdefault("bearerTokens", [])
    write_private_json(path, doc)
    return client


def add_bearer_token(path: Path, name: str, scopes: list[str]) -> str:
    """Add a Bearer token; returns the token (only its digest is stored)."""
    doc = _load_for_update(path)
    token = new_access_token()
    doc.setdefault("bearerTokens", []).append({"name": name, "sha256": token_digest(token), "scopes": scopes})
    doc.setdefault("clients", [])
    write_private_json(path, doc)
    return token


def write_private_json(path: Path, doc: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        json.dump(doc, file, indent=2)
        file.write("\n")
    os.replace(tmp, path)


def write_auth_file(path: Path, client: Client) -> None:
    """The client's tooltool.py auth file, `{"clientId", "accessToken"}` (mode 0600)."""
    write_private_json(path, {"clientId": client.client_id, "accessToken": client.access_token})
