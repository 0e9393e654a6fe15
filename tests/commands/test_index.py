"""`tooltool-proxy index show|set-visibility|delete|lint` (proxy/commands/index_cmds.py) on both stores."""

import hashlib
import json

from manifests import IndexEntry, Visibility
from proxy.keys import artifact_key, index_key
from tests.support.admin import Admin, assert_usage_error
from tests.support.capabilities import keeping_tags


async def test_index_show_prints_the_index_object_as_stored(admin: Admin) -> None:
    digest = await admin.seed(b"shown\n")
    ran = await admin("index", "show", digest)
    assert ran.status == 0
    assert ran.out.encode() == await admin.stores.home.read(index_key(digest))
    assert ran.err == ""


async def test_index_show_notes_that_bytes_without_index_object_are_internal(admin: Admin) -> None:
    digest = await admin.seed(b"no index\n", indexed=False)
    ran = await admin("index", "show", digest)
    assert ran.status == 0
    shown = json.loads(ran.out)
    assert (shown["digest"], shown["visibility"], shown["size"]) == (digest, "internal", len(b"no index\n"))
    assert "note: index/sha512/" in ran.err
    assert "does not exist; the bytes are served as internal" in ran.err


async def test_index_show_notes_an_invalid_index_object(admin: Admin) -> None:
    digest = await admin.seed(b"bad index\n")
    await admin.stores.home.write(index_key(digest), b'{"digest": "%s", "size": -1}' % digest.encode())
    ran = await admin("index", "show", digest)
    assert ran.status == 0
    assert '"size": -1' in ran.out
    assert "is invalid (index entry: 'size' is out of range); the file is served as internal" in ran.err


async def test_index_show_of_an_unknown_file_exits_1(admin: Admin) -> None:
    ran = await admin("index", "show", "0" * 128)
    assert ran.status == 1
    assert "no such file" in ran.err


async def test_index_commands_refuse_a_malformed_digest_with_exit_2(admin: Admin) -> None:
    for args in (["show"], ["set-visibility", "--dry-run"], ["delete", "--dry-run"]):
        extra = ["public"] if args[0] == "set-visibility" else []
        ran = await admin("index", args[0], "ABC", *extra, *args[1:])
        assert_usage_error(ran, "'ABC' is not a sha512 digest")


async def test_set_visibility_rewrites_the_entry_and_journals_it(admin: Admin) -> None:
    digest = await admin.seed(b"to hide\n", "public")
    ran = await admin("index", "set-visibility", digest, "internal")
    assert ran.status == 0, ran
    entry = await admin.entry(digest)
    assert entry is not None
    assert entry.visibility == Visibility.INTERNAL
    assert entry.filenames == ("f.bin",)  # the rest of the entry is kept
    [record] = await admin.journal()
    assert record["kind"] == "file"
    assert (record["doc"]["digest"], record["doc"]["visibility"]) == (digest, "internal")


async def test_set_visibility_creates_the_index_object_for_bytes_without_one(admin: Admin) -> None:
    digest = await admin.seed(b"unindexed\n", indexed=False)
    ran = await admin("index", "set-visibility", digest, "public")
    assert ran.status == 0, ran
    assert "creating its index object" in ran.out
    entry = await admin.entry(digest)
    assert entry is not None
    assert (entry.visibility, entry.size, entry.instances) == (Visibility.PUBLIC, 10, (admin.stores.default_region,))


async def test_set_visibility_dry_run_changes_nothing(admin: Admin) -> None:
    digest = await admin.seed(b"stay public\n", "public")
    before = await admin.snapshot()
    ran = await admin("index", "set-visibility", digest, "internal", "--dry-run")
    assert ran.status == 0
    assert "would set visibility" in ran.out
    assert await admin.snapshot() == before


async def test_set_visibility_to_the_same_value_writes_nothing(admin: Admin) -> None:
    digest = await admin.seed(b"already\n", "internal")
    before = await admin.snapshot()
    ran = await admin("index", "set-visibility", digest, "internal")
    assert ran.status == 0
    assert "already internal" in ran.out
    assert await admin.snapshot() == before


async def test_set_visibility_of_an_unknown_file_exits_1(admin: Admin) -> None:
    ran = await admin("index", "set-visibility", "1" * 128, "public")
    assert ran.status == 1
    assert await admin.keys("index/") == []


async def test_in_tags_mode_set_visibility_rewrites_the_tag_everywhere(tagged: Admin) -> None:
    digest = await tagged.seed(b"tagged\n", "public", regions=["east", "west"])
    for region in ("east", "west"):
        await keeping_tags(tagged.stores.regions[region]).put_tags(
            artifact_key(digest), {"visibility": "public", "team": "a"}
        )
    ran = await tagged("index", "set-visibility", digest, "internal")
    assert ran.status == 0, ran
    for region in ("east", "west"):
        tags = await keeping_tags(tagged.stores.regions[region]).get_tags(artifact_key(digest))
        assert tags == {"visibility": "internal", "team": "a"}


async def test_index_delete_removes_the_bytes_in_every_region_and_the_index_object(regional: Admin) -> None:
    digest = await regional.seed(b"doomed\n", regions=["east", "west"])
    ran = await regional("index", "delete", digest)
    assert ran.status == 0, ran
    for region in ("east", "west"):
        assert await regional.stores.regions[region].head(artifact_key(digest)) is None
    assert await regional.stores.home.read(index_key(digest)) is None
    [record] = await regional.journal()
    assert record["kind"] == "file"
    assert (record["doc"]["digest"], record["doc"]["instances"]) == (digest, [])
    assert IndexEntry.from_json(json.dumps(record["doc"]).encode(), digest).instances == ()


async def test_index_delete_dry_run_changes_nothing(regional: Admin) -> None:
    digest = await regional.seed(b"kept\n", regions=["east", "west"])
    before = await regional.snapshot()
    ran = await regional("index", "delete", digest, "--dry-run")
    assert ran.status == 0
    assert ran.out.count("would delete") == 3  # two regions' bytes and the index object
    assert await regional.snapshot() == before


async def test_index_delete_of_an_unknown_file_exits_1(admin: Admin) -> None:
    ran = await admin("index", "delete", "2" * 128)
    assert ran.status == 1
    assert await admin.journal() == []


async def test_index_lint_of_a_consistent_store_exits_0(admin: Admin) -> None:
    await admin.seed(b"one\n")
    await admin.seed(b"two\n", "internal")
    ran = await admin("index", "lint")
    assert ran.status == 0, ran
    assert "2 index objects, 2 stored files, 0 problems" in ran.out


async def test_index_lint_reports_every_kind_of_problem(admin: Admin) -> None:
    fine = await admin.seed(b"fine\n")
    not_json = await admin.seed(b"not json\n")
    await admin.stores.home.write(index_key(not_json), b"{oops")
    wrong_digest = await admin.seed(b"wrong digest\n")
    await admin.stores.home.write(index_key(wrong_digest), (await admin.stores.home.read(index_key(fine))) or b"")
    no_bytes = hashlib.sha512(b"no bytes\n").hexdigest()
    entry = IndexEntry(no_bytes, 9, Visibility.PUBLIC, instances=(admin.stores.default_region,))
    await admin.stores.home.write(index_key(no_bytes), entry.to_json())
    unindexed = await admin.seed(b"unindexed\n", indexed=False)
    await admin.stores.home.write("index/sha512/not-a-digest.json", b"{}")

    ran = await admin("index", "lint")
    assert ran.status == 1
    problems = dict(line.split(": ", 1) for line in ran.out.splitlines()[:-1])
    assert problems[index_key(not_json)].startswith("invalid (not valid JSON")
    assert problems[index_key(wrong_digest)] == (
        "invalid (index entry: 'digest' does not match the object's key); the file is served as internal"
    )
    assert problems[index_key(no_bytes)].endswith("but no region holds its bytes")
    assert problems[artifact_key(unindexed)].endswith("have no index object; served as internal")
    assert problems["index/sha512/not-a-digest.json"].startswith("not an index object name")
    assert index_key(fine) not in problems
    assert ran.out.splitlines()[-1].endswith("5 problems")
