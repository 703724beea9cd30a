"""Fitting a login policy on some people and measuring it, unchanged, on others."""

from __future__ import annotations

import numpy as np
import pytest

from core.biometrics.dataset import AttemptKind
from core.biometrics.evaluation import (
    LoginPolicy,
    ScoredAttempts,
    fit_login_policy,
    measure_login_policy,
)
from core.biometrics.fusion import FusionRule
from core.biometrics.policy import load_policy, policy_from_eval
from core.biometrics.scoring import Calibration
from kibalock_cli.eval_policy import login_policy

CALIBRATION = Calibration(slope=1.0, intercept=0.0, genuine_trials=1, impostor_trials=1)
# Mean LLRs (face, voice) of each attempt kind: a victim's own factor scores like a genuine one.
MEANS = {
    AttemptKind.GENUINE: (6.0, 6.0),
    AttemptKind.IMPOSTOR_BOTH: (-6.0, -6.0),
    AttemptKind.IMPOSTOR_FACE: (-6.0, 6.0),
    AttemptKind.IMPOSTOR_VOICE: (6.0, -6.0),
}


def _attempts(seed: int, impostors: int = 10_000, genuine: int = 2_000) -> ScoredAttempts:
    rng = np.random.default_rng(seed)
    kinds, face, voice = [], [], []
    for kind, (f, v) in MEANS.items():
        n = genuine if kind is AttemptKind.GENUINE else impostors
        kinds += [kind.value] * n
        face.append(rng.normal(f, 2.0, n))
        voice.append(rng.normal(v, 2.0, n))
    llrs = {"face": np.concatenate(face), "voice": np.concatenate(voice)}
    llrs["voice"][0] = np.nan  # one genuine attempt whose voice failed to acquire
    return ScoredAttempts(kinds=np.array(kinds), llrs=llrs)


def test_a_fitted_policy_holds_on_other_attempts() -> None:
    policy = fit_login_policy(_attempts(0), {"face": CALIBRATION, "voice": CALIBRATION})
    assert policy.fusion.rule is FusionRule.LOGISTIC
    # Without floors, a victim's face alone (LLR ~6) would outvote an impostor voice.
    assert policy.floors["voice"] > 0.0 and policy.floors["face"] > 0.0
    fit = measure_login_policy(_attempts(0), policy)
    held_out = measure_login_policy(_attempts(1), policy)
    assert fit.failed_to_acquire["genuine"] == 1 and fit.fnmr.trials == 1_999
    for figures in (fit, held_out):
        assert figures.fmr["impostor_both"].trials == 10_000
        assert figures.fmr["impostor_voice"].rate <= 3e-3
        assert figures.fmr["impostor_face"].rate <= 3e-3
        assert figures.fnmr.rate < 0.05
        low, high = figures.fnmr.ci95
        assert low <= figures.fnmr.rate <= high
    assert abs(held_out.fnmr.rate - fit.fnmr.rate) < 0.02
    assert held_out.fnmr_at_fmr_1e_4_zero_effort.impostor_trials == 10_000
    assert held_out.fnmr_at_fmr_1e_3_all_kinds.impostor_trials == 30_000
    assert held_out.fused_only_fnmr_at_fmr_1e_4_zero_effort.fnmr <= held_out.fnmr.rate


def test_floors_reject_one_modality_attacks_that_the_fused_score_accepts() -> None:
    policy = fit_login_policy(_attempts(0), {"face": CALIBRATION, "voice": CALIBRATION})
    no_floors = policy.model_copy(update={"floors": {"face": 0.0, "voice": 0.0}})
    attempts = _attempts(2)
    with_floors = measure_login_policy(attempts, policy)
    without = measure_login_policy(attempts, no_floors)
    assert with_floors.rejected_by_floor["impostor_voice"] > 0
    assert (
        with_floors.fmr["impostor_voice"].errors + with_floors.fmr["impostor_face"].errors
        < without.fmr["impostor_voice"].errors + without.fmr["impostor_face"].errors
    )


def test_the_shipped_policy_reads_as_a_login_policy() -> None:
    shipped = load_policy()
    read = login_policy(shipped)
    assert read.accept_threshold == shipped.accept_threshold
    assert read.fusion == shipped.fusion
    assert set(read.calibrations) == set(read.floors) == {"face", "voice"}


def test_policy_from_a_split_eval_keeps_the_fitted_figures() -> None:
    fitted = fit_login_policy(_attempts(0), {"face": CALIBRATION, "voice": CALIBRATION})
    figures = measure_login_policy(_attempts(1), fitted)
    half = {"fold": "A", "identities": 10, "speakers": ["a", "b"]}
    report = {
        "policy": fitted.model_dump(mode="json"),
        "folds": [
            {
                "fitted_on": half,
                "measured_on": {**half, "fold": "B"},
                "fit": figures.model_dump(mode="json"),
                "test": figures.model_dump(mode="json"),
            }
        ],
    }
    decision = policy_from_eval(report, source="kibalock eval on somewhere")
    back = login_policy(decision)
    assert back.floors == pytest.approx(fitted.floors)
    assert back.accept_threshold == fitted.accept_threshold
    assert back.fusion == fitted.fusion
    assert "measured unchanged on half B" in decision.source
    assert isinstance(back, LoginPolicy)
