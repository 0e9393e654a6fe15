"""S3 (or any S3-compatible endpoint) through aiobotocore, path-style addressing."""

import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, ParamValidationError

from proxy.storage.base import (
    CHUNK_SIZE,
    ByteStream,
    LengthMismatch,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    PreconditionFailed,
    StoreUnavailable,
    Versioned,
)
from proxy.storage.capabilities import ConditionalWrites, KeepsTags, SignsURLs

# botocore's debug logs print canonical requests, signatures and presigned URLs; keep them out.
for _noisy in ("botocore", "aiobotocore"):
    logging.getLogger(_noisy).setLevel(logging.WARNING)

MULTIPART_PART_SIZE = 16 * 1024 * 1024
MAX_SINGLE_COPY = 5 * 1024**3  # S3's limit for one CopyObject
COPY_PART_SIZE = 1024**3
_NOT_FOUND_CODES = {"404", "NoSuchKey", "NotFound"}
# 409 ConditionalRequestConflict: another conditional write to the key is in flight.
_PRECONDITION_CODES = {"412", "PreconditionFailed", "ConditionalRequestConflict"}
# Answers worth retrying at once; any other 4xx (AccessDenied, NoSuchBucket…) is not.
_TRANSIENT_CODES = {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "RequestLimitExceeded"}


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


@contextlib.contextmanager
def _translate_errors(key: str) -> Any:
    """Map botocore/aiohttp failures onto the store's error types."""
    try:
        yield
    except ClientError as exc:
        code = _error_code(exc)
        if code in _NOT_FOUND_CODES:
            raise ObjectNotFound(key) from None
        if code in _PRECONDITION_CODES:
            raise PreconditionFailed(key) from None
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 500)
        transient = status >= 500 or code in _TRANSIENT_CODES
        raise StoreUnavailable(f"S3 answered {code or 'an error'}", transient=transient) from exc
    except (BotoCoreError, aiohttp.ClientError, TimeoutError, OSError) as exc:
        transient = not isinstance(exc, NoCredentialsError | ParamValidationError)
        raise StoreUnavailable(f"S3 is unreachable ({type(exc).__name__})", transient=transient) from exc


class S3Store(ObjectStore, SignsURLs, KeepsTags, ConditionalWrites):
    def __init__(self, client: Any, bucket: str, prefix: str, region: str) -> None:
        self._client = client
        self.bucket = bucket
        self.prefix = prefix
        self.region = region

    @classmethod
    async def connect(
        cls, bucket: str, prefix: str = "", region: str = "us-east-1", endpoint_url: str | None = None
    ) -> "S3Store":
        config = AioConfig(
            s3={"addressing_style": "path"},
            signature_version="s3v4",
            retries={"max_attempts": 2, "mode": "standard"},  # fail fast: clients retry on 503
            connect_timeout=5,
            read_timeout=60,
            max_pool_connections=64,
        )
        creator = get_session().create_client("s3", region_name=region, endpoint_url=endpoint_url, config=config)
        client = await creator.__aenter__()
        return cls(client, bucket, prefix, region)

    async def close(self) -> None:
        await self._client.__aexit__(None, None, None)

    def _key(self, key: str) -> str:
        return self.prefix + key

    async def head(self, key: str) -> ObjectInfo | None:
        try:
            with _translate_errors(key):
                response = await self._client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ObjectNotFound:
            return None
        return ObjectInfo(key=key, size=int(response["ContentLength"]), etag=str(response["ETag"]))

    async def read(self, key: str) -> bytes | None:
        found = await self.read_versioned(key)
        return None if found is None else found.data

    async def read_versioned(self, key: str) -> Versioned | None:
        try:
            with _translate_errors(key):
                response = await self._client.get_object(Bucket=self.bucket, Key=self._key(key))
                async with response["Body"] as body:
                    data: bytes = await body.read()
                    return Versioned(data, str(response["ETag"]))
        except ObjectNotFound:
            return None

    async def write(
        self,
        key: str,
        data: bytes,
        content_type: str = "application/json",
        *,
        if_match: str | None = None,
        if_absent: bool = False,
    ) -> str:
        condition: dict[str, str] = {}
        if if_match is not None:
            condition["IfMatch"] = if_match
        if if_absent:
            condition["IfNoneMatch"] = "*"
        try:
            with _translate_errors(key):
                response = await self._client.put_object(
                    Bucket=self.bucket, Key=self._key(key), Body=data, ContentType=content_type, **condition
                )
        except ObjectNotFound:
            # If-Match on a key deleted since it was read: the condition failed.
            raise PreconditionFailed(key) from None
        return str(response["ETag"])

    async def write_stream(self, key: str, chunks: AsyncIterator[bytes], size: int) -> ObjectInfo:
        if size <= MULTIPART_PART_SIZE:
            data = bytearray()
            async for chunk in chunks:
                data += chunk
                if len(data) > size:
                    raise LengthMismatch("more bytes than announced")
            if len(data) != size:
                raise LengthMismatch("fewer bytes than announced")
            await self.write(key, bytes(data), "application/octet-stream")
            info = await self.head(key)
            assert info is not None
            return info
        return await self._write_multipart(key, chunks, size)

    async def _write_multipart(self, key: str, chunks: AsyncIterator[bytes], size: int) -> ObjectInfo:
        with _translate_errors(key):
            upload = await self._client.create_multipart_upload(Bucket=self.bucket, Key=self._key(key))
        upload_id = upload["UploadId"]
        parts: list[dict[str, Any]] = []
        received = 0
        # At most one part in memory per PUT: a part is filled to exactly MULTIPART_PART_SIZE
        # and sent before more is read; the rest of the chunk starts the next one.
        buffer = bytearray()
        try:
            async for chunk in chunks:
                received += len(chunk)
                if received > size:
                    raise LengthMismatch("more bytes than announced")
                rest = memoryview(chunk)
                while len(buffer) + len(rest) >= MULTIPART_PART_SIZE:
                    room = MULTIPART_PART_SIZE - len(buffer)
                    buffer += rest[:room]
                    rest = rest[room:]
                    parts.append(await self._upload_part(key, upload_id, len(parts) + 1, bytes(buffer)))
                    buffer.clear()
                buffer += rest
            if received != size:
                raise LengthMismatch("fewer bytes than announced")
            if buffer or not parts:
                parts.append(await self._upload_part(key, upload_id, len(parts) + 1, bytes(buffer)))
            with _translate_errors(key):
                await self._client.complete_multipart_upload(
                    Bucket=self.bucket, Key=self._key(key), UploadId=upload_id, MultipartUpload={"Parts": parts}
                )
        except BaseException:
            with contextlib.suppress(Exception):
                await self._client.abort_multipart_upload(Bucket=self.bucket, Key=self._key(key), UploadId=upload_id)
            raise
        info = await self.head(key)
        assert info is not None
        return info

    async def _upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> dict[str, Any]:
        with _translate_errors(key):
            response = await self._client.upload_part(
                Bucket=self.bucket, Key=self._key(key), UploadId=upload_id, PartNumber=number, Body=data
            )
        return {"PartNumber": number, "ETag": response["ETag"]}

    async def open_range(self, key: str, start: int = 0, end: int | None = None) -> ByteStream:
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": self._key(key)}
        if start or end is not None:
            kwargs["Range"] = f"bytes={start}-{'' if end is None else end}"
        with _translate_errors(key):
            response = await self._client.get_object(**kwargs)
        return ByteStream(self._iterate_body(key, response["Body"]))

    async def _iterate_body(self, key: str, body: Any) -> AsyncGenerator[bytes, None]:
        try:
            with _translate_errors(key):
                async for chunk in body.iter_chunks(CHUNK_SIZE):
                    yield chunk
        finally:
            body.close()

    async def delete(self, key: str) -> None:
        with _translate_errors(key):
            await self._client.delete_object(Bucket=self.bucket, Key=self._key(key))

    async def list_keys(self, prefix: str, start_after: str | None = None) -> AsyncIterator[str]:
        paginator = self._client.get_paginator("list_objects_v2")
        after = {} if start_after is None else {"StartAfter": self._key(start_after)}
        with _translate_errors(prefix):
            async for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix), **after):
                for item in page.get("Contents", []):
                    yield str(item["Key"])[len(self.prefix) :]

    async def copy_if_unchanged(
        self, source: str, destination: str, etag: str, size: int, tags: dict[str, str] | None = None
    ) -> None:
        copy_source = {"Bucket": self.bucket, "Key": self._key(source)}
        # CopyObject would copy the source's tags (TaggingDirective=COPY), which an uploader
        # can set with an x-amz-tagging header on its signed PUT; a multipart copy never does.
        tagging = {"Tagging": urlencode(tags)} if tags else {}
        with _translate_errors(source):
            if size <= MAX_SINGLE_COPY:
                await self._client.copy_object(
                    Bucket=self.bucket,
                    Key=self._key(destination),
                    CopySource=copy_source,
                    CopySourceIfMatch=etag,
                    MetadataDirective="REPLACE",
                    ContentType="application/octet-stream",
                    TaggingDirective="REPLACE",
                    **tagging,
                )
                return
        await self._copy_multipart(copy_source, destination, etag, size, tagging)

    async def _copy_multipart(
        self, copy_source: dict[str, str], destination: str, etag: str, size: int, tagging: dict[str, str]
    ) -> None:
        with _translate_errors(destination):
            upload = await self._client.create_multipart_upload(
                Bucket=self.bucket, Key=self._key(destination), ContentType="application/octet-stream", **tagging
            )
        upload_id = upload["UploadId"]
        parts = []
        try:
            for number, first in enumerate(range(0, size, COPY_PART_SIZE), start=1):
                last = min(first + COPY_PART_SIZE, size) - 1
                with _translate_errors(copy_source["Key"]):
                    response = await self._client.upload_part_copy(
                        Bucket=self.bucket,
                        Key=self._key(destination),
                        UploadId=upload_id,
                        PartNumber=number,
                        CopySource=copy_source,
                        CopySourceIfMatch=etag,
                        CopySourceRange=f"bytes={first}-{last}",
                    )
                parts.append({"PartNumber": number, "ETag": response["CopyPartResult"]["ETag"]})
            with _translate_errors(destination):
                await self._client.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=self._key(destination),
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},
                )
        except BaseException:
            with contextlib.suppress(Exception):
                await self._client.abort_multipart_upload(
                    Bucket=self.bucket, Key=self._key(destination), UploadId=upload_id
                )
            raise

    async def get_tags(self, key: str) -> dict[str, str] | None:
        try:
            with _translate_errors(key):
                response = await self._client.get_object_tagging(Bucket=self.bucket, Key=self._key(key))
        except ObjectNotFound:
            return None
        return {str(tag["Key"]): str(tag["Value"]) for tag in response.get("TagSet", [])}

    async def put_tags(self, key: str, tags: dict[str, str]) -> None:
        tag_set = [{"Key": name, "Value": value} for name, value in tags.items()]
        with _translate_errors(key):
            await self._client.put_object_tagging(Bucket=self.bucket, Key=self._key(key), Tagging={"TagSet": tag_set})

    async def ping(self) -> None:
        with _translate_errors(""):
            await self._client.head_bucket(Bucket=self.bucket)

    async def presign_get(self, key: str, expires_in: int) -> str:
        url: str = await self._client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": self._key(key)}, ExpiresIn=expires_in
        )
        return url

    async def presign_put(self, key: str, expires_in: int) -> str:
        url: str = await self._client.generate_presigned_url(
            "put_object", Params={"Bucket": self.bucket, "Key": self._key(key)}, ExpiresIn=expires_in
        )
        return url
