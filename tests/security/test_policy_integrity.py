"""Audit finding 18: a decision policy that cannot decide logins safely is refused when it is
loaded (at start-up), with a message naming what is wrong, not a KeyError on every attempt."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from core.biometrics.policy import DEFAULT_POLICY, load_policy

Edit = Callable[[dict[str, Any]], None]


def _drop_voice_weight(p: dict[str, Any]) -> None:
    del p["fusion"]["weights"]["voice"]


def _add_iris_weight(p: dict[str, Any]) -> None:
    p["fusion"]["weights"]["iris"] = 1.0


def _drop_voice_point(p: dict[str, Any]) -> None:
    del p["base_operating_points"]["voice-embedder@1.0.0"]


def _point_under_another_key(p: dict[str, Any]) -> None:
    points = p["base_operating_points"]
    points["face-embedder@1.0.0"] = points["voice-embedder@1.0.0"]


def _one_factor_suffices(p: dict[str, Any]) -> None:
    p["fusion"]["missing"] = "fuse_present"


def _accept_below_even_odds(p: dict[str, Any]) -> None:
    p["accept_threshold"] = 0.3


def _replay_check_off(p: dict[str, Any]) -> None:
    p["replay_cosine"] = {"face": 1.5, "voice": 0.99}


def _quality_for_a_typo(p: dict[str, Any]) -> None:
    p["min_quality"] = {"face": 0.2, "vocie": 0.2}


def _infinite_bias(p: dict[str, Any]) -> None:
    p["fusion"]["rule"] = "logistic"
    p["fusion"]["bias"] = float("inf")


CASES: dict[str, tuple[Edit, str]] = {
    "a modality without a fusion weight": (_drop_voice_weight, "fusion.weights"),
    "a fusion weight for no modality": (_add_iris_weight, "fusion.weights"),
    "a base model without an operating point": (_drop_voice_point, "base_operating_points"),
    "an operating point filed under another model": (_point_under_another_key, "face-embedder"),
    "one factor may carry a login": (_one_factor_suffices, "fusion.missing"),
    "an accept threshold below even odds": (_accept_below_even_odds, "accept_threshold"),
    "a replay cosine no probe reaches": (_replay_check_off, "replay_cosine"),
    "a quality floor for a misspelt modality": (_quality_for_a_typo, "min_quality"),
    "an infinite fusion bias": (_infinite_bias, "bias"),
}


def _written(tmp_path: Path, edit: Edit) -> Path:
    policy = json.loads(DEFAULT_POLICY.read_text())
    edit(policy)
    path = tmp_path / "policy.json"
    # allow_nan: an infinite bias is one of the edits, written as JSON's Infinity.
    path.write_text(json.dumps(policy, allow_nan=True))
    return path


def test_the_shipped_policy_loads() -> None:
    assert load_policy().fusion.missing == "reject"


@pytest.mark.parametrize("case", list(CASES))
def test_a_policy_unfit_for_logins_is_refused_at_load(tmp_path: Path, case: str) -> None:
    edit, named = CASES[case]
    with pytest.raises(ValueError) as refused:
        load_policy(_written(tmp_path, edit))
    assert named in str(refused.value)
    assert str(tmp_path / "policy.json") in str(refused.value)
