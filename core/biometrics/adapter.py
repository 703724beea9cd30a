"""An ONNX adapter head: maps a base embedding (face 128-d, voice 256-d) to the deployed one.

LifeModo trains adapters on base embeddings (torch → ONNX), so a new adapter version re-embeds
stored base features without raw media. The model takes ``[N, dim]`` float32 and returns
``[N, D]``; its output is L2-normalised here like the base embedding.

Its version is the ``version`` entry of the ONNX model's metadata (set by the exporter), else
of a ``manifest.json`` beside it (the registry's ``{name}/{version}/model.onnx`` layout), else
the first 12 hex digits of the file's sha256, so two different files never share a version.
Checksum and signature checks belong to the model registry, before a path reaches here.

onnxruntime sessions are safe to ``run`` from several threads at once.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

from core.biometrics.model_files import require


def l2_normalise(vector: NDArray[np.floating[Any]]) -> NDArray[np.float32]:
    norm = float(np.linalg.norm(vector))
    return (vector / norm if norm > 0.0 else vector).astype(np.float32)


class EmbeddingAdapter:
    def __init__(self, path: Path, *, dim: int, what: str) -> None:
        require(path, what)
        self._dim = dim
        options = ort.SessionOptions()
        # One small matrix product per call: extra threads only add scheduling overhead.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        inputs = self._session.get_inputs()
        # A dynamic last axis shows as None or a symbolic name; any other size is wrong.
        dim = inputs[0].shape[-1] if len(inputs) == 1 else -1
        if (isinstance(dim, int) and dim != self._dim) or inputs[0].type != "tensor(float)":
            raise ValueError(f"{path}: an adapter takes one [N, {self._dim}] float32 input")
        self._input = inputs[0].name
        self.version = _version(path, self._session.get_modelmeta().custom_metadata_map)

    def __call__(self, base: NDArray[np.float32]) -> NDArray[np.float32]:
        batch = base.reshape(1, self._dim).astype(np.float32)
        (out, *_) = self._session.run(None, {self._input: batch})
        return l2_normalise(np.asarray(out, dtype=np.float32).reshape(-1))


def _version(path: Path, metadata: dict[str, str]) -> str:
    if metadata.get("version"):
        return metadata["version"]
    manifest = path.with_name("manifest.json")
    if manifest.is_file():
        version = json.loads(manifest.read_text(encoding="utf-8")).get("version")
        if isinstance(version, str) and version:
            return version
    # Semver build metadata keeps an unversioned adapter distinguishable by content.
    return "0.0.0+sha256." + hashlib.sha256(path.read_bytes()).hexdigest()[:12]
