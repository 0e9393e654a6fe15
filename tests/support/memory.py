"""Keep the test process's heap small, so the cyclic garbage collector never stalls a test.

A stall matters here: a store call cut off after 5 s answers 503, and a full collection of a
heap of millions of objects took 5 to 8 s on this machine. Two things made the heap grow:

- aiohttp keeps the middleware chain it builds for each (handler, apps) pair in a
  process-wide `functools.lru_cache` of 1024 entries (`aiohttp.web_app._cached_build_middleware`).
  A server has one app for its life, so that is harmless there; the test process creates an
  app per test, and the cache kept the last thousand of them alive, each with its botocore
  client, caches and model (about six million objects).
- What lives for the whole run (imported modules, collected test items, corpora) was scanned
  again by every full collection.
"""

import gc

import aiohttp.web_app

_MIDDLEWARE_CACHE = aiohttp.web_app._cached_build_middleware


def release_closed_apps() -> None:
    """Drop aiohttp's cached middleware chains, which hold every app they were built for."""
    _MIDDLEWARE_CACHE.cache_clear()


def freeze_what_lives_for_the_run() -> None:
    """Move every object alive now out of the collector's reach (gc.freeze): full collections
    then scan only what the tests create."""
    gc.collect()
    gc.freeze()
