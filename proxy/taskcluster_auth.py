"""The outbound client of the Taskcluster auth service (TOOLTOOL_TASKCLUSTER_ROOT_URL), which
verifies Hawk requests for proxy/auth.py's Authenticator when it is configured."""

from typing import Any

import aiohttp
import taskcluster.aio
import taskcluster.exceptions

from proxy.outcomes import AuthServiceUnavailable

_UNREACHABLE = (taskcluster.exceptions.TaskclusterFailure, aiohttp.ClientError, TimeoutError)


class TaskclusterAuth:
    def __init__(self, root_url: str, session: aiohttp.ClientSession) -> None:
        self._auth = taskcluster.aio.Auth({"rootUrl": root_url, "maxRetries": 2}, session=session)

    async def authenticate_hawk(self, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            result = await self._auth.authenticateHawk(payload)
        except _UNREACHABLE as exc:
            raise AuthServiceUnavailable(type(exc).__name__) from exc
        if not isinstance(result, dict):
            raise AuthServiceUnavailable("malformed answer")
        return result

    async def ping(self) -> None:
        try:
            await self._auth.ping()
        except _UNREACHABLE as exc:
            raise AuthServiceUnavailable(type(exc).__name__) from exc
