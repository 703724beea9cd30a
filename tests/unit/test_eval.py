"""The evaluation harness with stand-in engines: fast, and every branch is reachable."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from core.biometrics.audio import join_clips
from core.biometrics.dataset import DEFAULT_DATA_DIR, DatasetConfig, load_dataset
from core.biometrics.evaluation import Engines, ModelInfo
from core.biometrics.types import SampleStatus
from core.biometrics.voice import VoiceSample, apply_centre, fit_centre
from kibalock_cli.eval_cache import AnalysisCache
from kibalock_cli.eval_run import (
    DET_FILE,
    EVAL_FILE,
    EvalConfig,
    _Analyses,
    _keys,
    _Scorer,
    run_evaluation,
)
from schemas.enums import Language

DIM = 16


@dataclass(frozen=True)
class FakeSample:
    status: SampleStatus
    embedding: npt.NDArray[Any] | None
    audio_16k: npt.NDArray[Any] | None = None
    model: str = "fake"
    version: str = "0.0.1"
    timing_ms: Mapping[str, float] = field(default_factory=lambda: {"total": 5.0})


@dataclass(frozen=True)
class FakeCheck:
    passed: bool
    heard: str
    reason: str | None
    timing_ms: Mapping[str, float] = field(default_factory=lambda: {"total": 20.0})


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FakeEngine:
    """Embeds a sample as its subject's direction plus a little noise seeded by the bytes."""

    def __init__(self, subject_of: Mapping[str, str], failing: frozenset[str] = frozenset()):
        self._subject_of = subject_of
        self._failing = failing

    def analyse(self, data: bytes) -> FakeSample:
        digest = _sha(data)
        if digest in self._failing:
            return FakeSample(status=SampleStatus.NO_FACE, embedding=None)
        subject = self._subject_of[digest]
        base = np.random.default_rng(list(subject.encode())).normal(size=DIM)
        noise = np.random.default_rng(list(bytes.fromhex(digest[:16]))).normal(size=DIM)
        vector = base / np.linalg.norm(base) + 0.15 * noise / np.sqrt(DIM)
        audio = np.frombuffer(digest.encode(), dtype=np.uint8).astype(np.float32)
        return FakeSample(status=SampleStatus.OK, embedding=vector, audio_16k=audio)


class FakeChecker:
    """Hears the digits right, except for the challenges listed as misheard."""

    def __init__(self, misheard: frozenset[str]) -> None:
        self._misheard = misheard
        self.calls = 0
        self.languages: set[Language] = set()

    def check(
        self, audio_16k: npt.NDArray[Any], expected: str, language: Language = Language.EN
    ) -> FakeCheck:
        self.calls += 1
        self.languages.add(language)
        if expected in self._misheard:
            return FakeCheck(passed=False, heard="0", reason="mismatch")
        return FakeCheck(passed=True, heard=expected, reason=None)


CONFIG = EvalConfig(dataset=DatasetConfig(max_users=6, challenges_per_user=3))


def _engines(data: Path, failing_photo: str | None = None) -> tuple[Engines, FakeChecker]:
    ds = load_dataset(data, CONFIG.dataset)
    faces = {
        _sha(p.read_bytes()): u.face_identity
        for u in ds.users
        for p in (*u.face_enrol, *u.face_probes)
    }
    voices = {
        _sha(join_clips([c.read_bytes() for c in utt.clips], CONFIG.silence_ms)): u.speaker
        for u in ds.users
        for utt in (*u.voice_enrol, *u.challenges)
    }
    failing = frozenset({_sha(Path(failing_photo).read_bytes())} if failing_photo else ())
    checker = FakeChecker(frozenset({ds.users[0].challenges[0].text}))
    engines = Engines(
        face=FakeEngine(faces, failing),
        voice=FakeEngine(voices),
        challenge=checker,
        asr_model=ModelInfo(model="fake-asr", version="1"),
    )
    return engines, checker


def test_eval_writes_the_report(data_dir: Path, tmp_path: Path) -> None:
    engines, checker = _engines(data_dir)
    report = run_evaluation(data_dir, tmp_path, CONFIG, engines=engines)

    data = json.loads((tmp_path / EVAL_FILE).read_text())
    for section, key in [
        ("face", "eer"),
        ("voice", "eer"),
        ("fused", "eer"),
        ("fused", "fnmr_at_fmr_1e-3"),
        ("fused", "threshold_at_fmr_1e-3"),
        ("challenge", "accuracy"),
    ]:
        assert isinstance(data[section][key], float), (section, key)
    for modality in ("face", "voice", "asr"):
        assert set(data["timing_ms"][modality]) == {"p50", "p95", "n"}
    assert data["timing_ms"]["asr"]["p50"] == 20.0
    assert data["models"]["asr"] == {"model": "fake-asr", "version": "1"}
    assert data["models"]["face"] == {"model": "fake", "version": "0.0.1"}
    # Without --split or --policy no login policy is measured: the fused targets are absent.
    assert set(data["acceptance"]) == {"face.eer", "face.fta", "voice.eer", "challenge.accuracy"}
    assert (tmp_path / DET_FILE).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # Six users with speakers george, jackson, lucas, nicolas, george, jackson; 3 challenges
    # per speaker, each meeting the 3 other speakers' templates.
    assert report.voice.trials.genuine == 4 * 3
    assert report.voice.trials.impostor == 4 * 3 * 3
    # Every combination (fewer than impostor_attempts): 21 face probes, 5, 5, 4, 3, 2, 2 of
    # them the user's own; 9 challenges of the other speakers.
    assert report.fused.attempts == {
        "genuine": 18,
        "impostor_face": (6 * 21 - 21) * 3,
        "impostor_both": (6 * 21 - 21) * 9,
        "impostor_voice": 21 * 9,
    }
    # face01..face06 keep 5, 5, 4, 3, 2, 2 probes; each meets the 5 other templates.
    assert report.face.trials.genuine == 21
    assert report.face.trials.impostor == 21 * 5
    # The stand-ins separate subjects cleanly; calibration is held out.
    assert report.face.eer == 0.0 and report.voice.eer == 0.0 and report.fused.eer == 0.0
    assert report.face.in_sample_calibrations == 0 and report.voice.in_sample_calibrations == 0
    assert report.face.held_out_cllr < 0.5
    # One misheard challenge, and each of the 4 speakers' 3 challenges is checked once.
    assert checker.calls == 12 and report.challenge.trials == 12
    assert report.challenge.failures[0].key == "george/challenge0"
    assert report.fused.rejected_for_missing_modality["genuine"] == 0
    assert set(data["fused"]["rules"]) == {"weighted_sum", "product", "llr_sum", "logistic"}
    login = data["fused"]["login"]
    assert login["impostor_trials"] == 105 * 3 + 105 * 9 + 21 * 9
    assert set(login["fmr"]) == {"impostor_both", "impostor_face", "impostor_voice"}
    assert set(data["fused"]["fmr_at_threshold_1e-3"]) == set(login["fmr"])


def test_a_failed_face_probe_is_counted_and_rejects_its_attempts(
    data_dir: Path, tmp_path: Path
) -> None:
    ds = load_dataset(data_dir, CONFIG.dataset)
    probe = ds.users[0].face_probes[0]
    engines, _ = _engines(data_dir, failing_photo=str(probe))
    report = run_evaluation(data_dir, tmp_path, CONFIG, engines=engines)
    assert report.face.failed_to_acquire == 1
    assert report.face.trials.genuine == 20
    # user01 has 5 probes, so attempt 0 of its 3 attempts uses the failed photo.
    assert report.fused.rejected_for_missing_modality["genuine"] == 1
    assert report.fused.eer == pytest.approx(1 / 18)


def test_split_fits_on_one_half_and_measures_on_the_other(data_dir: Path, tmp_path: Path) -> None:
    engines, _ = _engines(data_dir)
    config = CONFIG.model_copy(update={"split": True})
    report = run_evaluation(data_dir, tmp_path / "split", config, engines=engines)
    assert len(report.folds) == 2
    first, second = report.folds
    assert (first.fitted_on["fold"], first.measured_on["fold"]) == ("A", "B")
    assert (second.fitted_on["fold"], second.measured_on["fold"]) == ("B", "A")
    # Speakers alternate: george, lucas in A; jackson, nicolas in B.
    assert first.fitted_on["speakers"] == ["george", "lucas"]
    assert first.measured_on["speakers"] == ["jackson", "nicolas"]
    assert report.policy == first.policy
    assert first.fnmr_shift == first.test.fnmr.rate - first.fit.fnmr.rate
    # Half B: users 2 (jackson), 4 (nicolas), 6 (jackson); 3 attempts each.
    assert first.test.fnmr.trials == 9
    assert first.test.fmr["all"].trials > 0
    assert "fused.fnmr_at_fmr_1e-3.all_kinds" in report.acceptance
    data = json.loads((tmp_path / "split" / EVAL_FILE).read_text())
    assert data["folds"][0]["test"]["fnmr"]["ci95"][1] > 0

    # The first half's policy, given back, is measured unchanged on every user.
    assert report.policy is not None
    applied = run_evaluation(
        data_dir, tmp_path / "applied", CONFIG, engines=engines, policy=report.policy
    )
    assert applied.policy_applied is not None
    assert applied.policy_applied.fnmr.trials == 18
    assert applied.fused.rule is report.policy.fusion.rule


def test_the_cache_serves_a_second_run(data_dir: Path, tmp_path: Path) -> None:
    engines, checker = _engines(data_dir)
    cache = AnalysisCache(tmp_path / "cache", fingerprint="test")
    run_evaluation(data_dir, tmp_path / "one", CONFIG, engines=engines, cache=cache)
    calls, misses = checker.calls, cache.misses
    run_evaluation(data_dir, tmp_path / "two", CONFIG, engines=engines, cache=cache)
    assert checker.calls == calls and cache.misses == misses and cache.hits == misses


def _random_voice(rng: np.random.Generator) -> VoiceSample:
    vector = rng.standard_normal(256).astype(np.float32)
    return VoiceSample(status=SampleStatus.OK, embedding=vector / np.linalg.norm(vector))


def test_each_fold_centres_the_voices_on_its_own_speakers_only() -> None:
    ds = load_dataset(DEFAULT_DATA_DIR)
    fit, test = ds.halves()
    rng = np.random.default_rng(5)
    voices = {key: _random_voice(rng) for key in ds.utterances()}
    info = ModelInfo(model="m", version="1.0.0")
    config = EvalConfig(split=True, voice_centre_per_fold=True)
    scorer = _Scorer(_Analyses({}, dict(voices), {}), config, info, info)
    centred = scorer.centred_on(fit).analyses.voices

    speakers = {k: u.speaker for u in fit.users for k in _keys(u)}
    keys = list(speakers)
    raw = np.stack([np.asarray(voices[k].embedding) for k in keys])
    centre = fit_centre(raw, [speakers[k] for k in keys])
    some = keys[0]
    expected = apply_centre(np.atleast_2d(np.asarray(voices[some].embedding)), centre)[0]
    assert np.asarray(centred[some].embedding).shape == (256,)
    assert np.allclose(np.asarray(centred[some].embedding), expected, atol=1e-6)

    # A voice of the other half does not move the centre: it is never fitted on.
    other = next(k for u in test.users for k in _keys(u))
    turned = voices[other].model_copy(update={"embedding": -np.asarray(voices[other].embedding)})
    again = replace(scorer, analyses=_Analyses({}, {**voices, other: turned}, {}))
    moved = again.centred_on(fit).analyses.voices
    assert np.allclose(np.asarray(moved[some].embedding), np.asarray(centred[some].embedding))


def test_challenges_are_heard_in_the_speakers_language(data_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(data_dir, data)
    speakers = sorted({u.speaker for u in load_dataset(data, CONFIG.dataset).users})
    rows = ["speaker,language", *(f"{s},Azerbaijani" for s in speakers)]
    (data / "voices" / "speakers.csv").write_text("\n".join(rows) + "\n")
    engines, checker = _engines(data)
    run_evaluation(data, tmp_path / "out", CONFIG, engines=engines)
    assert checker.calls > 0 and checker.languages == {Language.AZ}
