"""Who is calling, and with which scopes (DESIGN.md §4, PROTOCOL.md §5).

A request is anonymous (no Authorization header), Hawk (tooltool.py or the taskcluster
library), or Bearer. Credentials that fail verification raise a 401 with the reason; they are
never downgraded to anonymous. Reasons never echo what the server computed (a MAC in an error
message would be an oracle for forging one).
"""

import base64
import binascii
import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlparse, urlsplit

import aiohttp
import mohawk
import mohawk.exc
import mohawk.util
import taskcluster.aio
import taskcluster.exceptions
from aiohttp import web
from cachetools import TTLCache
from taskcluster.utils import scopeMatch

from proxy.clients import Client, ClientsFile
from proxy.errors import HTTPProblem, unauthorized
from proxy.replay import ReplayGuard

# mohawk logs the full Authorization header at debug level; it must never reach our logs.
logging.getLogger("mohawk").setLevel(logging.WARNING)

MAX_TEMPORARY_CREDENTIAL_MS = 31 * 24 * 3600 * 1000
MAX_NONCE_LENGTH = 64
# The per-process memory of accepted nonces, in bytes (about 150 bytes an entry).
NONCE_CACHE_BYTES = 64 * 1024 * 1024
_NONCE_ENTRY_OVERHEAD = 100


@dataclass(frozen=True)
class HawkNonce:
    """What identifies one Hawk request for replay protection."""

    client_id: str
    timestamp: int
    nonce: str


@dataclass(frozen=True)
class Identity:
    client_id: str | None
    scopes: tuple[str, ...]
    # Hawk requests only: claimed in the store by requests that change something.
    hawk_nonce: HawkNonce | None = field(default=None, compare=False)

    @property
    def anonymous(self) -> bool:
        return self.client_id is None

    def has_scope(self, scope: str) -> bool:
        return bool(scopeMatch(self.scopes, [[scope]]))

    def has_all(self, scopes: Iterable[str]) -> bool:
        return bool(scopeMatch(self.scopes, [list(scopes)]))


class AuthServiceUnavailable(Exception):
    """The Taskcluster auth service could not answer."""


@dataclass(frozen=True)
class HawkRequest:
    """The parts of an HTTP request a Hawk MAC covers."""

    header: str
    method: str
    resource: str  # path plus query string, as sent
    host: str
    port: int
    content: bytes
    content_type: str


def _b64url_json(value: str) -> Any:
    padded = value + "=" * (-len(value) % 4)
    return json.loads(base64.urlsafe_b64decode(padded.encode()))


def _taskcluster_ext(parsed: dict[str, str]) -> dict[str, Any]:
    if not parsed.get("ext"):
        return {}
    try:
        ext = _b64url_json(parsed["ext"])
    except (binascii.Error, ValueError, RecursionError):
        raise unauthorized("Hawk ext is not base64url-encoded JSON") from None
    if not isinstance(ext, dict):
        raise unauthorized("Hawk ext must encode a JSON object")
    return ext


def _restrict_to_authorized(scopes: tuple[str, ...], ext: dict[str, Any]) -> tuple[str, ...]:
    if "authorizedScopes" not in ext:
        return scopes
    authorized = ext["authorizedScopes"]
    if not isinstance(authorized, list) or not all(isinstance(s, str) for s in authorized):
        raise unauthorized("authorizedScopes must be a list of strings")
    if not scopeMatch(scopes, [authorized]):
        raise unauthorized("authorizedScopes are not satisfied by the credentials' scopes")
    return tuple(authorized)


def _temporary_credentials(
    header_id: str, certificate: Any, lookup: Callable[[str], Client | None], skew_ms: int
) -> tuple[str, tuple[str, ...]]:
    """Check a taskcluster temporary-credentials certificate; return (accessToken, scopes)."""
    if isinstance(certificate, str):
        try:
            certificate = json.loads(certificate)
        except (ValueError, RecursionError):
            raise unauthorized("certificate is not JSON") from None
    if not isinstance(certificate, dict) or certificate.get("version") != 1:
        raise unauthorized("certificate must be a version 1 object")
    scopes, seed, signature = certificate.get("scopes"), certificate.get("seed"), certificate.get("signature")
    start, expiry, issuer = certificate.get("start"), certificate.get("expiry"), certificate.get("issuer")
    if (
        not isinstance(scopes, list)
        or not all(isinstance(s, str) for s in scopes)
        or not isinstance(seed, str)
        or not isinstance(signature, str)
        or not isinstance(start, int)
        or not isinstance(expiry, int)
        or (issuer is not None and not isinstance(issuer, str))
    ):
        raise unauthorized("certificate is missing fields")
    issuer_id = issuer if issuer is not None else header_id
    issuer_client = lookup(issuer_id)
    if issuer_client is None:
        raise unauthorized("unknown issuer of temporary credentials")
    lines = ["version:1"]
    if issuer is not None:
        lines += [f"clientId:{header_id}", f"issuer:{issuer}"]
    lines += [f"seed:{seed}", f"start:{start}", f"expiry:{expiry}", "scopes:", *scopes]
    key = issuer_client.access_token.encode()
    expected = base64.b64encode(hmac.new(key, "\n".join(lines).encode(), hashlib.sha256).digest()).decode()
    if not hmac.compare_digest(expected.encode(), signature.encode()):  # str: ASCII only
        raise unauthorized("certificate signature is invalid")
    now_ms = int(time.time() * 1000)
    if not start - skew_ms <= now_ms <= expiry + skew_ms:
        raise unauthorized("temporary credentials are expired or not yet valid")
    if expiry - start > MAX_TEMPORARY_CREDENTIAL_MS:
        raise unauthorized("temporary credentials may be valid for 31 days at most")
    if issuer is not None and not scopeMatch(issuer_client.scopes, [[f"auth:create-client:{header_id}"]]):
        # Taskcluster's rule: naming temporary credentials needs auth:create-client:<name>.
        raise unauthorized("the issuer may not create named temporary credentials with this clientId")
    if not scopeMatch(issuer_client.scopes, [scopes]):
        raise unauthorized("temporary credentials have scopes their issuer does not")
    token = hmac.new(key, seed.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(token).decode().rstrip("="), tuple(scopes)


def parse_hawk_header(header: str) -> dict[str, str]:
    """The header's attributes; 401 unless it is well-formed and has id, ts, nonce and mac.

    The rules of mohawk.util.parse_authorization_header (its pattern, keys and characters),
    without its cost: it pprint-formats every header for a debug message, logged or not."""
    scheme, space, attributes = header.partition(" ")
    if len(header) > mohawk.util.MAX_LENGTH or not space or scheme.lower() != "hawk":
        raise unauthorized("malformed Hawk header")
    parsed: dict[str, str] = {}

    def take(match: re.Match[str]) -> str:
        key, value = match.group("key"), match.group("value")
        if key not in mohawk.util.allowable_header_keys or key in parsed:
            raise unauthorized("malformed Hawk header")
        try:
            mohawk.util.validate_header_attr(value, name=key)
        except mohawk.exc.BadHeaderValue:
            raise unauthorized("malformed Hawk header") from None
        parsed[key] = value
        return ""

    if mohawk.util.HAWK_HEADER_RE.sub(take, attributes) != "":
        raise unauthorized("malformed Hawk header")
    missing = [name for name in ("id", "ts", "nonce", "mac") if not parsed.get(name)]
    if missing:
        raise unauthorized(f"malformed Hawk header: missing {', '.join(missing)}")
    return parsed


def _hawk_mac(parsed: dict[str, str], token: str, hawk: HawkRequest) -> bytes:
    """The base64 MAC of Hawk 1's normalized request string, as mohawk computes it (the URL goes
    through urlparse, so `;params` are not part of the resource)."""
    url = urlparse(f"http://{hawk.host}:{hawk.port}{hawk.resource}")
    resource = url.path + (f"?{url.query}" if url.query else "")
    fields = [
        "hawk.1.header",
        parsed["ts"],
        parsed["nonce"],
        hawk.method.upper(),
        resource,
        url.hostname or "",
        str(url.port),
        parsed.get("hash", ""),
        parsed.get("ext", ""),
    ]
    if parsed.get("app"):
        fields += [parsed["app"], parsed.get("dlg", "")]
    normalized = "\n".join([*fields, ""]).encode()
    return base64.b64encode(hmac.new(token.encode("ascii"), normalized, hashlib.sha256).digest())


def _nonce_of(parsed: dict[str, str], client_id: str | None = None) -> HawkNonce:
    if len(parsed["nonce"]) > MAX_NONCE_LENGTH:
        raise unauthorized(f"Hawk nonce is longer than {MAX_NONCE_LENGTH} characters")
    return HawkNonce(client_id or parsed["id"], int(parsed["ts"]), parsed["nonce"])


class Authenticator:
    def __init__(
        self,
        clients: ClientsFile,
        anonymous_scopes: tuple[str, ...],
        skew_seconds: int = 60,
        taskcluster_root_url: str | None = None,
        public_url: str | None = None,
    ) -> None:
        self.clients = clients
        self.anonymous = Identity(None, anonymous_scopes)
        self.skew_seconds = skew_seconds
        self.taskcluster_root_url = taskcluster_root_url
        self.default_scheme = urlsplit(public_url).scheme if public_url else None
        self._seen_nonces: TTLCache[tuple[str, str, str], int] = TTLCache(
            maxsize=NONCE_CACHE_BYTES, ttl=2 * skew_seconds + 1, getsizeof=lambda size: size
        )
        self.replay_guard: ReplayGuard | None = None
        self._tc_auth: Any = None
        self.failures = 0

    def bind_session(self, session: aiohttp.ClientSession) -> None:
        """Use this session for calls to the Taskcluster auth service."""
        if self.taskcluster_root_url:
            self._tc_auth = taskcluster.aio.Auth(
                {"rootUrl": self.taskcluster_root_url, "maxRetries": 2}, session=session
            )

    async def identify(self, request: web.Request) -> Identity:
        header = request.headers.get("Authorization")
        if header is None:
            return self.anonymous
        try:
            return await self._identify(request, header)
        except HTTPProblem:
            self.failures += 1
            raise

    async def _identify(self, request: web.Request, header: str) -> Identity:
        scheme, _, credentials = header.strip().partition(" ")
        if scheme.lower() == "bearer":
            token = self.clients.bearer(credentials.strip())
            if token is None:
                raise unauthorized("unknown Bearer token")
            return Identity(f"bearer:{token.name}", token.scopes)
        if scheme.lower() != "hawk":
            raise unauthorized("unsupported Authorization scheme; use Hawk or Bearer")
        hawk = await self._hawk_request(request, header)
        if self._tc_auth is not None:
            return await self._verify_remotely(hawk)
        return self._verify_locally(hawk)

    async def _hawk_request(self, request: web.Request, header: str) -> HawkRequest:
        host_header = request.headers.get("Host", "")
        try:
            parts = urlsplit(f"//{host_header}")
            host, port = parts.hostname, parts.port
        except ValueError:
            raise unauthorized("the Host header is malformed") from None
        if not host:
            raise unauthorized("a Host header is required for Hawk")
        if port is None:
            port = 443 if (self.default_scheme or request.scheme) == "https" else 80
        content = await request.read() if request.can_read_body else b""
        return HawkRequest(
            header=header,
            method=request.method,
            resource=request.raw_path,
            host=host,
            port=port,
            content=content,
            content_type=request.headers.get("Content-Type", ""),
        )

    def _seen_nonce(self, client_id: str, nonce: str, timestamp: str) -> bool:
        key = (client_id, nonce, timestamp)
        if key in self._seen_nonces:
            return True
        self._seen_nonces[key] = len(client_id) + len(nonce) + len(timestamp) + _NONCE_ENTRY_OVERHEAD
        return False

    async def claim(self, identity: Identity) -> None:
        """For a request that changes something: refuse it (401) if any replica sharing the
        store accepted the same Hawk client, timestamp and nonce before."""
        hawk = identity.hawk_nonce
        if hawk is None or self.replay_guard is None:
            return
        if not await self.replay_guard.claim(hawk.client_id, hawk.timestamp, hawk.nonce):
            self.failures += 1
            raise unauthorized("Hawk nonce was already used (replayed request)")

    def _verify_locally(self, hawk: HawkRequest) -> Identity:
        parsed = parse_hawk_header(hawk.header)
        header_id = parsed["id"]
        ext = _taskcluster_ext(parsed)
        if "certificate" in ext:
            token, scopes = _temporary_credentials(
                header_id, ext["certificate"], self.clients.client, self.skew_seconds * 1000
            )
        else:
            client = self.clients.client(header_id)
            if client is None:
                raise unauthorized("unknown Hawk client id")
            token, scopes = client.access_token, client.scopes

        try:
            self._check_hawk(parsed, header_id, token, hawk)
        except ValueError:
            raise unauthorized("malformed Hawk request") from None
        return Identity(header_id, _restrict_to_authorized(scopes, ext), _nonce_of(parsed))

    def _check_hawk(self, parsed: dict[str, str], client_id: str, token: str, hawk: HawkRequest) -> None:
        """What mohawk.Receiver checks (MAC, payload hash, timestamp, nonce; the timestamp before the
        nonce, unlike mohawk, so that nothing is remembered of stale requests), without its cost:
        it formats debug messages (pprint included) whether or not they are logged, and parses
        the header a second time. Raises ValueError for values that cannot be used."""
        if not hmac.compare_digest(_hawk_mac(parsed, token, hawk), parsed["mac"].encode()):
            raise unauthorized("Hawk MAC does not match")
        if "hash" in parsed or hawk.content or hawk.content_type:
            ours = mohawk.util.calculate_payload_hash(hawk.content, "sha256", hawk.content_type)
            if not hmac.compare_digest(ours, parsed.get("hash", "").encode()):
                raise unauthorized("Hawk payload hash does not match the body")
        # The timestamp before the nonce: nothing is remembered of a request outside the window.
        if abs(int(parsed["ts"]) - int(time.time())) > self.skew_seconds:
            raise unauthorized("Hawk timestamp is outside the allowed clock skew")
        if len(parsed["nonce"]) > MAX_NONCE_LENGTH:
            raise unauthorized(f"Hawk nonce is longer than {MAX_NONCE_LENGTH} characters")
        if self._seen_nonce(client_id, parsed["nonce"], parsed["ts"]):
            raise unauthorized("Hawk nonce was already used (replayed request)")

    async def _verify_remotely(self, hawk: HawkRequest) -> Identity:
        parsed = parse_hawk_header(hawk.header)  # refuse garbage here rather than spend a call on it
        payload = {
            "method": hawk.method.lower(),
            "resource": hawk.resource,
            "host": hawk.host,
            "port": hawk.port,
            "authorization": hawk.header,
        }
        try:
            result = await self._tc_auth.authenticateHawk(payload)
        except (taskcluster.exceptions.TaskclusterFailure, aiohttp.ClientError, TimeoutError) as exc:
            raise AuthServiceUnavailable(type(exc).__name__) from exc
        status = result.get("status")
        if status != "auth-success":
            message = result.get("message") if status == "auth-failed" else "credentials were not accepted"
            raise unauthorized(str(message or "credentials were not accepted")[:500])
        their_hash = result.get("hash")
        if hawk.content or their_hash:
            ours = mohawk.util.calculate_payload_hash(hawk.content, "sha256", hawk.content_type).decode()
            if not their_hash or not hmac.compare_digest(ours, str(their_hash)):
                raise unauthorized("Hawk payload hash does not match the body")
        scopes = result.get("scopes", [])
        if not isinstance(scopes, list):
            raise AuthServiceUnavailable("malformed answer")
        identity = Identity(str(result.get("clientId")), tuple(str(s) for s in scopes))
        try:
            # The auth service checked the timestamp; the nonce is ours to guard.
            return replace(identity, hawk_nonce=_nonce_of(parsed, identity.client_id))
        except ValueError:
            raise unauthorized("malformed Hawk request") from None

    async def ping(self) -> None:
        """Raise AuthServiceUnavailable unless the configured auth service answers."""
        if self._tc_auth is None:
            return
        try:
            await self._tc_auth.ping()
        except (taskcluster.exceptions.TaskclusterFailure, aiohttp.ClientError, TimeoutError) as exc:
            raise AuthServiceUnavailable(type(exc).__name__) from exc
