"""The scope strings of a deployment (proxy/scopes.py), as PROTOCOL.md §5 spells them."""

from manifests import Visibility
from proxy.auth import Identity
from proxy.scopes import Scopes

SCOPES = Scopes("project:releng:services/tooltool/api")


def test_scope_strings_follow_the_prefix() -> None:
    assert SCOPES.download(Visibility.PUBLIC) == "project:releng:services/tooltool/api/download/public"
    assert SCOPES.upload(Visibility.INTERNAL) == "project:releng:services/tooltool/api/upload/internal"
    assert SCOPES.manage == "project:releng:services/tooltool/api/manage"


def test_all_lists_every_action_once() -> None:
    expected = [SCOPES.download(v) for v in Visibility] + [SCOPES.upload(v) for v in Visibility] + [SCOPES.manage]
    assert sorted(SCOPES.all) == sorted(expected)
    assert len(set(SCOPES.all)) == len(SCOPES.all)


def test_everything_matches_every_scope_and_nothing_of_another_prefix() -> None:
    holder = Identity("admin", (SCOPES.everything,))
    assert all(holder.has_scope(scope) for scope in SCOPES.all)
    assert not holder.has_scope(Scopes("other/prefix").manage)
