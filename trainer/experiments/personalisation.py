"""The personalisation experiment: does a per-user voice model help its user on their noisy line,
without letting anyone else in?

From a data folder's speakers (``voices/``), each speaker's clips are shuffled (seeded) and
split into three disjoint pools: *enrolment* (three clean utterances: the template), *held
back* (utterances captured both clean and by the degraded terminal; never trained on) and
*curated* (``curated`` utterances drawn from the remaining clips, captured by the degraded
terminal: what the gateway would have kept from that user's logins there). Utterances are
``clips_per_utterance`` digit clips joined, as in the domain-shift experiment.

Speakers are split, seeded, into an *enrolled* population and an identity-disjoint *guard*.
Every enrolled speaker in turn is the subject: the production code fits their personal model
(:func:`trainer.personal.fit_personal`) on the enrolled population's enrolment and curated
rows, and judges it (:func:`trainer.personal.judge`) on the subject's held-back utterances and
on every guard utterance, at the packaged voice model's operating threshold. Base embeddings
are cached by the bytes analysed, so reruns only fit and score.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from core.biometrics.dataset import read_voices
from core.biometrics.degrade import CLEAN, Condition
from core.biometrics.policy import load_policy
from core.biometrics.scoring import ScoringConfig, template_score
from core.biometrics.thresholds import Rate
from kibalock_cli.eval_cache import AnalysisCache
from schemas.model_catalog import BASE_VERSION, VOICE_EMBEDDER, Modality, ModelRef
from trainer.champion import ChampionConfig, raw_threshold
from trainer.experiments.corpus import Analyser, Embedded, MediaSample, capture, joined
from trainer.features import ENROLMENT, FeatureSet
from trainer.personal import (
    DEFAULT_CONFIG,
    PersonalConfig,
    PersonalParams,
    fit_personal,
    judge,
)
from trainer.pipeline import JobFailed

HELD_CLEAN = "held-clean"  # a held-back utterance as the clean terminal captured it


class PersonalisationConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    degraded: Condition
    curated: int = Field(default=50, ge=5, description="curated samples per user (the trigger)")
    held_back: int = Field(default=3, ge=1, description="held-back utterances per user")
    enrol: int = Field(default=3, ge=1)
    clips_per_utterance: int = Field(default=3, ge=1)
    guard_fraction: float = Field(default=1 / 3, gt=0.0, lt=1.0)
    max_users: int | None = Field(default=None, ge=4)
    seed: int = 0


class PersonalisationReport(BaseModel):
    degraded_condition: Condition
    subjects: int
    guard_users: int
    promoted: int
    not_promoted: int
    failed: dict[str, int]
    median_degraded_before: float = Field(description="median over subjects of their medians")
    median_degraded_after: float
    subjects_whose_median_rose: int
    # Rates of acceptance (``errors`` counts the accepted trials), at the operating threshold.
    genuine_accept_degraded_before: Rate
    genuine_accept_degraded_after: Rate
    genuine_accept_clean_before: Rate
    genuine_accept_clean_after: Rate
    guard_fmr_before: Rate = Field(description="every guard utterance against every subject")
    guard_fmr_after: Rate
    seconds: float


def _pools(
    root: Path, config: PersonalisationConfig
) -> tuple[list[MediaSample], list[MediaSample], list[MediaSample]]:
    """(enrolment, held back, curated) utterances of every speaker, from disjoint clips."""
    rng = np.random.default_rng(config.seed)
    per = config.clips_per_utterance
    enrol, held, curated = [], [], []
    for speaker, digits in sorted(read_voices(root).items())[: config.max_users]:
        clips = [path for _, paths in sorted(digits.items()) for path in paths]
        order = [clips[i] for i in rng.permutation(len(clips))]
        a, b = config.enrol * per, (config.enrol + config.held_back) * per
        pool = order[b:]
        if len(pool) < per:
            continue
        for n in range(config.enrol):
            group = order[n * per : (n + 1) * per]
            enrol.append(MediaSample(f"voice/{speaker}/enrol{n}", speaker, joined(group)))
        for n in range(config.held_back):
            group = order[a + n * per : a + (n + 1) * per]
            held.append(MediaSample(f"voice/{speaker}/held{n}", speaker, joined(group)))
        for n in range(config.curated):
            group = [pool[i] for i in rng.choice(len(pool), size=per, replace=False)]
            curated.append(MediaSample(f"voice/{speaker}/curated{n}", speaker, joined(group)))
    return enrol, held, curated


def _rows(embedded: Embedded, condition: str) -> FeatureSet:
    users = embedded.user_ids
    return FeatureSet(embedded.vectors, users, (condition,) * len(users), embedded.sample_ids)


def _accepted(
    rows: FeatureSet,
    template: NDArray[np.float32],
    params: PersonalParams,
    threshold: float,
    scoring: ScoringConfig,
) -> tuple[int, int]:
    """How many of ``rows`` reach ``threshold`` against the template alone, and with the
    personal model."""
    before = np.asarray([template_score(v, template, scoring) for v in rows.vectors])
    after = np.maximum(before, params.scores(rows.vectors)) if len(rows) else before
    return int(np.sum(before >= threshold)), int(np.sum(after >= threshold))


def _union(*parts: FeatureSet) -> FeatureSet:
    return FeatureSet(
        vectors=np.concatenate([p.vectors for p in parts]).astype(np.float32),
        user_ids=sum((p.user_ids for p in parts), ()),
        conditions=sum((p.conditions for p in parts), ()),
        sample_ids=sum((p.sample_ids for p in parts), ()),
    )


def captured(
    root: Path, cache_dir: Path, config: PersonalisationConfig, models_dir: Path | None = None
) -> FeatureSet:
    """Every utterance of the folder as the experiment's terminals captured it, embedded."""
    enrol, held, curated = _pools(root, config)
    analyse, cache = Analyser(Modality.VOICE, models_dir), AnalysisCache(cache_dir)
    noisy = config.degraded.name
    return _union(
        _rows(capture(enrol, CLEAN, analyse, cache), ENROLMENT),
        _rows(capture(held, CLEAN, analyse, cache), HELD_CLEAN),
        _rows(capture(held, config.degraded, analyse, cache), f"held-{noisy}"),
        _rows(capture(curated, config.degraded, analyse, cache), noisy),
    )


def run_personalisation(
    root: Path,
    cache_dir: Path,
    config: PersonalisationConfig,
    models_dir: Path | None = None,
    personal: PersonalConfig = DEFAULT_CONFIG,
) -> PersonalisationReport:
    started = time.perf_counter()
    every = captured(root, cache_dir, config, models_dir)
    return evaluate(every, config, personal, started)


def evaluate(
    every: FeatureSet,
    config: PersonalisationConfig,
    personal: PersonalConfig = DEFAULT_CONFIG,
    started: float | None = None,
) -> PersonalisationReport:
    """Each enrolled speaker's personal model, fitted and judged (see the module docstring)."""
    started = time.perf_counter() if started is None else started
    noisy = config.degraded.name
    users = sorted(set(every.user_ids))
    order = np.random.default_rng(config.seed).permutation(len(users))
    guard_users = {users[i] for i in order[: max(2, round(len(users) * config.guard_fraction))]}
    enrolled = [u for u in users if u not in guard_users]
    guard = every.of_users(guard_users)
    population = every.of_users(set(enrolled))
    train = population.in_conditions({ENROLMENT, noisy})
    probes = population.in_conditions({HELD_CLEAN, f"held-{noisy}"})
    base = ModelRef(name=VOICE_EMBEDDER, version=BASE_VERSION)
    point = load_policy().base_operating_points[str(base)]
    threshold = raw_threshold(point)
    scoring = ChampionConfig().scoring

    promoted, failed = 0, Counter[str]()
    medians_before, medians_after, rose = [], [], 0
    hits: Counter[str] = Counter()  # "<set>_before", "<set>_after", "<set>_trials"
    for subject in enrolled:
        try:
            params = fit_personal(subject, train, threshold, personal)
        except JobFailed as exc:
            failed[exc.reason] += 1
            continue
        template = train.of_users({subject}).in_conditions({ENROLMENT}).vectors
        own = probes.of_users({subject})
        verdict = judge(subject, params, template, own, guard, threshold, scoring)
        promoted += verdict.promote
        before, after = (verdict.metrics[f"genuine_median_worst_{w}"] for w in ("before", "after"))
        medians_before.append(before)
        medians_after.append(after)
        rose += after > before
        for name, rows in (
            ("degraded", own.in_conditions({f"held-{noisy}"})),
            ("clean", own.in_conditions({HELD_CLEAN})),
            ("guard", guard),
        ):
            b, a = _accepted(rows, template, params, threshold, scoring)
            hits.update({f"{name}_before": b, f"{name}_after": a, f"{name}_trials": len(rows)})
    judged = len(medians_before)
    return PersonalisationReport(
        degraded_condition=config.degraded,
        subjects=len(enrolled),
        guard_users=len(guard_users),
        promoted=promoted,
        not_promoted=judged - promoted,
        failed=dict(failed),
        median_degraded_before=float(np.median(medians_before)) if judged else 0.0,
        median_degraded_after=float(np.median(medians_after)) if judged else 0.0,
        subjects_whose_median_rose=rose,
        genuine_accept_degraded_before=Rate.of(hits["degraded_before"], hits["degraded_trials"]),
        genuine_accept_degraded_after=Rate.of(hits["degraded_after"], hits["degraded_trials"]),
        genuine_accept_clean_before=Rate.of(hits["clean_before"], hits["clean_trials"]),
        genuine_accept_clean_after=Rate.of(hits["clean_after"], hits["clean_trials"]),
        guard_fmr_before=Rate.of(hits["guard_before"], hits["guard_trials"]),
        guard_fmr_after=Rate.of(hits["guard_after"], hits["guard_trials"]),
        seconds=time.perf_counter() - started,
    )
