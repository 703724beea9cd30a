"""Per-role object-store credentials on the dev stack (``stack.secure_s3``, audit finding 15): each
role logs in as its own user, and the store lets it do what its policy in
``deploy/minio-policies`` allows and nothing else; a terminal can upload its captures but read
nothing back, not even its own.

The module starts its own secure versitygw through the dev stack's code, in a temporary data
directory on a free port, and stops it at the end: the shared store the other tests use is left
alone.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Awaitable, Iterator
from pathlib import Path

import pytest
from minio.error import S3Error
from pydantic import SecretStr

from core.objectstore import ObjectStore
from core.settings import Settings
from devstack import process, s3_secure, stack
from tests.registry_kit import good

JPEG = b"\xff\xd8\xff" + b"face" * 64


@pytest.fixture(scope="module")
def secure() -> Iterator[Settings]:
    """Settings of a secure object store of this module's own (the root's view)."""
    data_dir = Path(tempfile.mkdtemp(prefix="s3-roles-"))
    settings = Settings(
        s3={"endpoint": f"127.0.0.1:{process.free_port()}"},
        stack={"data_dir": data_dir, "secure_s3": True},
    )
    try:
        report = asyncio.run(stack.up(settings, names=["s3"]))
        assert report.provisioned.s3_users == sorted(s3_secure.policies())
        assert report.provisioned.s3_bucket_policies == 3
        yield settings
    finally:
        stack.down(settings, ["s3"])
        shutil.rmtree(data_dir, ignore_errors=True)


def store(secure: Settings, user: str) -> ObjectStore:
    return ObjectStore(s3_secure.as_user(secure, user))


async def refused(call: Awaitable[object]) -> None:
    with pytest.raises(S3Error) as caught:
        await call
    assert caught.value.code == "AccessDenied"


async def test_a_terminal_uploads_its_captures_and_reads_nothing(secure: Settings) -> None:
    terminal = store(secure, "terminal")
    samples = terminal.bucket("samples")
    ref = await terminal.put_bytes(samples, "alice/a1/face", JPEG, "image/jpeg")
    await refused(terminal.get_bytes(ref))
    await refused(terminal.list_keys(samples, "alice/"))
    await refused(terminal.delete(samples, "alice/a1/face"))
    await refused(terminal.put_bytes(terminal.bucket("models"), "face-embedder/x", b"onnx"))
    # The gateway, whose job it is, reads what the terminal sent.
    assert await store(secure, "gateway").get_bytes(ref) == JPEG


async def test_the_publisher_writes_models_and_reads_no_media(secure: Settings) -> None:
    gateway = store(secure, "gateway")
    media = await gateway.put_bytes(gateway.bucket("samples"), "bob/enrol/face-0", JPEG)
    publisher = store(secure, "publisher")
    model = await publisher.put_bytes(publisher.bucket("models"), "face-embedder/2.0.0", good(4))
    assert await publisher.get_bytes(model) == good(4)
    await refused(publisher.get_bytes(media))
    await refused(publisher.put_bytes(publisher.bucket("training"), "bob/x", JPEG))


async def test_the_trainer_reads_media_and_writes_training_data_only(secure: Settings) -> None:
    gateway = store(secure, "gateway")
    media = await gateway.put_bytes(gateway.bucket("samples"), "erin/enrol/face-0", JPEG)
    trainer = store(secure, "trainer")
    assert await trainer.get_bytes(media) == JPEG
    copy = await trainer.put_bytes(trainer.bucket("training"), "erin/imported/face-0", JPEG)
    assert await trainer.get_bytes(copy) == JPEG
    await refused(trainer.put_bytes(trainer.bucket("samples"), "erin/a1/face", JPEG))
    await refused(trainer.delete(trainer.bucket("samples"), "erin/enrol/face-0"))


async def test_provisioning_creates_buckets_and_reads_nothing(secure: Settings) -> None:
    gateway = store(secure, "gateway")
    media = await gateway.put_bytes(gateway.bucket("samples"), "carol/a1/voice", b"RIFFWAVE")
    provision = store(secure, "provision")
    assert await provision.ensure_buckets() == []
    await refused(provision.get_bytes(media))


async def test_an_unknown_user_or_a_wrong_secret_is_refused(secure: Settings) -> None:
    gateway = s3_secure.as_user(secure, "gateway")
    wrong = gateway.model_copy(
        update={"s3": gateway.s3.model_copy(update={"secret_key": SecretStr("not-the-secret")})}
    )
    for settings in (wrong, s3_secure.as_user(secure, "nobody")):
        objects = ObjectStore(settings)
        with pytest.raises(S3Error) as caught:
            await objects.put_bytes(objects.bucket("samples"), "dave/a1/face", JPEG)
        assert caught.value.code in {"SignatureDoesNotMatch", "InvalidAccessKeyId"}
