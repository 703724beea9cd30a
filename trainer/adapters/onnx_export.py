"""The whole adapter as one ONNX graph, checked against torch on the same rows.

The graph is ``[N, width] float32 -> [N, width] float32`` with a dynamic batch axis, one input
and one output: what ``core.registry.onnx_model`` loads into an embedder slot (it reads the
names from the graph into the manifest's IoSpec; these are the names the gateway tests use).
Parity: the exported graph, run by onnxruntime, must reproduce torch's output on the
validation rows within ``tolerance``, or the job fails (``export_parity``) before anything is
published.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from numpy.typing import NDArray

from schemas.manifest import ParityCheck
from trainer.adapters.head import Adapter
from trainer.pipeline import JobFailed

INPUT = "features"
OUTPUT = "embedding"
OPSET = 17
# float32 through a few small matrix products: onnxruntime and torch agree to about 1e-7.
DEFAULT_TOLERANCE = 1e-4


def export_onnx(adapter: Adapter, width: int) -> bytes:
    adapter.eval()
    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favour of dynamo, which needs onnxscript
        # (not installed); for Sub/MatMul/Linear/ReLU/L2 both give the same graph.
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        torch.onnx.export(
            adapter,
            (torch.zeros(1, width),),
            Path(folder) / "adapter.onnx",
            input_names=[INPUT],
            output_names=[OUTPUT],
            dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,
        )
        return (Path(folder) / "adapter.onnx").read_bytes()


def parity_check(
    adapter: Adapter,
    onnx: bytes,
    rows: NDArray[np.float32],
    tolerance: float = DEFAULT_TOLERANCE,
) -> ParityCheck:
    """torch against onnxruntime on ``rows``; :class:`JobFailed` beyond ``tolerance``."""
    if rows.shape[0] == 0:
        raise JobFailed("export_parity", "no rows to check the exported graph on")
    session = ort.InferenceSession(onnx, providers=["CPUExecutionProvider"])
    (ours,) = session.run([OUTPUT], {INPUT: np.ascontiguousarray(rows, dtype=np.float32)})
    reference = adapter.embed(rows)
    diff = float(np.max(np.abs(np.asarray(ours) - reference)))
    if not np.isfinite(diff) or diff > tolerance:
        raise JobFailed(
            "export_parity",
            f"onnxruntime differs from torch by {diff:.3g} on {rows.shape[0]} rows "
            f"(tolerance {tolerance:.3g})",
        )
    return ParityCheck(
        framework=f"torch-{torch.__version__}",
        samples=int(rows.shape[0]),
        max_abs_diff=diff,
        tolerance=tolerance,
    )
