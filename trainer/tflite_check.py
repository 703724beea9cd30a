"""Converts one ONNX file to ``.tflite`` and compares its outputs with the expected ones: run
*inside* the onnx2tf tool venv (Python 3.12), never imported by the project's own code paths.

It is a script so that it needs nothing of the project: only the standard library and what
``onnx2tf`` brings (onnx, ai-edge-litert, numpy). The inputs and the expected outputs come in an
``.npz`` computed by the project's own onnxruntime (so the reference is the runtime the gateways
use, not the tool venv's pinned one). It prints one JSON line, the
:class:`trainer.tflite.ConversionReport` fields, on stdout.

onnx2tf writes NHWC where ONNX has NCHW, so a rank-4 input or output of the ``.tflite`` is
compared through that transposition; any other shape difference is an error.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

# ONNX NCHW -> TFLite NHWC, the only layout change onnx2tf makes.
NCHW_TO_NHWC = (0, 2, 3, 1)


def _as_layout(array: Any, shape: tuple[int, ...]) -> Any:
    """``array`` brought to ``shape``: as is, or through the NCHW→NHWC transposition."""
    if tuple(array.shape) == shape:
        return array
    if array.ndim == 4 and tuple(array.transpose(NCHW_TO_NHWC).shape) == shape:
        return array.transpose(NCHW_TO_NHWC)
    raise ValueError(f"shape {tuple(array.shape)} cannot be matched with the .tflite's {shape}")


def _convert(onnx_path: Path, out_dir: Path) -> Path:
    import onnx

    # The project may write a newer IR version than the pinned onnx/onnxruntime here read; the
    # IR version is the file format, the opset (unchanged) is what defines the operators.
    model = onnx.load(str(onnx_path))
    model.ir_version = min(model.ir_version, onnx.IR_VERSION)
    readable = out_dir.parent / "readable.onnx"
    onnx.save(model, str(readable))
    command = [sys.executable, "-m", "onnx2tf", "-i", str(readable), "-o", str(out_dir)]
    command += ["-b", "1", "-n"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    found = sorted(out_dir.glob("*_float32.tflite"))
    if done.returncode != 0 or not found:
        tail = (done.stderr or done.stdout).strip().splitlines()[-15:]
        raise RuntimeError("onnx2tf failed:\n" + "\n".join(tail))
    return found[0]


def _compare(tflite_path: Path, cases: Path) -> tuple[int, float]:
    """(samples, max abs diff) of the ``.tflite`` against the expected outputs in ``cases``.

    ``cases`` holds ``in{j}`` (samples x ONNX input j's shape) and ``out{k}`` likewise.
    """
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    arrays = np.load(cases)
    inputs = [arrays[f"in{j}"] for j in range(sum(k.startswith("in") for k in arrays.files))]
    expected = [arrays[f"out{k}"] for k in range(sum(k.startswith("out") for k in arrays.files))]
    interpreter = Interpreter(model_path=str(tflite_path))
    interpreter.allocate_tensors()
    tfl_inputs = interpreter.get_input_details()
    tfl_outputs = interpreter.get_output_details()
    if len(tfl_inputs) != len(inputs) or len(tfl_outputs) != len(expected):
        raise ValueError("the .tflite has a different number of inputs or outputs")
    samples = len(inputs[0])
    worst = 0.0
    for i in range(samples):
        for value, detail in zip(inputs, tfl_inputs, strict=True):
            interpreter.set_tensor(detail["index"], _as_layout(value[i], tuple(detail["shape"])))
        interpreter.invoke()
        for want, detail in zip(expected, tfl_outputs, strict=True):
            got = interpreter.get_tensor(detail["index"])
            diff = np.abs(_as_layout(want[i], tuple(got.shape)) - got)
            worst = max(worst, float(diff.max()))
    return samples, worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("onnx", type=Path)
    parser.add_argument("cases", type=Path, help=".npz of inputs in{j} and expected out{k}")
    parser.add_argument("out_dir", type=Path)
    args = parser.parse_args()
    try:
        tflite = _convert(args.onnx, args.out_dir)
        samples, diff = _compare(tflite, args.cases)
    except Exception as exc:  # the caller gets every failure as one explained JSON line
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        raise SystemExit(1) from exc
    print(json.dumps({"tflite": str(tflite), "samples": samples, "max_abs_diff": diff}))


if __name__ == "__main__":
    main()
