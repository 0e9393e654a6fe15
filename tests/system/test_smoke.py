import hashlib

from tests.support.credentials import ADMIN
from tests.support.proxies import Proxy


async def test_upload_then_download(proxy: Proxy) -> None:
    data = b"hello tooltool"
    digest = await proxy.upload(ADMIN, "hello.txt", data)
    assert digest == hashlib.sha512(data).hexdigest()
    response = await proxy.request("GET", f"/sha512/{digest}")
    assert response.status in (200, 302), await response.text()
