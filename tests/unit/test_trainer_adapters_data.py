"""The domain-shift experiment, small, on the vendored voices: real engine, real degradation.

Four speakers of ``tests/data``, 25 two-digit utterances each: two enrolled, two in the guard
set. Their utterances are captured clean and through a noisy telephone line; the adapter the
production trainer fits must lower the base model's EER on the telephone probes of the
enrolled speakers.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from core.biometrics.degrade import condition
from core.biometrics.voice import fetch_models as fetch_voice_models
from schemas.model_catalog import Modality
from trainer.embedder import AdapterConfig
from trainer.experiments.domain_shift import ShiftConfig, run_domain_shift


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("models")
    fetch_voice_models(path)
    return path


def test_the_adapter_beats_the_base_model_on_the_degraded_line(
    data_dir: Path, models: Path, tmp_path: Path
) -> None:
    config = ShiftConfig(
        modality=Modality.VOICE,
        degraded=condition("telephone-noisy"),
        max_samples=25,
        clips_per_utterance=2,
        guard_fraction=0.5,
        adapter=AdapterConfig(head_epochs=10, min_guard_users=2),
    )
    report = run_domain_shift(data_dir, tmp_path / "cache", config, models)
    m = report.metrics
    assert report.users_enrolled == 2
    assert report.users_guard == 2
    assert m["trials_genuine_degraded"] >= 10
    assert m["challenger_eer_degraded"] < m["champion_eer_degraded"]
    assert report.acceptance.degraded_eer_before == m["champion_eer_degraded"]
