"""schemathesis against the live proxy (issue 5 §2): for every operation of proxy/openapi.json,
a bounded, derandomized run of generated requests, valid (positive) and invalid (negative), finds
no 5xx and no answer the document does not declare (status, content type, headers, body).

Generated digests are almost never stored, so each operation with a digest (or batch id) is also
exercised on real ones: a public, an internal, a deleted and a pending file, and for the PUT
endpoint a real upload grant whose body is generated. Each request goes out anonymously (or with
the Authorization header schemathesis generated), signed with Hawk as tooltool.py signs (admin or
uploader), with the CI Bearer token, or with made-up credentials.
"""

import asyncio
import hashlib
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core.errors import InvalidSchema
from schemathesis.core.result import Err, Ok
from schemathesis.schemas import APIOperation

from proxy.handlers.openapi import openapi_document
from tests.support.credentials import ADMIN, BEARER_TOKEN, PUBLIC_UPLOADER, UPLOADER, Creds
from tests.support.hawk import tooltool_header
from tests.support.proxies import Proxy, ProxyFactory

MAX_EXAMPLES = 25  # per operation and generation mode (25 runs): at most 625 requests
SCHEMA = schemathesis.openapi.from_dict(json.loads(openapi_document()))


def loaded(result: Ok[APIOperation] | Err[InvalidSchema]) -> APIOperation:
    """An operation of the document; a part schemathesis cannot load fails the module, never skipped."""
    if isinstance(result, Err):
        raise result.err()
    return result.ok()


OPERATIONS = [loaded(result) for result in SCHEMA.get_all_operations()]
CHECKS = [
    getattr(schemathesis.checks, name)
    for name in (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
    )
]


class HawkAuth(requests.auth.AuthBase):
    """Sign the request as sent (path, query and body) the way tooltool.py does."""

    def __init__(self, creds: Creds) -> None:
        self.creds = creds

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body.encode() if isinstance(request.body, str) else request.body
        assert body is None or isinstance(body, bytes), "requests streams no body here"
        assert request.method is not None
        assert request.url is not None
        request.headers["Authorization"] = tooltool_header(
            self.creds.client_id, self.creds.access_token, request.method, request.url, body or None
        )
        return request


class HeaderAuth(requests.auth.AuthBase):
    """Send this Authorization header as it is."""

    def __init__(self, value: str) -> None:
        self.value = value

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = self.value
        return request


# Made-up credentials, to exercise the 401 paths: a Hawk header of arbitrary attributes (known
# client ids, garbage values) or an arbitrary scheme and text.
HAWK_ATTRIBUTE = st.tuples(
    st.sampled_from(["id", "ts", "nonce", "mac", "hash", "ext", "app"]),
    st.one_of(st.sampled_from(["admin", "uploader", ""]), st.from_regex(r"[ !#-~]{0,40}", fullmatch=True)),
)
MADE_UP_AUTHORIZATION = st.one_of(
    st.lists(HAWK_ATTRIBUTE, max_size=7).map(lambda attrs: "Hawk " + ", ".join(f'{k}="{v}"' for k, v in attrs)),
    st.from_regex(r"(Hawk|Bearer|Basic|hawk) [!-~][ -~]{0,80}", fullmatch=True),
)
# None: whatever schemathesis generated (no Authorization header, or a made-up one).
CALLERS = st.one_of(
    st.sampled_from([None, HawkAuth(ADMIN), HawkAuth(UPLOADER), HeaderAuth(f"Bearer {BEARER_TOKEN}")]),
    st.builds(HeaderAuth, MADE_UP_AUTHORIZATION),
)


async def seed(proxy: Proxy) -> dict[str, Any]:
    """Real things for generated requests to hit: stored files, a pending upload and its grant."""
    public = await proxy.upload(PUBLIC_UPLOADER, "public.bin", b"public bytes for schemathesis\n" * 64)
    internal = await proxy.upload(UPLOADER, "internal.bin", b"internal bytes for schemathesis\n" * 64, "internal")
    gone = await proxy.upload(UPLOADER, "gone.bin", b"bytes deleted before schemathesis runs\n" * 64)
    deleted = await proxy.request("PATCH", f"/file/sha512/{gone}", ADMIN, b'[{"op": "delete_instances"}]')
    assert deleted.status == 200
    pending_data = b"bytes announced, never sent\n" * 64
    batch = await proxy.upload_batch(UPLOADER, {"pending.bin": pending_data})
    put_url = urlsplit(batch["files"]["pending.bin"]["put_url"])
    return {
        "digests": [public, internal, gone, hashlib.sha512(pending_data).hexdigest()],
        "batch_id": str(batch["id"]),
        "put_digest": put_url.path.rsplit("/", 1)[1],
        "put_query": dict(parse_qsl(put_url.query, keep_blank_values=True)),
    }


def strategy_for(operation: Any, mode: GenerationMode, seeds: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Generated cases, and for valid ones, cases on the seeded digest, batch id or PUT grant."""
    generated = operation.as_strategy(generation_mode=mode)
    if mode is not GenerationMode.POSITIVE:
        return generated
    path_parameters = {parameter.name for parameter in operation.path_parameters}
    seeded: list[st.SearchStrategy[Any]] = []
    if operation.method.upper() == "PUT":
        seeded.append(operation.as_strategy(path_parameters={"digest": seeds["put_digest"]}, query=seeds["put_query"]))
    elif "digest" in path_parameters:
        seeded += [operation.as_strategy(path_parameters={"digest": digest}) for digest in seeds["digests"]]
    elif "batch_id" in path_parameters:
        seeded.append(operation.as_strategy(path_parameters={"batch_id": seeds["batch_id"]}))
    return st.one_of(generated, *seeded)


def fuzz(base_url: str, operation: Any, mode: GenerationMode, seeds: dict[str, Any]) -> None:
    """Run the bounded, derandomized property test; raises on the first failing check."""
    session = requests.Session()

    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy_for(operation, mode, seeds), caller=CALLERS)
    def requests_answer_as_documented(case: Any, caller: Callable[..., Any] | None) -> None:
        response = case.call(base_url=base_url, session=session, auth=caller, timeout=10)
        case.validate_response(response, checks=CHECKS)

    try:
        requests_answer_as_documented()
    finally:
        session.close()


def takes_input(operation: Any) -> bool:
    """Whether a request to the operation can be made invalid (it has parameters or a body)."""
    return bool(operation.body) or any(True for _ in operation.iter_parameters())


RUNS = [(operation, GenerationMode.POSITIVE) for operation in OPERATIONS] + [
    (operation, GenerationMode.NEGATIVE) for operation in OPERATIONS if takes_input(operation)
]


@pytest.mark.parametrize(("operation", "mode"), RUNS, ids=lambda value: getattr(value, "label", None) or value.value)
@pytest.mark.parametrize("store_kind", ["local"])
async def test_generated_requests_get_documented_answers_and_no_5xx(
    make_proxy: ProxyFactory, operation: Any, mode: GenerationMode
) -> None:
    proxy = await make_proxy()
    seeds = await seed(proxy)
    # schemathesis calls are blocking: they run in a thread while the proxy answers on this loop.
    await asyncio.to_thread(fuzz, proxy.url, operation, mode, seeds)
