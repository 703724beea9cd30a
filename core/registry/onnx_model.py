"""Loading a verified embedder adapter into onnxruntime, and checking it fits its slot.

The swappable models are adapters on the base embeddings: one ``[N, d_in]`` float32 input
(128 for faces, 256 for voices) and one ``[N, D]`` float32 output. Four checks, in order: the
manifest carries the operating point of this very version (``calibration_missing``,
``calibration_mismatch``); the bytes are an ONNX model onnxruntime can load; the graph's inputs
and outputs are the ones its manifest declares; they fit the slot, and a probe batch comes out
with the right shape and finite values. The offline default (the base embedding itself) is a
:class:`LoadedModel` without a session. A face detector is only checked before it is published
(:func:`check_detector`): gateways keep dlib's detector and never load one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

from core.biometrics.vectors import l2_normalise
from core.registry.errors import ModelRejected
from schemas import IoSpec, TensorDType, TensorSpec
from schemas.manifest import Manifest, OperatingPoint
from schemas.model_catalog import BASE_VERSION, MODEL_CATALOG, ModelKind, ModelRef, ModelSpec

_ORT_DTYPES = {
    "tensor(float)": TensorDType.FLOAT32,
    "tensor(double)": TensorDType.FLOAT64,
    "tensor(float16)": TensorDType.FLOAT16,
    "tensor(bfloat16)": TensorDType.BFLOAT16,
    "tensor(int8)": TensorDType.INT8,
    "tensor(int16)": TensorDType.INT16,
    "tensor(int32)": TensorDType.INT32,
    "tensor(int64)": TensorDType.INT64,
    "tensor(uint8)": TensorDType.UINT8,
}

# The models a gateway hot-swaps today: the embedder adapters of the catalog.
SLOTS: dict[str, ModelSpec] = {
    name: spec for name, spec in MODEL_CATALOG.items() if spec.kind is ModelKind.EMBEDDER_ADAPTER
}


def slot_of(model: str) -> ModelSpec:
    try:
        return SLOTS[model]
    except KeyError:
        raise ModelRejected("unknown_model", f"{model} is not a swappable model") from None


def io_spec_of(session: ort.InferenceSession) -> IoSpec:
    """The graph's inputs and outputs as an :class:`IoSpec` (symbolic dims kept by name)."""

    def spec(arg: ort.NodeArg) -> TensorSpec:
        dtype = _ORT_DTYPES.get(arg.type)
        if dtype is None:
            raise ModelRejected("io_spec_mismatch", f"{arg.name} has unsupported type {arg.type}")
        return TensorSpec(name=arg.name, dtype=dtype, shape=list(arg.shape))

    return IoSpec(
        inputs=[spec(a) for a in session.get_inputs()],
        outputs=[spec(a) for a in session.get_outputs()],
    )


def _same_dims(declared: TensorSpec, actual: TensorSpec) -> bool:
    # A fixed size must be that size; a dynamic axis may have any name on either side.
    if len(declared.shape) != len(actual.shape):
        return False
    return all(
        (d == a) if isinstance(d, int) or isinstance(a, int) else True
        for d, a in zip(declared.shape, actual.shape, strict=True)
    )


def check_declared(declared: IoSpec, actual: IoSpec) -> None:
    """The graph must have exactly the inputs and outputs its manifest declares."""
    for side, want, got in (
        ("inputs", declared.inputs, actual.inputs),
        ("outputs", declared.outputs, actual.outputs),
    ):
        if [t.name for t in want] != [t.name for t in got]:
            raise ModelRejected(
                "io_spec_mismatch",
                f"{side} are {[t.name for t in got]}, the manifest declares "
                f"{[t.name for t in want]}",
            )
        for w, g in zip(want, got, strict=True):
            if w.dtype != g.dtype or not _same_dims(w, g):
                raise ModelRejected(
                    "io_spec_mismatch",
                    f"{g.name} is {g.dtype}{g.shape}, the manifest declares {w.dtype}{w.shape}",
                )


def check_slot(slot: ModelSpec, actual: IoSpec) -> None:
    """One ``[N, input_dim]`` float32 input and one ``[N, D]`` float32 output."""
    if len(actual.inputs) != 1 or len(actual.outputs) != 1:
        raise ModelRejected("io_spec_mismatch", f"{slot.name} needs one input and one output")
    (tin,), (tout,) = actual.inputs, actual.outputs
    if (
        tin.dtype is not TensorDType.FLOAT32
        or len(tin.shape) != 2
        or tin.shape[1] != slot.input_dim
    ):
        raise ModelRejected(
            "io_spec_mismatch",
            f"input {tin.name} is {tin.dtype}{tin.shape}, {slot.name} feeds "
            f"float32[N, {slot.input_dim}]",
        )
    if tout.dtype is not TensorDType.FLOAT32 or len(tout.shape) != 2:
        raise ModelRejected(
            "io_spec_mismatch", f"output {tout.name} is {tout.dtype}{tout.shape}, not float32[N, D]"
        )


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """One loaded version of a swappable model; immutable, so it is shared between threads.

    onnxruntime sessions may ``run`` from several threads at once.
    """

    slot: ModelSpec
    version: str
    operating_point: OperatingPoint | None
    session: ort.InferenceSession | None = None
    manifest: Manifest | None = None

    @property
    def name(self) -> str:
        return self.slot.name

    @property
    def ref(self) -> ModelRef:
        return ModelRef(name=self.slot.name, version=self.version)

    @property
    def is_offline_default(self) -> bool:
        return self.session is None

    def embed(self, base: NDArray[np.float32]) -> NDArray[np.float32]:
        """``[N, input_dim]`` base embeddings → ``[N, D]`` L2-normalised embeddings."""
        batch = np.ascontiguousarray(base, dtype=np.float32).reshape(-1, self.slot.width)
        if self.session is None:
            return l2_normalise(batch, np.float32)
        name = self.session.get_inputs()[0].name
        (out, *_) = self.session.run(None, {name: batch})
        result = np.asarray(out, dtype=np.float32)
        if result.ndim != 2 or result.shape[0] != batch.shape[0] or not np.isfinite(result).all():
            raise ModelRejected(
                "model_output_invalid",
                f"{self.name} {self.version} returned {result.shape} or non-finite values",
            )
        return l2_normalise(result, np.float32)


def _session(data: bytes) -> ort.InferenceSession:
    """An onnxruntime session on the CPU; :class:`ModelRejected` for bytes it cannot load."""
    options = ort.SessionOptions()
    # One small matrix product per call: extra threads only add scheduling overhead.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(data, sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for every defect
        raise ModelRejected("invalid_onnx", f"onnxruntime cannot load it: {exc}") from exc


def describe(
    data: bytes,
    name: str,
    version: str,
    *,
    operating_point: OperatingPoint | None = None,
    validation_metrics: dict[str, float] | None = None,
    parent_version: str | None = None,
    training_job_id: str | None = None,
    data_snapshot_id: str | None = None,
) -> Manifest:
    """An unsigned manifest for ``data``: its I/O spec read from the graph, the preprocessing
    of its catalog entry. Raises :class:`ModelRejected` for bytes onnxruntime cannot load."""
    session = _session(data)
    spec = MODEL_CATALOG.get(name)
    return Manifest(
        name=name,
        version=version,
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
        io=io_spec_of(session),
        preprocessing=spec.preprocessing if spec else "unknown",
        operating_point=operating_point,
        validation_metrics=validation_metrics or {},
        parent_version=parent_version,
        training_job_id=training_job_id,
        data_snapshot_id=data_snapshot_id,
    )


def offline_default(model: str, operating_point: OperatingPoint | None) -> LoadedModel:
    """The packaged base model; its operating point comes from ``kibalock eval``."""
    return LoadedModel(slot_of(model), BASE_VERSION, operating_point)


def check_operating_point(manifest: Manifest) -> None:
    """A scored model serves only with the calibration fitted for this very version."""
    point = manifest.operating_point
    if point is None:
        raise ModelRejected(
            "calibration_missing",
            f"the manifest of {manifest.ref} has no operating point (calibration + threshold)",
        )
    if point.model != manifest.ref:
        raise ModelRejected(
            "calibration_mismatch",
            f"the manifest of {manifest.ref} carries the operating point of {point.model}",
        )


def _check_preprocessing(manifest: Manifest, spec: ModelSpec) -> None:
    # A model made for other inputs would load and run, and be wrong.
    if manifest.preprocessing != spec.preprocessing:
        raise ModelRejected(
            "preprocessing_mismatch",
            f"{manifest.name} takes {spec.preprocessing}, the manifest says "
            f"{manifest.preprocessing}",
        )


def load_adapter(data: bytes, manifest: Manifest) -> LoadedModel:
    """A session for verified bytes; raises :class:`ModelRejected` if it does not fit."""
    slot = slot_of(manifest.name)
    check_operating_point(manifest)
    _check_preprocessing(manifest, slot)
    session = _session(data)
    actual = io_spec_of(session)
    check_declared(manifest.io, actual)
    check_slot(slot, actual)
    model = LoadedModel(slot, manifest.version, manifest.operating_point, session, manifest)
    probe = np.random.default_rng(0).standard_normal((2, slot.width)).astype(np.float32)
    try:
        model.embed(probe)
    except ModelRejected:
        raise
    except Exception as exc:
        raise ModelRejected("model_output_invalid", f"the probe batch failed: {exc}") from exc
    return model


def check_detector(data: bytes, manifest: Manifest) -> None:
    """A detector graph fits its catalog entry: ``[N, 3, H, W]`` float32 image in, float32
    ``[N, 4 + classes, K]`` candidates out, finite on a probe image.

    Detectors are not scored (no calibration, no operating point) and gateways do not load
    them; this is what a publisher checks before the registry holds one.
    """
    spec = MODEL_CATALOG.get(manifest.name)
    if spec is None or spec.kind is not ModelKind.DETECTOR:
        raise ModelRejected("unknown_model", f"{manifest.name} is not a detector")
    _check_preprocessing(manifest, spec)
    session = _session(data)
    actual = io_spec_of(session)
    check_declared(manifest.io, actual)
    if len(actual.inputs) != 1 or len(actual.outputs) != 1:
        raise ModelRejected("io_spec_mismatch", f"{spec.name} needs one input and one output")
    (tin,), (tout,) = actual.inputs, actual.outputs
    if tin.dtype is not TensorDType.FLOAT32 or len(tin.shape) != 4 or tin.shape[1] != 3:
        raise ModelRejected(
            "io_spec_mismatch", f"input {tin.name} is {tin.dtype}{tin.shape}, not float32[N,3,H,W]"
        )
    if tout.dtype is not TensorDType.FLOAT32 or len(tout.shape) != 3:
        raise ModelRejected(
            "io_spec_mismatch",
            f"output {tout.name} is {tout.dtype}{tout.shape}, not float32[N,C,K]",
        )
    # A symbolic height or width gets a YOLO-friendly size (a multiple of its 32 px stride).
    shape = [d if isinstance(d, int) else (1 if i == 0 else 320) for i, d in enumerate(tin.shape)]
    probe = np.full(shape, 0.5, dtype=np.float32)
    try:
        (out, *_) = session.run(None, {tin.name: probe})
    except Exception as exc:  # onnxruntime raises its own exception types for every defect
        raise ModelRejected("model_output_invalid", f"the probe image failed: {exc}") from exc
    result = np.asarray(out)
    if result.ndim != 3 or result.shape[1] < 5 or not np.isfinite(result).all():
        raise ModelRejected(
            "model_output_invalid",
            f"{manifest.ref} returned {result.shape} or non-finite values on the probe image",
        )
