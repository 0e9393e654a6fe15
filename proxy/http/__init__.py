"""The HTTP edge besides the handlers: app keys and the request adapter, the error table and
middleware, CORS and the request log. Only the edge (this package, proxy/handlers/, proxy/app.py)
and the outbound clients import aiohttp (tests/unit/test_layering.py)."""
