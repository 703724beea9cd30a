"""Reading a gateway decision policy as the login policy ``kibalock eval --policy`` measures.

The gateway's :class:`~core.biometrics.policy.DecisionPolicy` and the evaluation's
:class:`~core.biometrics.evaluation.LoginPolicy` carry the same figures; ``core`` does not
depend on the gateway, so the translation lives here, with the command that needs it.
"""

from __future__ import annotations

from pathlib import Path

from core.biometrics.evaluation import LoginPolicy
from core.biometrics.policy import DecisionPolicy, load_policy
from core.biometrics.scoring import Calibration
from schemas.model_catalog import BASE_VERSION, ModelRef, embedder_for

MODALITIES = ("face", "voice")


class PolicyError(ValueError):
    """The policy file cannot be measured (no operating point for a packaged model)."""


def login_policy(policy: DecisionPolicy) -> LoginPolicy:
    """The packaged models' calibrations and floors, the fusion and the threshold, unchanged."""
    calibrations: dict[str, Calibration] = {}
    floors: dict[str, float] = {}
    for modality in MODALITIES:
        ref = str(ModelRef(name=embedder_for(modality).name, version=BASE_VERSION))
        point = policy.base_operating_points.get(ref)
        if point is None:
            raise PolicyError(f"the policy has no operating point for {ref}")
        calibrations[modality] = Calibration.model_validate(point.calibration.model_dump())
        floors[modality] = point.threshold
    return LoginPolicy(
        calibrations=calibrations,
        floors=floors,
        fusion=policy.fusion,
        accept_threshold=policy.accept_threshold,
        target_fmrs={"all": policy.target_fmr},
    )


def read_login_policy(path: Path) -> LoginPolicy:
    return login_policy(load_policy(path))
