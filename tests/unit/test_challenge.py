"""Spoken-challenge check on real digit challenges built from the test voices."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from core.biometrics.audio import decode_audio, join_clips
from core.biometrics.challenge import (
    ASR_SUBDIR,
    MODEL_BIN_SHA256,
    ChallengeChecker,
    ChallengeResult,
    _resolve_model_dir,
)
from core.biometrics.challenge import fetch_models as fetch_asr_models
from core.biometrics.digits import NUMBER_WORDS, words_to_digits
from core.biometrics.model_files import FETCH_COMMAND, MissingModelError
from core.settings import get_settings
from schemas.enums import Language


@pytest.mark.parametrize(
    ("text", "digits"),
    [
        ("471", "471"),
        (" 4 7 1", "471"),
        ("4, 7, 1.", "471"),
        ("4-7-1", "471"),
        ("Four, seven, one.", "471"),
        ("four 7 One", "471"),
        ("zero oh nine", "009"),
        ("Oh, two, oh.", "020"),
        ("four for one", "441"),
        ("to, too, two", "222"),
        ("one won ate", "118"),
        ("fore five", "45"),
        ("tree nine nein", "399"),
        ("I want to say 4", "4"),
        ("Thank you for watching.", ""),
        ("Going to the store", ""),
        ("", ""),
        ("٤٧١", "471"),  # other scripts' decimal digits
    ],
)
def test_words_become_digits(text: str, digits: str) -> None:
    assert words_to_digits(text) == digits


@pytest.mark.parametrize(
    ("text", "language", "digits"),
    [
        ("Un, deux, neuf.", Language.FR, "129"),
        ("une sept 4", Language.FR, "174"),
        ("واحد اثنين ٣", Language.AR, "123"),
        ("ثمانية، صفر", Language.AR, "80"),
        ("İki, üç. Dörd", Language.AZ, "234"),
        ("sıfır doqquz", Language.AZ, "09"),
        ("four for one", Language.FR, ""),  # English words and homophones are not French
    ],
)
def test_number_words_per_language(text: str, language: Language, digits: str) -> None:
    assert words_to_digits(text, language) == digits


def test_every_language_spells_ten_distinct_digits() -> None:
    assert set(NUMBER_WORDS) == set(Language)
    for words in NUMBER_WORDS.values():
        assert len(words) == 10
        flat = [w for ws in words for w in ws]
        assert len(flat) == len(set(flat))


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("models")
    fetch_asr_models(path)
    return path


@pytest.fixture(scope="module")
def checker(models: Path) -> ChallengeChecker:
    return ChallengeChecker(models / ASR_SUBDIR)


@pytest.fixture(scope="module")
def voices(data_dir: Path) -> Path:
    return data_dir / "voices"


def _challenge(voices: Path, speaker: str, digits: str, first_index: int) -> NDArray[np.float32]:
    clips = [voices / f"{d}_{speaker}_{first_index + i}.wav" for i, d in enumerate(digits)]
    return decode_audio(join_clips([c.read_bytes() for c in clips]))


def test_fetch_assembles_the_pinned_model_idempotently(models: Path) -> None:
    paths = fetch_asr_models(models)
    target = models / ASR_SUBDIR
    assert {p.name for p in paths} == {
        "model.bin",
        "config.json",
        "tokenizer.json",
        "vocabulary.json",
    }
    assert all(p.parent == target for p in paths)
    with (target / "model.bin").open("rb") as f:
        assert hashlib.file_digest(f, "sha256").hexdigest() == MODEL_BIN_SHA256
    mtimes = [p.stat().st_mtime_ns for p in paths]
    assert fetch_asr_models(models) == paths
    assert [p.stat().st_mtime_ns for p in paths] == mtimes
    assert not [p for p in target.iterdir() if p.name.startswith(".")]  # no temp files left


def test_missing_weights_name_the_fetch_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(MissingModelError, match=FETCH_COMMAND):
        ChallengeChecker(tmp_path)
    monkeypatch.setenv("KIBALOCK_MODELS__ASR_DIR", str(tmp_path / "elsewhere"))
    get_settings.cache_clear()
    try:
        with pytest.raises(MissingModelError, match="elsewhere"):
            ChallengeChecker()
    finally:
        get_settings.cache_clear()


def test_a_models_root_resolves_to_the_whisper_dir(models: Path) -> None:
    assert _resolve_model_dir(models) == models / ASR_SUBDIR
    assert _resolve_model_dir(models / ASR_SUBDIR) == models / ASR_SUBDIR


@pytest.mark.parametrize(
    ("speaker", "digits", "first_index"),
    [("george", "471", 0), ("jackson", "208", 0), ("nicolas", "164", 0)],
)
def test_genuine_challenges_pass(
    checker: ChallengeChecker, voices: Path, speaker: str, digits: str, first_index: int
) -> None:
    result = checker.check(_challenge(voices, speaker, digits, first_index), digits)
    assert isinstance(result, ChallengeResult)
    assert (result.passed, result.heard, result.reason) == (True, digits, None)
    assert result.expected == digits
    assert {"encode", "decode", "total"} <= result.timing_ms.keys()


def test_a_wrong_digit_fails(checker: ChallengeChecker, voices: Path) -> None:
    result = checker.check(_challenge(voices, "lucas", "472", 3), "471")
    assert not result.passed
    assert result.reason == "challenge_mismatch"
    assert result.heard == "472"
    assert words_to_digits(result.transcript) == "472"


def test_silence_is_no_speech(checker: ChallengeChecker) -> None:
    result = checker.check(np.zeros(32_000, dtype=np.float32), "471")
    assert (result.passed, result.heard, result.reason) == (False, "", "no_speech")


def test_expected_must_be_digits(checker: ChallengeChecker) -> None:
    with pytest.raises(ValueError, match="digit string"):
        checker.check(np.zeros(16_000, dtype=np.float32), "four")


def test_concurrent_checks_match_sequential_ones(checker: ChallengeChecker, voices: Path) -> None:
    cases = [(_challenge(voices, s, "390", 6), "390") for s in ("george", "jackson")]
    sequential = [checker.check(a, e).heard for a, e in cases]
    with ThreadPoolExecutor(max_workers=2) as pool:
        concurrent = list(pool.map(lambda c: checker.check(*c).heard, cases))
    assert concurrent == sequential


def test_the_multilingual_model_hears_every_language(checker: ChallengeChecker) -> None:
    assert checker.languages == set(Language)


@pytest.mark.parametrize("speaker", ["george", "jackson", "lucas"])
def test_french_is_heard_by_its_number_words(
    checker: ChallengeChecker, voices: Path, speaker: str
) -> None:
    # "six" is the same word in English and French: the test voices say a French digit.
    result = checker.check(_challenge(voices, speaker, "6", 0), "6", Language.FR)
    assert (result.passed, result.heard, result.transcript) == (True, "6", "six")
    assert checker.check(_challenge(voices, speaker, "6", 1), "7", Language.FR).passed is False


@pytest.mark.parametrize("language", [Language.FR, Language.AR, Language.AZ])
def test_other_languages_report_the_words_they_heard(
    checker: ChallengeChecker, voices: Path, language: Language
) -> None:
    # English digits checked as another language: at most one digit per spoken digit, and the
    # transcript's number words are the digits heard.
    result = checker.check(_challenge(voices, "george", "471", 0), "471", language)
    assert len(result.heard) <= 3
    assert words_to_digits(result.transcript, language) == result.heard
    assert {"encode", "decode", "total"} <= result.timing_ms.keys()


def test_silence_is_no_speech_in_every_language(checker: ChallengeChecker) -> None:
    for language in Language:
        result = checker.check(np.zeros(32_000, dtype=np.float32), "471", language)
        assert (result.passed, result.reason) == (False, "no_speech")
