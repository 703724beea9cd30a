"""ONNX → .tflite through onnx2tf in its own Python 3.12 venv, checked against onnxruntime.

The first run builds the tool venv under the configured cache dir (about a minute, 660 MB);
later runs reuse it. Without a Python 3.12 interpreter these tests fail, saying so.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from bench.support.onnx_build import linear_adapter, rotation
from core.settings import Settings
from kibalock_cli.main import app
from trainer import tflite
from trainer.tflite import ExportError, export_tflite, find_python312, tool_venv

DIM = 256

# Runs the exported file on given inputs in the tool venv, independently of the export's check.
_RUN_TFLITE = """
import json, sys
import numpy as np
from ai_edge_litert.interpreter import Interpreter
interpreter = Interpreter(model_path=sys.argv[1])
interpreter.allocate_tensors()
rows = []
for row in json.loads(sys.argv[2]):
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], np.array([row], np.float32))
    interpreter.invoke()
    rows.append(interpreter.get_tensor(interpreter.get_output_details()[0]["index"])[0].tolist())
print(json.dumps(rows))
"""


@pytest.fixture(scope="module")
def cache_dir() -> Path:
    return Settings().cache_dir


def test_an_adapter_exports_to_tflite_with_the_same_outputs(
    cache_dir: Path, tmp_path: Path
) -> None:
    matrix = rotation(DIM, 3)
    out = tmp_path / "adapter.tflite"

    export = export_tflite(linear_adapter(matrix), out, cache_dir=cache_dir)

    assert export.path == out and out.stat().st_size == export.size_bytes
    assert out.read_bytes()[4:8] == b"TFL3"  # the TFLite flatbuffer identifier
    assert export.samples == 16 and export.max_abs_diff <= export.tolerance == 1e-4
    probes = np.random.default_rng(7).standard_normal((3, DIM)).astype(np.float32)
    python = tool_venv(cache_dir) / "bin" / "python"
    done = subprocess.run(
        [str(python), "-c", _RUN_TFLITE, str(out), json.dumps(probes.tolist())],
        capture_output=True,
        text=True,
        check=True,
    )
    got = np.array(json.loads(done.stdout), dtype=np.float32)
    np.testing.assert_allclose(got, probes @ matrix, atol=1e-4)

    again = export_tflite(linear_adapter(matrix), tmp_path / "again.tflite", cache_dir=cache_dir)
    assert not again.venv_created


def test_a_tflite_that_differs_from_the_onnx_model_is_not_written(
    cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = tflite.write_cases

    def cases_of_another_model(onnx: bytes, path: Path, *, samples: int, seed: int) -> None:
        real(linear_adapter(rotation(DIM, 4)), path, samples=samples, seed=seed)

    monkeypatch.setattr(tflite, "write_cases", cases_of_another_model)
    out = tmp_path / "adapter.tflite"
    with pytest.raises(ExportError, match="beyond the tolerance"):
        export_tflite(linear_adapter(rotation(DIM, 3)), out, cache_dir=cache_dir)
    assert not out.exists()


def test_without_python_312_the_error_says_what_to_install(tmp_path: Path) -> None:
    (tmp_path / "versions" / "3.11.7" / "bin").mkdir(parents=True)
    with pytest.raises(ExportError, match=r"needs a Python 3\.12 interpreter.*pyenv install"):
        find_python312(search_path=str(tmp_path), pyenv_root=tmp_path)


def test_this_machine_has_python_312() -> None:
    assert find_python312().is_file()


def test_tfjs_is_refused_with_the_browser_alternatives() -> None:
    result = CliRunner().invoke(
        app, ["models", "export", "face-embedder", "1.0.0", "--format", "tfjs"]
    )
    assert result.exit_code == 2
    assert "LiteRT.js" in result.output and "onnxruntime-web" in result.output
