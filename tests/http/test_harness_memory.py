"""The test process frees every app a test started (tests/support/memory.py): otherwise
aiohttp's process-wide middleware cache keeps a thousand of them alive, and full garbage
collections of that heap stall later tests for seconds (a store call cut off at 5 s is a 503)."""

import gc
import weakref
from pathlib import Path

from tests.support.credentials import write_clients_file
from tests.support.memory import release_closed_apps
from tests.support.proxies import ProxyPool, store_env_for


async def test_an_app_that_answered_requests_is_freed_once_its_proxy_closes(tmp_path: Path) -> None:
    pool = ProxyPool(
        {**store_env_for("local", tmp_path / "data"), "TOOLTOOL_CLIENTS_FILE": str(write_clients_file(tmp_path / "c"))}
    )
    proxy = await pool.start()
    assert (await proxy.request("GET", "/__lbheartbeat__")).status == 200
    assert (await proxy.request("GET", "/sha512/" + "0" * 128)).status == 404
    app = weakref.ref(proxy.app)
    await pool.close()
    del proxy, pool

    release_closed_apps()
    gc.collect()

    assert app() is None, [type(r).__name__ for r in gc.get_referrers(app())]


def test_the_run_starts_with_what_it_collected_frozen() -> None:
    # pytest_collection_finish froze the collected baseline: full collections skip it.
    assert gc.get_freeze_count() > 10_000
