"""Who is calling, and with which scopes (DESIGN.md §4, PROTOCOL.md §5).

A request is anonymous (no Authorization header), Hawk (tooltool.py or the taskcluster
library), or Bearer. Credentials that fail verification raise NeedsCredentials (a 401) with the
reason; they are never downgraded to anonymous. Reasons never echo what the server computed (a
MAC in an error message would be an oracle for forging one).

No HTTP library here: the edge (proxy/http/context.py) hands over the Authorization header and,
for Hawk, the parts of the request its MAC covers; the Taskcluster auth service is called through
proxy/taskcluster_auth.py.
"""

import base64
import binascii
import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol
from urllib.parse import urlparse, urlsplit

import mohawk
import mohawk.exc
import mohawk.util
from cachetools import TTLCache
from taskcluster.utils import scopeMatch

from proxy.clients import Client, ClientsFile
from proxy.outcomes import AuthServiceUnavailable, NeedsCredentials
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


class RemoteHawkVerifier(Protocol):
    """The Taskcluster auth service (proxy/taskcluster_auth.py); raises AuthServiceUnavailable
    when it cannot answer."""

    async def authenticate_hawk(self, payload: dict[str, Any]) -> dict[str, Any]: ...

    async def ping(self) -> None: ...


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
        raise NeedsCredentials("Hawk ext is not base64url-encoded JSON") from None
    if not isinstance(ext, dict):
        raise NeedsCredentials("Hawk ext must encode a JSON object")
    return ext


def _restrict_to_authorized(scopes: tuple[str, ...], ext: dict[str, Any]) -> tuple[str, ...]:
    if "authorizedScopes" not in ext:
        return scopes
    authorized = ext["authorizedScopes"]
    if not isinstance(authorized, list) or not all(isinstance(s, str) for s in authorized):
        raise NeedsCredentials("authorizedScopes must be a list of strings")
    if not scopeMatch(scopes, [authorized]):
        raise NeedsCredentials("authorizedScopes are not satisfied by the credentials' scopes")
    return tuple(authorized)


def _temporary_credentials(
    header_id: str, certificate: Any, lookup: Callable[[str], Client | None], skew_ms: int
) -> tuple[str, tuple[str, ...]]:
    """Check a taskcluster temporary-credentials certificate; return (accessToken, scopes)."""
    if isinstance(certificate, str):
        try:
            certificate = json.loads(certificate)
        except (ValueError, RecursionError):
            raise NeedsCredentials("certificate is not JSON") from None
    if not isinstance(certificate, dict) or certificate.get("version") != 1:
        raise NeedsCredentials("certificate must be a version 1 object")
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
        raise NeedsCredentials("certificate is missing fields")
    issuer_id = issuer if issuer is not None else header_id
    issuer_client = lookup(issuer_id)
    if issuer_client is None:
        raise NeedsCredentials("unknown issuer of temporary credentials")
    lines = ["version:1"]
    if issuer is not None:
        lines += [f"clientId:{header_id}", f"issuer:{issuer}"]
    lines += [f"seed:{seed}", f"start:{start}", f"expiry:{expiry}", "scopes:", *scopes]
    key = issuer_client.access_token.encode()
    expected = base64.b64encode(hmac.new(key, "\n".join(lines).encode(), hashlib.sha256).digest()).decode()
    if not hmac.compare_digest(expected.encode(), signature.encode()):  # str: ASCII only
        raise NeedsCredentials("certificate signature is invalid")
    now_ms = int(time.time() * 1000)
    if not start - skew_ms <= now_ms <= expiry + skew_ms:
        raise NeedsCredentials("temporary credentials are expired or not yet valid")
    if expiry - start > MAX_TEMPORARY_CREDENTIAL_MS:
        raise NeedsCredentials("temporary credentials may be valid for 31 days at most")
    if issuer is not None and not scopeMatch(issuer_client.scopes, [[f"auth:create-client:{header_id}"]]):
        # Taskcluster's rule: naming temporary credentials needs auth:create-client:<name>.
        raise NeedsCredentials("the issuer may not create named temporary credentials with this clientId")
    if not scopeMatch(issuer_client.scopes, [scopes]):
        raise NeedsCredentials("temporary credentials have scopes their issuer does not")
    token = hmac.new(key, seed.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(token).decode().rstrip("="), tuple(scopes)


def parse_hawk_header(header: str) -> dict[str, str]:
    """The header's attributes; NeedsCredentials (a 401) unless well-formed with id, ts, nonce and mac.

    The rules of mohawk.util.parse_authorization_header (its pattern, keys and characters),
    without its cost: it pprint-formats every header for a debug message, logged or not."""
    scheme, space, attributes = header.partition(" ")
    if len(header) > mohawk.util.MAX_LENGTH or not space or scheme.lower() != "hawk":
        raise NeedsCredentials("malformed Hawk header")
    parsed: dict[str, str] = {}

    def take(match: re.Match[str]) -> str:
        key, value = match.group("key"), match.group("value")
        if key not in mohawk.util.allowable_header_keys or key in parsed:
            raise NeedsCredentials("malformed Hawk header")
        try:
            mohawk.util.validate_header_attr(value, name=key)
        except mohawk.exc.BadHeaderValue:
            raise NeedsCredentials("malformed Hawk header") from None
        parsed[key] = value
        return ""

    if mohawk.util.HAWK_HEADER_RE.sub(take, attributes) != "":
        raise NeedsCredentials("malformed Hawk header")
    missing = [name for name in ("id", "ts", "nonce", "mac") if not parsed.get(name)]
    if missing:
        raise NeedsCredentials(f"malformed Hawk header: missing {', '.join(missing)}")
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
        raise NeedsCredentials(f"Hawk nonce is longer than {MAX_NONCE_LENGTH} characters")
    return HawkNonce(client_id or parsed["id"], int(parsed["ts"]), parsed["nonce"])


class Authenticator:
    def __init__(
        self,
        clients: ClientsFile,
        anonymous_scopes: tuple[str, ...],
        skew_seconds: int = 60,
        public_url: str | None = None,
    ) -> None:
        self.clients = clients
        self.anonymous = Identity(None, anonymous_scopes)
        self.skew_seconds = skew_seconds
        # The scheme clients used when the Host header names no port (behind a balancer, the
        # public URL's, not the one this process is reached with).
        self.default_scheme = urlsplit(public_url).scheme if public_url else None
        self._seen_nonces: TTLCache[tuple[str, str, str], int] = TTLCache(
            maxsize=NONCE_CACHE_BYTES, ttl=2 * skew_seconds + 1, getsizeof=lambda size: size
        )
        self.replay_guard: ReplayGuard | None = None
        self.remote: RemoteHawkVerifier | None = None  # Hawk verified by the Taskcluster auth service
        self.failures = 0

    async def identify(self, header: str | None, hawk_request: Callable[[str], Awaitable[HawkRequest]]) -> Identity:
        """The identity of a request's Authorization `header`; `hawk_request` gives the parts of
        the request a Hawk MAC covers (asked only for a Hawk header)."""
        if header is None:
            return self.anonymous
        try:
            return await self._identify(header, hawk_request)
        except NeedsCredentials:
            self.failures += 1
            raise

    async def _identify(self, header: str, hawk_request: Callable[[str], Awaitable[HawkRequest]]) -> Identity:
        scheme, _, credentials = header.strip().partition(" ")
        if scheme.lower() == "bearer":
            token = self.clients.bearer(credentials.strip())
            if token is None:
                raise NeedsCredentials("unknown Bearer token")
            return Identity(f"bearer:{token.name}", token.scopes)
        if scheme.lower() != "hawk":
            raise NeedsCredentials("unsupported Authorization scheme; use Hawk or Bearer")
        hawk = await hawk_request(header)
        if self.remote is not None:
            return await self._verify_remotely(self.remote, hawk)
        return self._verify_locally(hawk)

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
            raise NeedsCredentials("Hawk nonce was already used (replayed request)")

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
                raise NeedsCredentials("unknown Hawk client id")
            token, scopes = client.access_token, client.scopes

        try:
            self._check_hawk(parsed, header_id, token, hawk)
        except ValueError:
            raise NeedsCredentials("malformed Hawk request") from None
        return Identity(header_id, _restrict_to_authorized(scopes, ext), _nonce_of(parsed))

    def _check_hawk(self, parsed: dict[str, str], client_id: str, token: str, hawk: HawkRequest) -> None:
        """What mohawk.Receiver checks (MAC, payload hash, timestamp, nonce; the timestamp before the
        nonce, unlike mohawk, so that nothing is remembered of stale requests), without its cost:
        it formats debug messages (pprint included) whether or not they are logged, and parses
        the header a second time. Raises ValueError for values that cannot be used."""
        if not hmac.compare_digest(_hawk_mac(parsed, token, hawk), parsed["mac"].encode()):
            raise NeedsCredentials("Hawk MAC does not match")
        if "hash" in parsed or hawk.content or hawk.content_type:
            ours = mohawk.util.calculate_payload_hash(hawk.content, "sha256", hawk.content_type)
            if not hmac.compare_digest(ours, parsed.get("hash", "").encode()):
                raise NeedsCredentials("Hawk payload hash does not match the body")
        # The timestamp before the nonce: nothing is remembered of a request outside the window.
        if abs(int(parsed["ts"]) - int(time.time())) > self.skew_seconds:
            raise NeedsCredentials("Hawk timestamp is outside the allowed clock skew")
        if len(parsed["nonce"]) > MAX_NONCE_LENGTH:
            raise NeedsCredentials(f"Hawk nonce is longer than {MAX_NONCE_LENGTH} characters")
        if self._seen_nonce(client_id, parsed["nonce"], parsed["ts"]):
            raise NeedsCredentials("Hawk nonce was already used (replayed request)")

    async def _verify_remotely(self, remote: RemoteHawkVerifier, hawk: HawkRequest) -> Identity:
        parsed = parse_hawk_header(hawk.header)  # refuse garbage here rather than spend a call on it
        payload = {
            "method": hawk.method.lower(),
            "resource": hawk.resource,
            "host": hawk.host,
            "port": hawk.port,
            "authorization": hawk.header,
        }
        result = await remote.authenticate_hawk(payload)
        status = result.get("status")
        if status != "auth-success":
            message = result.get("message") if status == "auth-failed" else "credentials were not accepted"
            raise NeedsCredentials(str(message or "credentials were not accepted")[:500])
        their_hash = result.get("hash")
        if hawk.content or their_hash:
            ours = mohawk.util.calculate_payload_hash(hawk.content, "sha256", hawk.content_type).decode()
            if not their_hash or not hmac.compare_digest(ours, str(their_hash)):
                raise NeedsCredentials("Hawk payload hash does not match the body")
        scopes = result.get("scopes", [])
        if not isinstance(scopes, list):
            raise AuthServiceUnavailable("malformed answer")
        identity = Identity(str(result.get("clientId")), tuple(str(s) for s in scopes))
        try:
            # The auth service checked the timestamp; the nonce is ours to guard.
            return replace(identity, hawk_nonce=_nonce_of(parsed, identity.client_id))
        except ValueError:
            raise NeedsCredentials("malformed Hawk request") from None

    async def ping(self) -> None:
        """Raise AuthServiceUnavailable unless the configured auth service answers."""
        if self.remote is not None:
            await self.remote.ping()
