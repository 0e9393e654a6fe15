"""Scope matching (proxy/auth.py's Identity): Taskcluster's `*` suffix rule over the download, upload and
manage scopes the proxy requires. The table is tests/support/data/scope_rule.json; a property checks the
rule against its three-line statement on generated scopes."""

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.auth import Identity
from tests.support.credentials import P
from tests.support.tables import expand, load_table

ROWS = load_table("scope_rule.json")["rows"]


def grants(held: tuple[str, ...], required: str) -> bool:
    """The rule as Taskcluster states it."""
    return any(scope == required or (scope.endswith("*") and required.startswith(scope[:-1])) for scope in held)


@pytest.mark.parametrize("row", ROWS, ids=[f"{'|'.join(r[0]) or 'nothing'} -> {r[1]}" for r in ROWS])
def test_has_scope_follows_the_star_rule(row: list[Any]) -> None:
    held = tuple(expand(scope, {"P": P}) for scope in row[0])
    required = expand(row[1], {"P": P})
    assert Identity("someone", held).has_scope(required) is row[2]
    assert grants(held, required) is row[2]  # the table and the rule's statement agree


# Scopes made of a few parts, so that prefixes, stars and near misses are common.
PARTS = st.sampled_from(["download", "upload", "manage", "public", "internal", "x"])
SCOPES = st.lists(PARTS, min_size=0, max_size=3).map(lambda parts: "/".join([P, *parts]))
HELD = st.lists(
    st.one_of(SCOPES, SCOPES.map(lambda scope: scope + "*"), SCOPES.map(lambda scope: scope[:-2] + "*")), max_size=4
)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(held=HELD, required=SCOPES)
def test_has_scope_is_the_star_rule_on_generated_scopes(held: list[str], required: str) -> None:
    assert Identity("someone", tuple(held)).has_scope(required) is grants(tuple(held), required)


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(held=HELD, required=st.lists(SCOPES, max_size=3))
def test_has_all_needs_every_scope(held: list[str], required: list[str]) -> None:
    identity = Identity("someone", tuple(held))
    assert identity.has_all(required) is all(grants(tuple(held), scope) for scope in required)


def test_identity_has_all_needs_every_scope() -> None:
    identity = Identity("someone", (f"{P}/upload/public", f"{P}/download/*"))
    assert identity.has_all([f"{P}/upload/public", f"{P}/download/internal"])
    assert not identity.has_all([f"{P}/upload/public", f"{P}/upload/internal"])


def test_identity_without_client_id_is_anonymous() -> None:
    assert Identity(None, ()).anonymous
    assert not Identity("admin", ()).anonymous
