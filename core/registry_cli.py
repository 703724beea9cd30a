"""``kibalock models list | publish | rollback | keygen | canary``: the model registry by hand.

Registered on ``models_app`` (``core/biometrics/cli.py``) by ``kibalock_cli/main.py``. Heavy
imports happen inside the commands so that ``kibalock --help`` stays fast.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from core.registry import Manifest, ModelRecord
    from core.settings import Settings
    from schemas import ModelPublished

PRODUCER = "model-cli"


def _settings() -> Settings:
    from core.settings import get_settings

    return get_settings()


def list_command(
    name: Annotated[str | None, typer.Argument(help="Only this model.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Versions of each model with their status, reason, lineage and metrics."""
    from rich.console import Console
    from rich.table import Table

    from core.registry import OFFLINE_VERSION, SLOTS

    records = asyncio.run(_records(name))
    if as_json:
        typer.echo(json.dumps([r.model_dump(mode="json") for r in records], indent=2))
        return
    table = Table(title="model registry")
    for column in ("model", "version", "status", "reason", "parent", "published", "metrics"):
        table.add_column(column)
    for record in records:
        metrics = {**record.manifest.validation_metrics, **_prefixed("canary_", record.canary)}
        table.add_row(
            record.name,
            record.version,
            record.status.value,
            record.reason or "",
            record.manifest.parent_version or "",
            record.published_at.strftime("%Y-%m-%d %H:%M:%S"),
            " ".join(f"{k}={v:.4g}" for k, v in sorted(metrics.items())),
        )
    active = {r.name for r in records if r.status.value == "active"}
    for model in sorted(SLOTS):
        if model not in active and (name is None or name == model):
            table.add_row(model, OFFLINE_VERSION, "active (offline default)", "", "", "", "")
    Console().print(table)


def _prefixed(prefix: str, metrics: dict[str, float]) -> dict[str, float]:
    return {prefix + k: v for k, v in metrics.items() if k in {"eer", "d_prime"}}


async def _records(name: str | None) -> list[ModelRecord]:
    from core import docstore
    from core.objectstore import ObjectStore
    from core.registry import ModelRegistry

    settings = _settings()
    client = docstore.client(settings)
    try:
        registry = ModelRegistry(client[settings.mongo.database], ObjectStore(settings))
        return await registry.versions(name)
    finally:
        client.close()


def publish_command(
    model_file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="model.onnx")],
    name: Annotated[str, typer.Option("--name", help="face-embedder or voice-embedder")],
    version: Annotated[str, typer.Option("--version", help="A new semantic version.")],
    parent: Annotated[
        str | None, typer.Option("--parent", help="The version it derives from.")
    ] = None,
    metric: Annotated[
        list[str] | None, typer.Option("--metric", help="Validation metric, NAME=VALUE (repeat).")
    ] = None,
    job: Annotated[str | None, typer.Option("--job", help="Training job id.")] = None,
    snapshot: Annotated[str | None, typer.Option("--snapshot", help="Data snapshot id.")] = None,
) -> None:
    """Sign a model, upload it with its manifest, register it and announce it to the gateways.

    Needs KIBALOCK_MODELS__SIGNING_KEY (or _FILE). The model is checked first the way the
    gateways will check it (loads, fits its slot): a broken model is refused here.
    """
    from core.registry import ModelRejected, describe, load_adapter

    data = model_file.read_bytes()
    try:
        manifest = describe(
            data,
            name,
            version,
            validation_metrics=dict(_metric(m) for m in metric or []),
            parent_version=parent,
            training_job_id=job,
            data_snapshot_id=snapshot,
        )
        load_adapter(data, manifest)
    except ModelRejected as exc:
        typer.echo(f"refused: {exc.reason}: {exc.detail}", err=True)
        raise typer.Exit(1) from exc
    except ValueError as exc:  # the name or version is not valid in a manifest
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(1) from exc
    event = asyncio.run(_publish(data, manifest))
    typer.echo(f"published {event.model} {event.model_version} sha256={event.sha256}")


def _metric(text: str) -> tuple[str, float]:
    key, sep, value = text.partition("=")
    if not sep:
        raise typer.BadParameter(f"--metric {text!r}: write NAME=VALUE")
    return key, float(value)


async def _publish(data: bytes, manifest: Manifest) -> ModelPublished:
    from core import docstore
    from core.bus import EventProducer, ensure_topics
    from core.objectstore import ObjectStore
    from core.registry import ModelRegistry, ModelsSettings

    settings = _settings()
    signer = ModelsSettings().signer()
    await ensure_topics(settings)
    objects = ObjectStore(settings)
    await objects.ensure_buckets()
    client = docstore.client(settings)
    try:
        db = client[settings.mongo.database]
        await docstore.ensure_indexes(db)
        async with EventProducer(settings, producer_name=PRODUCER) as producer:
            return await ModelRegistry(db, objects).publish(
                data, manifest, signer, producer, by=PRODUCER
            )
    finally:
        client.close()


def rollback_command(
    name: Annotated[str, typer.Argument(help="The model to roll back.")],
    reason: Annotated[str, typer.Option(help="Reason code recorded and announced.")] = "manual",
) -> None:
    """Reject the active version and reactivate the previous one (or the offline default).

    Every gateway instance follows on ``models.activations``.
    """
    from core.registry import NothingToRollBack

    try:
        rolled, restored = asyncio.run(_rollback(name, reason))
    except NothingToRollBack as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"rolled back {name} {rolled}; active: {restored or 'offline default'}")


async def _rollback(name: str, reason: str) -> tuple[str, str | None]:
    from core import docstore
    from core.bus import EventProducer, ensure_topics
    from core.objectstore import ObjectStore
    from core.registry import OFFLINE_VERSION, ModelRegistry
    from schemas import ActivationStatus, ModelActivation

    settings = _settings()
    await ensure_topics(settings)
    client = docstore.client(settings)
    try:
        registry = ModelRegistry(client[settings.mongo.database], ObjectStore(settings))
        rolled, restored = await registry.rollback(name, reason, by=PRODUCER)
        async with EventProducer(settings, producer_name=PRODUCER) as producer:
            await producer.publish(
                ModelActivation(
                    producer=PRODUCER,
                    model=name,
                    model_version=rolled,
                    status=ActivationStatus.ROLLED_BACK,
                    reason=reason,
                    detail="rolled back from the command line",
                    previous_version=restored or OFFLINE_VERSION,
                    instance_id=PRODUCER,
                )
            )
        return rolled, restored
    finally:
        client.close()


def keygen_command(
    out: Annotated[
        Path | None, typer.Option("--out", help="Write NAME.key and NAME.pub here (0600).")
    ] = None,
) -> None:
    """A new Ed25519 pair: the private key for publishers, the public key for gateways."""
    from core.signing import generate_keypair

    private, public = generate_keypair()
    if out is None:
        typer.echo(f"KIBALOCK_MODELS__SIGNING_KEY={private}")
        typer.echo(f"KIBALOCK_MODELS__TRUSTED_KEYS={public}")
        return
    key = out.with_suffix(".key")
    key.touch(mode=0o600, exist_ok=False)
    key.write_text(private + "\n")
    out.with_suffix(".pub").write_text(public + "\n")
    typer.echo(f"wrote {key} (KIBALOCK_MODELS__SIGNING_KEY_FILE) and {out.with_suffix('.pub')}")


def canary_command(
    data: Annotated[
        Path | None,
        typer.Option("--data", help="The data folder (faces/ and voices/); default: tests/data."),
    ] = None,
) -> None:
    """Seed the canary sets (golden samples + base embeddings, signed) in the models bucket."""
    from core.biometrics.dataset import DEFAULT_DATA_DIR
    from core.biometrics.face import BASE_VERSION, FaceEngine
    from core.biometrics.voice import VoiceEngine
    from core.objectstore import ObjectStore
    from core.registry import ModelsSettings
    from core.registry.golden import golden_faces, golden_voices, seed_golden

    signer = ModelsSettings().signer()
    folder = data or DEFAULT_DATA_DIR

    async def seed() -> dict[str, int]:
        objects = ObjectStore(_settings())
        await objects.ensure_buckets()
        face, voice = FaceEngine(), VoiceEngine()
        counts = {}
        for model, samples, embed in (
            ("face-embedder", golden_faces(folder), lambda b: face.analyse(b).base_embedding),
            ("voice-embedder", golden_voices(folder), lambda b: voice.analyse(b).base_embedding),
        ):
            canary = await seed_golden(
                objects, model, samples, embed, base_version=BASE_VERSION, signer=signer
            )
            counts[model] = len(canary.items)
        return counts

    for model, count in asyncio.run(seed()).items():
        typer.echo(f"{model} canary: {count} golden samples")
