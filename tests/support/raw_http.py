"""A PUT over a socket of its own, sending its body only when told: what a slow or stalled
client does to the proxy's PUT endpoint, which aiohttp's client cannot hold half-sent."""

import asyncio

import aiohttp
import yarl


class RawPut:
    """A PUT as tooltool.py sends it (Content-Type and Content-Length only, no Authorization)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, rest: bytes) -> None:
        self.reader, self.writer = reader, writer
        self.rest = rest  # the part of the body not sent yet

    @classmethod
    async def start(cls, put_url: str, data: bytes, sent: int) -> "RawPut":
        """Send the headers for all of `data` and its first `sent` bytes."""
        url = yarl.URL(put_url, encoded=True)
        assert url.host is not None
        assert url.port is not None
        reader, writer = await asyncio.open_connection(url.host, url.port)
        head = (
            f"PUT {url.raw_path_qs} HTTP/1.1\r\nHost: {url.host}:{url.port}\r\nConnection: close\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {len(data)}\r\n\r\n"
        )
        writer.write(head.encode() + data[:sent])
        await writer.drain()
        return cls(reader, writer, data[sent:])

    async def finish(self) -> tuple[int, dict[str, str], bytes]:
        """Send the rest of the body; the answer (a 408 if the proxy gave up waiting first)."""
        try:
            self.writer.write(self.rest)
            await self.writer.drain()
        except ConnectionError:
            pass  # the proxy answered and closed the connection already
        return await self.answer()

    async def answer(self) -> tuple[int, dict[str, str], bytes]:
        """Status, headers (names in lower case) and body. Read by Content-Length, not to the end
        of the stream: after refusing a body, aiohttp keeps reading what is left of it for up to
        10 s (its lingering close) before it closes the connection."""
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 30)
        status_line, *lines = head.decode().removesuffix("\r\n\r\n").split("\r\n")
        headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
        body = await asyncio.wait_for(self.reader.readexactly(int(headers.get("content-length", "0"))), 30)
        await self.close()
        return int(status_line.split()[1]), headers, body

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


async def hold_put(session: aiohttp.ClientSession, put_url: str, data: bytes) -> RawPut:
    """A PUT of half of `data`, returned once the proxy is receiving it: when it refuses another
    PUT to the same URL (it reads the held PUT's headers a moment after they were sent).
    `finish()` it rather than hang up: a test server cancels the handler of a connection that
    goes away, wherever it is."""
    held = await RawPut.start(put_url, data, len(data) // 2)
    for _ in range(100):
        async with session.put(put_url, data=data, headers={"Content-Type": "application/octet-stream"}) as probe:
            if probe.status == 409:
                return held
        await asyncio.sleep(0.05)
    await held.close()
    raise AssertionError("the proxy never refused a second PUT to the URL")
