"""The post-swap watch: when production behaviour leaves its bounds."""

from __future__ import annotations

from auth_gateway.swap_watch import ScoreHistory, SwapWatch
from core.settings import ModelsSection

SETTINGS = ModelsSection(
    watch_window_s=60, watch_min_decisions=4, max_error_rate=0.25, max_genuine_drop=0.2
)


def _watch(baseline: float | None) -> SwapWatch:
    return SwapWatch("face-embedder", "1.2.0", "1.1.0", baseline, 100.0, SETTINGS)


def test_nothing_is_judged_before_enough_decisions() -> None:
    watch = _watch(0.9)
    assert [watch.observe(error=True, genuine=None) for _ in range(3)] == [None] * 3
    breach = watch.observe(error=True, genuine=None)
    assert breach is not None and breach.reason == "error_rate"


def test_genuine_scores_below_the_baseline_drift() -> None:
    healthy = _watch(0.9)
    scores = (0.8, 0.85, 0.9, 0.75)
    assert all(
        healthy.observe(error=False, genuine=s, user=f"u{i}") is None for i, s in enumerate(scores)
    )
    collapsed = _watch(0.9)
    low = (0.1, 0.2, 0.05, 0.3)
    breaches = [collapsed.observe(error=False, genuine=s, user=f"u{i}") for i, s in enumerate(low)]
    assert breaches[-1] is not None and breaches[-1].reason == "score_drift"
    assert "1.1.0's 0.90" in breaches[-1].detail
    # Without a baseline the floor applies.
    floor = _watch(None)
    floored = [floor.observe(error=False, genuine=0.45, user=f"u{i}") for i in range(4)]
    assert floored[-1] is not None


def test_a_few_hostile_attempts_of_one_person_cannot_roll_back() -> None:
    watch = _watch(0.9)
    # One person's own face with other voices, again and again: their voice scores are low.
    hostile = [watch.observe(error=False, genuine=0.05, user="mallory") for _ in range(20)]
    assert hostile == [None] * 20
    # Genuine users keep the per-user median where it belongs.
    honest = [watch.observe(error=False, genuine=0.88, user=f"u{i}") for i in range(4)]
    assert honest == [None] * 4


def test_window_expiry_and_baseline_history() -> None:
    watch = _watch(None)
    assert not watch.expired(150.0) and watch.expired(161.0)
    history = ScoreHistory()
    assert history.median(3) is None
    for s in (0.7, 0.9, 0.8):
        history.add(s)
    assert history.median(3) == 0.8
