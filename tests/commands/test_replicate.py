"""`tooltool-proxy replicate` (proxy/commands/replicate.py): each file copied to the regions that miss it."""

from proxy.keys import artifact_key
from tests.support.admin import Admin, assert_usage_error
from tests.support.capabilities import keeping_tags


async def test_replicate_copies_each_file_where_it_is_missing(regional: Admin) -> None:
    east_only = await regional.seed(b"east only\n", regions=["east"])
    west_only = await regional.seed(b"west only\n", "internal", regions=["west"])
    everywhere = await regional.seed(b"everywhere\n", regions=["east", "west"])
    ran = await regional("replicate")
    assert ran.status == 0, ran
    assert "copied 2 (20 B), 0 failures" in ran.out
    for digest, data in ((east_only, b"east only\n"), (west_only, b"west only\n"), (everywhere, b"everywhere\n")):
        for region in ("east", "west"):
            assert await regional.stores.regions[region].read(artifact_key(digest)) == data
        entry = await regional.entry(digest)
        assert entry is not None
        assert entry.instances == ("east", "west")
    assert await regional.keys("uploads/", "east") == await regional.keys("uploads/", "west") == []

    before = await regional.snapshot()
    again = await regional("replicate")
    assert again.status == 0
    assert "copied 0 (0 B)" in again.out
    assert await regional.snapshot() == before


async def test_replicate_to_one_region_only(regional: Admin) -> None:
    digest = await regional.seed(b"west bound\n", regions=["east"])
    ran = await regional("replicate", "--region", "east")
    assert ran.status == 0
    assert await regional.stores.regions["west"].head(artifact_key(digest)) is None
    assert (await regional("replicate", "--region", "west")).status == 0
    assert await regional.stores.regions["west"].read(artifact_key(digest)) == b"west bound\n"


async def test_replicate_dry_run_changes_nothing(regional: Admin) -> None:
    digest = await regional.seed(b"stay east\n", regions=["east"])
    before = await regional.snapshot()
    ran = await regional("replicate", "--dry-run")
    assert ran.status == 0
    assert f"would copy {artifact_key(digest)} from east to west" in ran.out
    assert await regional.snapshot() == before


async def test_replicate_refuses_bytes_that_do_not_hash_to_their_name(regional: Admin) -> None:
    digest = await regional.seed(b"original\n", regions=["east"])
    await regional.stores.regions["east"].write(artifact_key(digest), b"tampered\n")
    ran = await regional("replicate")
    assert ran.status == 1
    assert "do not hash to their name; not copied to west" in ran.out
    assert await regional.keys("", "west") == []  # not even a private copy stays behind
    entry = await regional.entry(digest)
    assert entry is not None
    assert entry.instances == ("east",)


async def test_replicate_with_one_region_has_nothing_to_do(admin: Admin) -> None:
    await admin.seed(b"alone\n")
    ran = await admin("replicate")
    assert ran.status == 0
    assert "only one region is configured" in ran.out


async def test_replicate_to_an_unknown_region_exits_2(regional: Admin) -> None:
    assert_usage_error(await regional("replicate", "--region", "mars"), "use one of: east, west")


async def test_in_tags_mode_replicate_copies_the_visibility_tag(tagged: Admin) -> None:
    digest = await tagged.seed(b"tagged\n", "internal", regions=["east"])
    await keeping_tags(tagged.stores.regions["east"]).put_tags(artifact_key(digest), {"visibility": "public"})
    ran = await tagged("replicate")
    assert ran.status == 0, ran
    assert await keeping_tags(tagged.stores.regions["west"]).get_tags(artifact_key(digest)) == {"visibility": "public"}
