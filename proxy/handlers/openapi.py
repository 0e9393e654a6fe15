"""GET /openapi.json: the OpenAPI 3.1 document of this API, shipped in the package."""

from functools import cache
from importlib.resources import files

from aiohttp import web

DOCUMENT = "openapi.json"  # proxy/openapi.json, listed in setup.py package_data


@cache
def openapi_document() -> bytes:
    """The document as shipped; tests/http/test_openapi.py keeps it true to the routes and answers."""
    return files("proxy").joinpath(DOCUMENT).read_bytes()


async def serve_openapi(request: web.Request) -> web.Response:
    return web.Response(body=openapi_document(), content_type="application/json")
