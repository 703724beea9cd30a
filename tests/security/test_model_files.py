"""Audit finding 18 (weights): an engine checks its weight files when it loads them, not only
when they were fetched, so the version a decision names is the one that ran. A file changed
on disk after ``kibalock models fetch`` stops the engine with a message saying so."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from core.biometrics import model_files
from core.biometrics.challenge import ASR_SUBDIR, ChallengeChecker
from core.biometrics.face import FaceEngine
from core.biometrics.face_models import EMBEDDER_FILE, FACE_SUBDIR
from core.biometrics.voice import RESEMBLYZER_SUBDIR, WEIGHTS_FILE, VoiceEngine

Load = Callable[[Path], object]


def _asr(root: Path) -> object:
    return ChallengeChecker(root / ASR_SUBDIR)


ENGINES: dict[str, tuple[str, str, Load]] = {
    "face": (FACE_SUBDIR, EMBEDDER_FILE, FaceEngine),
    "voice": (RESEMBLYZER_SUBDIR, WEIGHTS_FILE, VoiceEngine),
    "speech recogniser": (ASR_SUBDIR, "model.bin", _asr),
}


def _with_one_byte_changed(root: Path, subdir: str, name: str) -> Path:
    """A models directory like the installed one, but one byte of ``name``'s weights differs."""
    source = model_files.models_dir() / subdir
    target = root / subdir
    shutil.copytree(source, target)
    weights = bytearray((target / name).read_bytes())
    weights[len(weights) * 3 // 4] ^= 0x01
    (target / name).write_bytes(bytes(weights))
    return root


@pytest.mark.parametrize("engine", list(ENGINES))
def test_weights_changed_after_the_fetch_are_refused_at_load(tmp_path: Path, engine: str) -> None:
    subdir, name, load = ENGINES[engine]
    root = _with_one_byte_changed(tmp_path, subdir, name)
    with pytest.raises(RuntimeError, match="sha256") as refused:
        load(root)
    assert name in str(refused.value) and model_files.FETCH_COMMAND in str(refused.value)
