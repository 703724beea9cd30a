"""The canary set: golden samples with genuine and impostor pairs, kept in the models bucket.

``canary/{model}/`` holds the samples themselves (``samples/{i}``), their base embeddings
(``base.npy``, what an adapter takes) and ``set.json``, which lists them with their sha256 and
identity labels and is signed like a manifest. A candidate adapter runs on the base embeddings;
its separation of genuine from impostor pairs (EER and d′, as :mod:`core.biometrics.thresholds`
computes them for the evaluation) is compared with the active version's, and a candidate worse
beyond the tolerance is rejected (``canary_regression``).
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Self

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.biometrics.scoring import Calibration
from core.biometrics.thresholds import d_prime, eer
from core.objectstore import ObjectMissing, ObjectStore, ObjectStoreError
from core.registry.errors import ModelRejected
from core.registry.onnx_model import LoadedModel
from core.signing import Signer, SigningError, TrustedKeys
from schemas import MediaRef
from schemas.fields import Identifier, ModelName, SemVer, UtcDatetime
from schemas.keys import canary_prefix
from schemas.manifest import OperatingPoint, canonical_json

Sample = tuple[str, bytes, str]
"""(identity label, media bytes, content type)."""
BaseEmbedder = Callable[[bytes], NDArray[np.float32] | None]


class CanaryItem(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    label: Identifier = Field(description="the identity: same label = genuine pair")
    sample: MediaRef


class CanarySet(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    model: ModelName
    base_version: SemVer = Field(description="the base model that computed base.npy")
    items: list[CanaryItem] = Field(min_length=4)
    embeddings: MediaRef
    created_at: UtcDatetime = Field(default_factory=lambda: datetime.now(UTC))
    signed_by: str = ""
    signature: str | None = None

    def payload(self) -> bytes:
        return canonical_json(self.model_dump(mode="json", exclude={"signature"}))

    def signed(self, signer: Signer) -> Self:
        unsigned = self.model_copy(update={"signed_by": signer.key_id, "signature": None})
        return unsigned.model_copy(update={"signature": signer.sign(unsigned.payload())})


class CanaryMetrics(BaseModel):
    model_config = ConfigDict(frozen=True)

    eer: float
    d_prime: float
    genuine_mean: float
    impostor_mean: float
    genuine_pairs: int
    impostor_pairs: int
    # Where the impostor scores sit for the version's own operating point: the share of
    # impostor pairs it would accept (FMR at its threshold) and their 99th calibrated
    # percentile. EER and d' do not move when every score shifts up; these do.
    fmr_at_threshold: float | None = None
    impostor_p99: float | None = None


@dataclass(frozen=True)
class Canary:
    """A verified canary set, ready to score models with."""

    labels: list[str]
    base: NDArray[np.float32]

    def run(self, model: LoadedModel) -> CanaryMetrics:
        return separation(model.embed(self.base), self.labels, model.operating_point)


def separation(
    embeddings: NDArray[np.float32],
    labels: Sequence[str],
    point: OperatingPoint | None = None,
) -> CanaryMetrics:
    """Cosine scores of every pair, split into genuine and impostor; their EER and d′, and with
    ``point`` where the impostor scores fall against its calibration and threshold.

    A collapsed model (one output for every input) scores every pair alike: EER 0.5, d′ 0.
    """
    scores = embeddings.astype(np.float64) @ embeddings.astype(np.float64).T
    same = np.equal.outer(np.asarray(labels), np.asarray(labels))
    upper = np.triu(np.ones_like(same, dtype=bool), k=1)
    genuine, impostor = scores[same & upper], scores[~same & upper]
    location: dict[str, float] = {}
    if point is not None and impostor.size:
        calibration = Calibration.model_validate(point.calibration.model_dump())
        calibrated = np.array([calibration.score(float(s)) for s in impostor])
        location = {
            "fmr_at_threshold": float(np.mean(calibrated >= point.threshold)),
            "impostor_p99": float(np.quantile(calibrated, 0.99)),
        }
    return CanaryMetrics(
        **location,
        eer=eer(genuine, impostor),
        d_prime=d_prime(genuine, impostor),
        genuine_mean=float(genuine.mean()),
        impostor_mean=float(impostor.mean()),
        genuine_pairs=int(genuine.size),
        impostor_pairs=int(impostor.size),
    )


def judge(
    candidate: CanaryMetrics,
    active: CanaryMetrics,
    *,
    eer_tolerance: float,
    dprime_tolerance: float,
    fmr_tolerance: float = 0.01,
) -> None:
    """Raises ``canary_regression`` when the candidate separates worse beyond a tolerance, and
    ``score_inflation`` when it would accept more impostor pairs at its own threshold than the
    active version does at its own (beyond ``fmr_tolerance``)."""
    if candidate.eer > active.eer + eer_tolerance:
        raise ModelRejected(
            "canary_regression",
            f"EER {candidate.eer:.3f} on the canary pairs, active {active.eer:.3f} "
            f"(tolerance {eer_tolerance})",
        )
    if candidate.d_prime < active.d_prime - dprime_tolerance:
        raise ModelRejected(
            "canary_regression",
            f"d' {candidate.d_prime:.2f} on the canary pairs, active {active.d_prime:.2f} "
            f"(tolerance {dprime_tolerance})",
        )
    if candidate.fmr_at_threshold is None and active.fmr_at_threshold is not None:
        raise ModelRejected("score_inflation", "the candidate has no operating point to check")
    if (
        candidate.fmr_at_threshold is not None
        and active.fmr_at_threshold is not None
        and candidate.fmr_at_threshold > active.fmr_at_threshold + fmr_tolerance
    ):
        raise ModelRejected(
            "score_inflation",
            f"FMR {candidate.fmr_at_threshold:.4f} at its threshold on the canary impostor "
            f"pairs (99th percentile {candidate.impostor_p99:.2f}), active "
            f"{active.fmr_at_threshold:.4f} (tolerance {fmr_tolerance})",
        )


def _npy(array: NDArray[np.float32]) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array, dtype="<f4"), allow_pickle=False)
    return buffer.getvalue()


async def seed_canary(
    objects: ObjectStore,
    model: str,
    *,
    base_version: str,
    samples: Sequence[Sample],
    base: NDArray[np.float32],
    signer: Signer,
) -> CanarySet:
    """Uploads (label, bytes, content type) samples and their base embeddings, signed.

    Replaces any previous canary set of ``model``.
    """
    if base.shape[0] != len(samples):
        raise ValueError("one base embedding per sample")
    bucket = objects.bucket("models")
    prefix = canary_prefix(model)
    await objects.delete_prefix(bucket, prefix)
    items = [
        CanaryItem(
            label=label,
            sample=await objects.put_bytes(bucket, f"{prefix}samples/{i}", data, content_type),
        )
        for i, (label, data, content_type) in enumerate(samples)
    ]
    embeddings = await objects.put_bytes(bucket, f"{prefix}base.npy", _npy(base))
    canary = CanarySet(
        model=model, base_version=base_version, items=items, embeddings=embeddings
    ).signed(signer)
    await objects.put_bytes(
        bucket, f"{prefix}set.json", canary.model_dump_json(indent=2).encode(), "application/json"
    )
    return canary


async def seed_golden(
    objects: ObjectStore,
    model: str,
    samples: Sequence[Sample],
    embed: BaseEmbedder,
    *,
    base_version: str,
    signer: Signer,
) -> CanarySet:
    """Computes the base embeddings of ``samples`` with ``embed`` and uploads the canary set.

    A sample the base model cannot use (no face, no speech) is left out.
    """
    kept: list[Sample] = []
    vectors: list[NDArray[np.float32]] = []
    for sample in samples:
        vector = await asyncio.to_thread(embed, sample[1])
        if vector is not None:
            kept.append(sample)
            vectors.append(vector.reshape(-1))
    return await seed_canary(
        objects,
        model,
        base_version=base_version,
        samples=kept,
        base=np.stack(vectors).astype(np.float32),
        signer=signer,
    )


async def load_canary(
    objects: ObjectStore, model: str, trust: TrustedKeys, *, base_version: str
) -> Canary:
    """The verified canary of ``model``; :class:`ModelRejected` if it is missing or forged."""
    bucket = objects.bucket("models")
    try:
        raw = await objects.get_bytes(f"s3://{bucket}/{canary_prefix(model)}set.json")
        canary = CanarySet.model_validate_json(raw)
        trust.verify_document(canary)
        base = np.load(io.BytesIO(await objects.get_bytes(canary.embeddings)), allow_pickle=False)
    except ObjectMissing as exc:
        raise ModelRejected("canary_missing", f"no canary set for {model}: {exc}") from exc
    except (ObjectStoreError, ValidationError, SigningError, ValueError) as exc:
        raise ModelRejected("canary_invalid", f"the canary set of {model}: {exc}") from exc
    if canary.model != model or canary.base_version != base_version:
        raise ModelRejected(
            "canary_invalid",
            f"the canary set is for {canary.model} base {canary.base_version}, not {base_version}",
        )
    if base.ndim != 2 or base.shape[0] != len(canary.items):
        raise ModelRejected("canary_invalid", f"base.npy has shape {base.shape}")
    return Canary([item.label for item in canary.items], base.astype(np.float32))
