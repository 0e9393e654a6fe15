"""The reference server: a trivial aiohttp handler answering a recorded response.

    python -m benchmarks.reference --port P --response answer.json

`answer.json` holds {"status", "headers", "body"} as the proxy sent them, so the reference
answers exactly the proxy's 302 (same Location, headers and body) with no work behind it: no
middleware, no logging, no lookup.
"""

import argparse
import json
from pathlib import Path

from aiohttp import web


def recorded_answer(path: Path) -> web.Application:
    answer = json.loads(path.read_text())
    status, headers, body = int(answer["status"]), dict(answer["headers"]), answer["body"].encode()

    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=status, headers=headers, body=body)

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--response", type=Path, required=True, help="JSON file with status, headers and body")
    args = parser.parse_args()
    web.run_app(recorded_answer(args.response), host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
