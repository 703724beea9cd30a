"""Scoring trials: per-modality rates with held-out calibration, fusion, the challenge check.

Per modality, each user's template is built from the enrolment samples and every trial is
scored by cosine (all template rules, to compare them; the configured one is reported). Each
trial's raw score is then calibrated held out: by a logistic calibration fitted on the trials
that share **no subject** with it (neither the claimed user's nor the probe's face identity or
speaker). Fusion combines those held-out calibrated scores with fixed weights, so no figure is
reported on the scores its parameters were fitted on.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.special import expit

from core.biometrics.dataset import Attempt, AttemptKind, Trial, TrialKind, Utterance
from core.biometrics.evaluation.engines import ChallengeOutcome, ModelInfo, SampleOutcome
from core.biometrics.evaluation.report import (
    ChallengeFailure,
    ChallengeReport,
    FusedReport,
    FusionRuleFigures,
    LoginPoint,
    ModalityReport,
    RuleFigures,
    Timing,
    TrialCounts,
)
from core.biometrics.fusion import FusionConfig, FusionRule, fuse
from core.biometrics.scoring import (
    Calibration,
    ScoringConfig,
    TemplateRule,
    cllr,
    fit_calibration,
    template_score,
)
from core.biometrics.thresholds import (
    DetCurve,
    FloatArray,
    OperatingPoint,
    Rate,
    d_prime,
    det_curve,
    eer_point,
    fnmr_at_fmr,
    operating_point,
    proportion_interval,
)

# Operating points reported: NIST SP 800-63B rev. 3 asks for FMR <= 1e-3.
REPORTED_FMRS = {"1e-2": 1e-2, "1e-3": 1e-3}


def _template(samples: Iterable[SampleOutcome]) -> FloatArray | None:
    vectors = [s.embedding for s in samples if s.status == "ok" and s.embedding is not None]
    return np.stack(vectors).astype(np.float64) if vectors else None


def _raw_scores(
    trials: Sequence[Trial],
    probes: Mapping[str, SampleOutcome],
    templates: Sequence[FloatArray | None],
    config: ScoringConfig,
) -> FloatArray:
    """One raw score per trial; NaN where the probe or the template is unusable."""
    out = np.full(len(trials), np.nan)
    for i, trial in enumerate(trials):
        probe, template = probes[trial.probe], templates[trial.claimed]
        if probe.status == "ok" and probe.embedding is not None and template is not None:
            out[i] = template_score(probe.embedding, template, config)
    return out


def _held_out_llrs(
    raw: FloatArray, genuine: npt.NDArray[np.bool_], claimed: list[str], source: list[str]
) -> tuple[FloatArray, int]:
    """Leave-two-subjects-out calibrated LLRs (NaN stays NaN), and how many were in-sample."""
    valid = ~np.isnan(raw)
    claimed_arr, source_arr = np.array(claimed), np.array(source)
    groups: dict[frozenset[str], list[int]] = defaultdict(list)
    for i, (c, s) in enumerate(zip(claimed, source, strict=True)):
        groups[frozenset((c, s))].append(i)
    in_sample_fit = fit_calibration(raw[valid & genuine], raw[valid & ~genuine])
    llrs = np.full(raw.shape, np.nan)
    in_sample = 0
    for pair, members in groups.items():
        held_out = sorted(pair)
        train = valid & ~np.isin(claimed_arr, held_out) & ~np.isin(source_arr, held_out)
        target = np.array([i for i in members if valid[i]], dtype=np.intp)
        if train[genuine].any() and train[~genuine].any():
            cal = fit_calibration(raw[train & genuine], raw[train & ~genuine])
        else:
            cal, in_sample = in_sample_fit, in_sample + target.size
        llrs[target] = cal.llrs(raw[target])
    return llrs, in_sample


def _operating_points(gen: FloatArray, imp: FloatArray) -> dict[str, OperatingPoint]:
    return {name: fnmr_at_fmr(gen, imp, fmr) for name, fmr in REPORTED_FMRS.items()}


@dataclass
class ModalityResult:
    report: ModalityReport
    curve: DetCurve
    calibrated: dict[tuple[str, int], float | None]  # (probe, claimed) -> P(genuine) held out
    llrs: dict[tuple[str, int], float]  # (probe, claimed) -> held-out LLR, NaN when unusable


def evaluate_modality(
    name: str,
    *,
    trials: Sequence[Trial],
    probes: Mapping[str, SampleOutcome],
    enrolment: Sequence[Sequence[SampleOutcome]],
    subjects: Sequence[str],
    config: ScoringConfig,
    model: ModelInfo,
    calibration: Calibration | None = None,
) -> ModalityResult:
    """Rates on raw scores, and each trial's calibrated score: by ``calibration`` when given
    (fitted on other people), else leave-two-subjects-out (slow on many subjects)."""
    templates = [_template(samples) for samples in enrolment]
    genuine = np.array([t.kind is TrialKind.GENUINE for t in trials])
    raw_by_rule = {
        rule: _raw_scores(trials, probes, templates, config.model_copy(update={"rule": rule}))
        for rule in TemplateRule
    }
    raw = raw_by_rule[config.rule]
    valid = ~np.isnan(raw)
    gen, imp = raw[valid & genuine], raw[valid & ~genuine]
    if gen.size == 0 or imp.size == 0:
        raise RuntimeError(f"{name}: no usable genuine or impostor trials (every sample failed?)")

    if calibration is None:
        llrs, in_sample = _held_out_llrs(
            raw,
            genuine,
            [subjects[t.claimed] for t in trials],
            [subjects[t.source] for t in trials],
        )
    else:
        llrs, in_sample = calibration.llrs(raw), 0
    calibrated: dict[tuple[str, int], float | None] = {
        (t.probe, t.claimed): None if math.isnan(llr) else float(expit(llr))
        for t, llr in zip(trials, llrs, strict=True)
    }
    eer_at = eer_point(gen, imp)
    points = _operating_points(gen, imp)
    failed_probes = {t.probe for t in trials if probes[t.probe].status != "ok"}
    failed_templates = sum(t is None for t in templates)
    claimed = {t.claimed for t in trials}
    report = ModalityReport(
        eer=eer_at.eer,
        eer_threshold=eer_at.threshold,
        fnmr_at_fmr_1e_3=points["1e-3"].fnmr,
        threshold_at_fmr_1e_3=points["1e-3"].threshold,
        operating_points=points,
        trials=TrialCounts(genuine=gen.size, impostor=imp.size),
        failed_to_acquire=len(failed_probes),
        failed_to_enrol=failed_templates,
        fta=Rate.of(len(failed_probes), len({t.probe for t in trials})),
        fte=Rate.of(sum(templates[c] is None for c in claimed), len(claimed)),
        eer_ci95=proportion_interval(round(eer_at.eer * gen.size), gen.size),
        template_rule=config.rule,
        template_rules={
            rule.value: RuleFigures(
                eer=eer_point(r[valid & genuine], r[valid & ~genuine]).eer,
                d_prime=d_prime(r[valid & genuine], r[valid & ~genuine]),
            )
            for rule, r in raw_by_rule.items()
        },
        held_out_cllr=cllr(llrs[valid & genuine], llrs[valid & ~genuine]),
        in_sample_calibrations=in_sample,
        calibration=fit_calibration(
            gen, imp, modality=name, model=model.model, version=model.version
        ),
    )
    llr_by_trial = {(t.probe, t.claimed): float(v) for t, v in zip(trials, llrs, strict=True)}
    return ModalityResult(report, det_curve(gen, imp), calibrated, llr_by_trial)


def _fused_scores(
    attempts: Sequence[Attempt],
    face: Mapping[tuple[str, int], float | None],
    voice: Mapping[tuple[str, int], float | None],
    config: FusionConfig,
) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """Fused score per attempt (-inf when the policy rejects it) and which were rejected."""
    scores = np.empty(len(attempts))
    rejected = np.zeros(len(attempts), dtype=bool)
    for i, a in enumerate(attempts):
        fused = fuse(
            {
                "face": face[(a.face_probe, a.claimed)],
                "voice": voice[(a.voice_probe, a.claimed)],
            },
            config,
        )
        rejected[i] = fused.score is None
        scores[i] = -math.inf if fused.score is None else fused.score
    return scores, rejected


_IMPOSTOR_KINDS = tuple(k for k in AttemptKind if k is not AttemptKind.GENUINE)


def _fusion_figures(scores: FloatArray, kinds: npt.NDArray[np.str_]) -> FusionRuleFigures:
    gen = scores[kinds == AttemptKind.GENUINE]
    zero_effort = scores[kinds == AttemptKind.IMPOSTOR_BOTH]
    every_impostor = scores[kinds != AttemptKind.GENUINE]
    point = fnmr_at_fmr(gen, zero_effort, 1e-3)
    login = fnmr_at_fmr(gen, every_impostor, 1e-3)
    return FusionRuleFigures(
        eer=eer_point(gen, zero_effort).eer,
        fnmr_at_fmr_1e_3=point.fnmr,
        fmr_at_threshold_1e_3={
            k.value: operating_point(gen, scores[kinds == k], point.threshold).fmr
            for k in _IMPOSTOR_KINDS
        },
        login=LoginPoint(
            threshold=login.threshold,
            fnmr=login.fnmr,
            fmr={
                k.value: operating_point(gen, scores[kinds == k], login.threshold).fmr
                for k in _IMPOSTOR_KINDS
            },
            impostor_trials=login.impostor_trials,
            fmr_upper_95=login.fmr_upper_95,
        ),
    )


def evaluate_fusion(
    attempts: Sequence[Attempt],
    face: Mapping[tuple[str, int], float | None],
    voice: Mapping[tuple[str, int], float | None],
    config: FusionConfig,
) -> tuple[FusedReport, dict[str, DetCurve]]:
    """The configured rule's figures, a summary of every rule, and the configured rule's DETs."""
    kinds = np.array([a.kind.value for a in attempts])
    rules = {
        rule.value: _fusion_figures(
            _fused_scores(attempts, face, voice, config.model_copy(update={"rule": rule}))[0],
            kinds,
        )
        for rule in FusionRule
    }
    scores, rejected = _fused_scores(attempts, face, voice, config)
    gen = scores[kinds == AttemptKind.GENUINE]
    zero_effort = scores[kinds == AttemptKind.IMPOSTOR_BOTH]
    eer_at = eer_point(gen, zero_effort)
    points = _operating_points(gen, zero_effort)
    chosen = rules[config.rule.value]
    report = FusedReport(
        eer=eer_at.eer,
        eer_threshold=eer_at.threshold,
        fnmr_at_fmr_1e_3=points["1e-3"].fnmr,
        threshold_at_fmr_1e_3=points["1e-3"].threshold,
        operating_points=points,
        trials=TrialCounts(genuine=gen.size, impostor=zero_effort.size),
        rule=config.rule,
        weights=config.weights,
        missing_policy=config.missing.value,
        fmr_at_threshold_1e_3=chosen.fmr_at_threshold_1e_3,
        login=chosen.login,
        rules=rules,
        attempts={kind.value: int(np.sum(kinds == kind)) for kind in AttemptKind},
        rejected_for_missing_modality={
            kind.value: int(np.sum(rejected & (kinds == kind))) for kind in AttemptKind
        },
    )
    curves = {
        "fused": det_curve(gen, zero_effort),
        "fused, all impostor kinds": det_curve(gen, scores[kinds != AttemptKind.GENUINE]),
    }
    return report, curves


def challenge_report(
    challenges: Sequence[Utterance],
    checks: Mapping[str, ChallengeOutcome | None],
    voices: Mapping[str, SampleOutcome],
) -> ChallengeReport:
    """How many challenges were heard right; ``checks[key]`` is None where the recording of
    ``key`` had no usable audio (its voice status says why)."""
    failures: list[ChallengeFailure] = []
    for utt in challenges:
        outcome = checks[utt.key]
        if outcome is None:
            failures.append(
                ChallengeFailure(
                    key=utt.key, expected=utt.text, heard="", reason=voices[utt.key].status
                )
            )
        elif not outcome.passed:
            failures.append(
                ChallengeFailure(
                    key=utt.key, expected=utt.text, heard=outcome.heard, reason=outcome.reason
                )
            )
    passed = len(challenges) - len(failures)
    return ChallengeReport(
        accuracy=passed / len(challenges) if challenges else math.nan,
        passed=passed,
        trials=len(challenges),
        failures=failures,
    )


def timing(samples: Iterable[Mapping[str, float]]) -> Timing:
    totals = np.array([t["total"] for t in samples if "total" in t])
    if totals.size == 0:
        return Timing(p50=math.nan, p95=math.nan, n=0)
    p50, p95 = np.percentile(totals, [50, 95])
    return Timing(p50=float(p50), p95=float(p95), n=int(totals.size))


def model_info(samples: Iterable[SampleOutcome]) -> ModelInfo:
    for s in samples:
        return ModelInfo(model=s.model, version=s.version)
    return ModelInfo(model="unknown", version="unknown")
