"""ONNX → ``.tflite``, through onnx2tf in a tool venv of its own, checked against onnxruntime.

onnx2tf 2.6.9 needs Python ≥ 3.12 and hard-pins numpy, onnx, onnxruntime, protobuf and more to
versions the project cannot share, so it lives in ``{cache_dir}/tools/onnx2tf-venv``, created on
first use from a Python 3.12 interpreter (about a minute and 660 MB, then reused). Its default
backend writes the flatbuffer directly: no TensorFlow. The reference outputs come from the
project's own onnxruntime (the gateways' runtime) on seeded random inputs; the conversion and
the ``.tflite`` run (ai-edge-litert's interpreter) happen in that venv through
:mod:`trainer.tflite_check`, so nothing of it is imported here.

``.tfjs`` is not offered: the only writer, ``tensorflowjs_converter``, needs full TensorFlow,
JAX and protobuf/packaging versions that conflict with the project. Browsers run the ``.tflite``
with LiteRT.js or the ``.onnx`` with onnxruntime-web.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

ONNX2TF = "onnx2tf==2.6.9"
TOOL_PYTHON = (3, 12)
DEFAULT_TOLERANCE = 1e-4
DEFAULT_SAMPLES = 16
NO_TFJS = (
    "tfjs is not offered: its only converter (tensorflowjs) needs full TensorFlow and JAX, "
    "whose pinned versions conflict with the project, and nothing converts to it offline. "
    "In a browser, run the .tflite export with LiteRT.js (@litertjs/core) or the .onnx model "
    "with onnxruntime-web."
)
_CHECK_SCRIPT = Path(__file__).with_name("tflite_check.py")
# Written last when the venv is complete, so a half-installed venv is never used.
_READY = ".kibalock-ready"


class ExportError(RuntimeError):
    """An export that cannot be made or fails its check; the message says why and what to do."""


class ConversionReport(BaseModel):
    """What :mod:`trainer.tflite_check` prints: the ``.tflite`` and its worst difference."""

    tflite: Path
    samples: int = Field(ge=1)
    max_abs_diff: float = Field(ge=0)


class TfliteExport(BaseModel):
    path: Path
    size_bytes: int
    samples: int
    max_abs_diff: float
    tolerance: float
    seconds: float
    venv_created: bool = Field(description="the tool venv was built by this export")


def tool_venv(cache_dir: Path) -> Path:
    return cache_dir / "tools" / "onnx2tf-venv"


def find_python312(search_path: str | None = None, pyenv_root: Path | None = None) -> Path:
    """A working Python 3.12: ``python3.12`` on PATH, else the newest pyenv 3.12.x.

    Each candidate is run once, because a pyenv shim on PATH exists even where it cannot run.
    """
    root = pyenv_root or Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    on_path = shutil.which("python3.12", path=search_path)
    candidates = [Path(on_path)] if on_path else []
    candidates += sorted((root / "versions").glob("3.12.*/bin/python"), reverse=True)
    for candidate in candidates:
        if _is_python312(candidate):
            return candidate
    raise ExportError(
        "the tflite export needs a Python 3.12 interpreter (onnx2tf 2.6.9 requires >= 3.12) and "
        f"found none that runs: neither python3.12 on PATH nor {root}/versions/3.12.*; install "
        "one (e.g. `pyenv install 3.12`) and retry"
    )


def _is_python312(candidate: Path) -> bool:
    try:
        done = subprocess.run(
            [str(candidate), "-c", "import sys; print(*sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
    except OSError:
        return False
    return done.returncode == 0 and done.stdout.split() == [str(n) for n in TOOL_PYTHON]


def ensure_tool_venv(cache_dir: Path, python: Path | None = None) -> tuple[Path, bool]:
    """The onnx2tf venv's interpreter, and whether this call created the venv.

    Built under a file lock, so concurrent exports wait for one build, and in place (a venv's
    scripts name their interpreter by absolute path, so it cannot be moved after). The ready
    mark is written last: a build that was interrupted is started over.
    """
    venv = tool_venv(cache_dir)
    venv.parent.mkdir(parents=True, exist_ok=True)
    with (venv.parent / "onnx2tf-venv.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        ready = venv / _READY
        if ready.is_file() and ready.read_text().strip() == ONNX2TF:
            return venv / "bin" / "python", False
        interpreter = python or find_python312()
        shutil.rmtree(venv, ignore_errors=True)
        _run([str(interpreter), "-m", "venv", str(venv)], "create the tool venv")
        _run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", ONNX2TF],
            f"install {ONNX2TF} into the tool venv",
        )
        ready.write_text(ONNX2TF + "\n")
        return venv / "bin" / "python", True


def _run(command: list[str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-10:])
        raise ExportError(f"could not {what} (exit {done.returncode}):\n{tail}")


def export_tflite(
    onnx: bytes,
    out: Path,
    *,
    cache_dir: Path,
    tolerance: float = DEFAULT_TOLERANCE,
    samples: int = DEFAULT_SAMPLES,
    seed: int = 0,
) -> TfliteExport:
    """Writes ``out`` (a ``.tflite`` file) from ``onnx``; :class:`ExportError` beyond tolerance."""
    started = time.monotonic()
    python, created = ensure_tool_venv(cache_dir)
    with tempfile.TemporaryDirectory(prefix="kibalock-tflite-") as tmp:
        source = Path(tmp) / "model.onnx"
        source.write_bytes(onnx)
        cases = Path(tmp) / "cases.npz"
        write_cases(onnx, cases, samples=samples, seed=seed)
        report = _convert_and_check(python, source, cases, Path(tmp) / "out")
        if report.max_abs_diff > tolerance:
            raise ExportError(
                f"the .tflite differs from the ONNX model by up to {report.max_abs_diff:.3g} on "
                f"{report.samples} random inputs, beyond the tolerance {tolerance:g}: not written"
            )
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(report.tflite, out)
    return TfliteExport(
        path=out,
        size_bytes=out.stat().st_size,
        samples=report.samples,
        max_abs_diff=report.max_abs_diff,
        tolerance=tolerance,
        seconds=round(time.monotonic() - started, 2),
        venv_created=created,
    )


def write_cases(onnx: bytes, path: Path, *, samples: int, seed: int) -> None:
    """Seeded standard-normal inputs (batch 1, other free axes 1) and the project
    onnxruntime's outputs for them, as ``in{j}`` / ``out{k}`` arrays of ``samples`` rows."""
    import numpy as np
    import onnxruntime as ort

    session = ort.InferenceSession(onnx, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(seed)
    shapes = [
        [1, *(d if isinstance(d, int) else 1 for d in i.shape[1:])] for i in session.get_inputs()
    ]
    inputs: list[list[Any]] = [[] for _ in shapes]
    outputs: list[list[Any]] = [[] for _ in session.get_outputs()]
    for _ in range(samples):
        feed = {}
        for j, (spec, shape) in enumerate(zip(session.get_inputs(), shapes, strict=True)):
            feed[spec.name] = rng.standard_normal(shape).astype(np.float32)
            inputs[j].append(feed[spec.name])
        for k, value in enumerate(session.run(None, feed)):
            outputs[k].append(value)
    arrays = {f"in{j}": np.stack(v) for j, v in enumerate(inputs)}
    arrays |= {f"out{k}": np.stack(v) for k, v in enumerate(outputs)}
    np.savez(path, **arrays)  # type: ignore[arg-type]


def _convert_and_check(python: Path, source: Path, cases: Path, out_dir: Path) -> ConversionReport:
    # -I: the script's own folder (trainer/) must not be on the path, or onnx2tf's
    # `import tflite` would find trainer/tflite.py instead of the flatbuffers package.
    command = [str(python), "-I", str(_CHECK_SCRIPT), str(source), str(cases), str(out_dir)]
    # The venv's bin/ first on PATH: onnx2tf calls helpers (onnxsim) by name.
    env = {**os.environ, "PATH": f"{python.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    lines = done.stdout.strip().splitlines()
    try:
        answer = json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        answer = {}
    if "error" in answer or done.returncode != 0:
        why = answer.get("error") or done.stderr.strip()[-2000:] or f"exit {done.returncode}"
        raise ExportError(f"the tflite conversion failed: {why}")
    try:
        return ConversionReport.model_validate(answer)
    except ValidationError as exc:
        raise ExportError(f"the tflite conversion answered nonsense: {lines[-1:]}") from exc
