"""A counting HTTP pass-through in front of the object store: how many requests reach it.

    python -m benchmarks.counter --port P --upstream http://127.0.0.1:MOTO

Every request is forwarded as it came (moto does not check the SigV4 host) and counted by
method; GET /__counts__ answers the counts so far as JSON.
"""

import argparse
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}
COUNTS = web.AppKey("counts", dict[str, int])
UPSTREAM = web.AppKey("upstream", str)
SESSION = web.AppKey("session", aiohttp.ClientSession)


async def forward(request: web.Request) -> web.Response:
    counts = request.app[COUNTS]
    counts[request.method] = counts.get(request.method, 0) + 1
    headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
    async with request.app[SESSION].request(
        request.method,
        request.app[UPSTREAM] + request.raw_path,
        headers=headers,
        data=await request.read(),
        allow_redirects=False,
    ) as upstream:
        body = await upstream.read()
        reply_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP}
        return web.Response(status=upstream.status, headers=reply_headers, body=body)


async def counts(request: web.Request) -> web.Response:
    counted: dict[str, int] = request.app[COUNTS]
    return web.json_response(counted)


def counting_app(upstream: str) -> web.Application:
    app = web.Application(client_max_size=1024**3)
    app[COUNTS] = {}
    app[UPSTREAM] = upstream.rstrip("/")

    async def session(app: web.Application) -> AsyncIterator[None]:
        async with aiohttp.ClientSession(auto_decompress=False) as client:
            app[SESSION] = client
            yield

    app.cleanup_ctx.append(session)
    app.router.add_get("/__counts__", counts)
    app.router.add_route("*", "/{tail:.*}", forward)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    args = parser.parse_args()
    web.run_app(counting_app(args.upstream), host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
