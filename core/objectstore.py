"""Object storage (S3 / MinIO / versitygw) with content integrity.

Every object is written with its sha256 in the object's metadata and returned as a
``MediaRef`` (``s3://bucket/key`` + sha256). Reads recompute the sha256 and refuse an object that
no longer matches what was written or what the caller expects (claim-check integrity).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections.abc import Collection, Iterable
from datetime import datetime

from minio import Minio
from minio.deleteobjects import DeleteObject
from minio.error import S3Error

from core.settings import Settings, get_settings
from schemas import MediaRef

SHA256_META = "sha256"
LOGICAL_BUCKETS = ("samples", "training", "models")


class ObjectStoreError(RuntimeError):
    """Base of the errors a caller can turn into a decision reason."""

    reason = "object_store_error"


class ObjectMissing(ObjectStoreError):
    reason = "missing_object"


class IntegrityError(ObjectStoreError):
    reason = "checksum_mismatch"


class ObjectTooLarge(ObjectStoreError):
    """Bigger than the reader accepts: refused before it is read whole."""

    reason = "invalid_media"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def media_ref(bucket: str, key: str, data: bytes, content_type: str) -> MediaRef:
    """The ref ``data`` gets once stored at ``bucket``/``key`` (what :meth:`ObjectStore.put_bytes`
    returns), known before anything is stored."""
    return MediaRef(
        uri=f"s3://{bucket}/{key}",
        sha256=sha256_hex(data),
        content_type=content_type,
        size_bytes=len(data),
    )


class ObjectStore:
    """Async facade over the (blocking) minio client; calls run in worker threads."""

    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings or get_settings()
        s3 = self._settings.s3
        self._client = Minio(
            s3.endpoint,
            access_key=s3.access_key,
            secret_key=s3.secret_key.get_secret_value(),
            secure=s3.secure,
            region=s3.region,
        )

    def bucket(self, logical: str) -> str:
        """Physical bucket name of a logical one (``samples``, ``training``, ``models``)."""
        return f"{self._settings.s3.bucket_prefix}{logical}"

    async def ensure_buckets(self, logical: Iterable[str] = LOGICAL_BUCKETS) -> list[str]:
        created = []
        for name in map(self.bucket, logical):
            if not await asyncio.to_thread(self._client.bucket_exists, name):
                try:
                    await asyncio.to_thread(self._client.make_bucket, name)
                    created.append(name)
                except S3Error as exc:
                    if exc.code not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                        raise
        return created

    async def set_bucket_policy(self, bucket: str, policy: str) -> None:
        """Replaces ``bucket``'s policy with the JSON document ``policy``."""
        await asyncio.to_thread(self._client.set_bucket_policy, bucket, policy)

    async def list_buckets(self) -> list[str]:
        buckets = await asyncio.to_thread(self._client.list_buckets)
        return [b.name for b in buckets]

    async def put_bytes(
        self, bucket: str, key: str, data: bytes, content_type: str = "application/octet-stream"
    ) -> MediaRef:
        """Stores ``data`` at ``bucket``/``key`` (physical bucket name) and returns its ref."""
        ref = media_ref(bucket, key, data, content_type)
        await asyncio.to_thread(
            self._client.put_object,
            bucket,
            key,
            io.BytesIO(data),
            len(data),
            content_type=content_type,
            metadata={SHA256_META: ref.sha256},
        )
        return ref

    async def get_bytes(
        self,
        ref: MediaRef | str,
        expected_sha256: str | None = None,
        *,
        max_bytes: int | None = None,
    ) -> bytes:
        """Reads an object and checks its sha256 against the ref, the caller and its metadata.

        With ``max_bytes``, a bigger object is refused (:class:`ObjectTooLarge`) after reading
        at most one byte more than that, whatever size its reference claims.
        """
        expected: str | None
        if isinstance(ref, MediaRef):
            bucket, key, expected = ref.bucket, ref.key, expected_sha256 or ref.sha256
        else:
            bucket, key = parse_uri(ref)
            expected = expected_sha256
        try:
            response = await asyncio.to_thread(self._client.get_object, bucket, key)
        except S3Error as exc:
            if exc.code in {"NoSuchKey", "NoSuchBucket", "NoSuchObject"}:
                raise ObjectMissing(f"s3://{bucket}/{key} does not exist") from exc
            raise
        try:
            limit = None if max_bytes is None else max_bytes + 1
            data = await asyncio.to_thread(response.read, limit)
            stored = response.headers.get(f"x-amz-meta-{SHA256_META}")
        finally:
            response.close()
            response.release_conn()
        if max_bytes is not None and len(data) > max_bytes:
            raise ObjectTooLarge(f"s3://{bucket}/{key} is larger than {max_bytes} bytes")
        actual = sha256_hex(data)
        for label, want in (("expected", expected), ("recorded", stored)):
            if want is not None and want != actual:
                raise IntegrityError(
                    f"s3://{bucket}/{key}: sha256 {actual} differs from the {label} {want}"
                )
        return data

    async def exists(self, bucket: str, key: str) -> bool:
        try:
            await asyncio.to_thread(self._client.stat_object, bucket, key)
        except S3Error as exc:
            if exc.code in {"NoSuchKey", "NoSuchBucket", "NoSuchObject"}:
                return False
            raise
        return True

    async def delete(self, bucket: str, key: str) -> None:
        await asyncio.to_thread(self._client.remove_object, bucket, key)

    async def list_keys(self, bucket: str, prefix: str = "") -> list[str]:
        def _list() -> list[str]:
            objects = self._client.list_objects(bucket, prefix=prefix, recursive=True)
            return [o.object_name for o in objects if o.object_name is not None]

        return await asyncio.to_thread(_list)

    async def list_keys_before(self, bucket: str, before: datetime, prefix: str = "") -> list[str]:
        """The keys under ``prefix`` whose objects were last written before ``before``."""

        def _list() -> list[str]:
            objects = self._client.list_objects(bucket, prefix=prefix, recursive=True)
            return [
                o.object_name
                for o in objects
                if o.object_name is not None
                and o.last_modified is not None
                and o.last_modified < before
            ]

        return await asyncio.to_thread(_list)

    async def delete_keys(self, bucket: str, keys: Collection[str]) -> int:
        """Deletes ``keys`` (a missing one is not an error); returns how many were asked."""

        def _delete() -> None:
            errors = list(self._client.remove_objects(bucket, (DeleteObject(k) for k in keys)))
            if errors:
                raise ObjectStoreError(f"could not delete from {bucket}: {errors[0]}")

        if keys:
            await asyncio.to_thread(_delete)
        return len(keys)

    async def delete_prefix(self, bucket: str, prefix: str) -> int:
        """Deletes every object under ``prefix``; returns how many there were."""
        return await self.delete_keys(bucket, await self.list_keys(bucket, prefix))


def parse_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` → (bucket, key)."""
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// reference: {uri!r}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket or not key:
        raise ValueError(f"an s3:// reference needs a bucket and a key: {uri!r}")
    return bucket, key
