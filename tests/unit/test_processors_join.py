"""The ground-truth join and its expiry index, without Kafka."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bench.support.synthetic import decision, feedback
from schemas import FeedbackLabel, Outcome
from stream_processors import join
from stream_processors.observations import AttemptLabelled, DecisionObserved

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
EXPIRY = 600.0
DEC = join.Source(topic="auth.decisions", partition=1, offset=40)
FB = join.Source(topic="auth.feedback", partition=1, offset=7)


def test_decision_then_feedback() -> None:
    d = decision("a1", "u1", T0, Outcome.REJECT, fused_score=0.3)
    entry, step, found = join.on_decision(None, d, DEC, EXPIRY)
    assert step is join.JoinStep.OPENED
    assert [type(o) for o in found] == [DecisionObserved]
    assert entry.expires_at == T0.timestamp() + EXPIRY and entry.partition == 1

    f = feedback("a1", "u1", T0 + timedelta(seconds=30), FeedbackLabel.GENUINE)
    entry, step, found = join.on_feedback(entry, f, FB, EXPIRY)
    assert step is join.JoinStep.MATCHED and entry.matched
    (label,) = found
    assert isinstance(label, AttemptLabelled)
    assert (label.source, label.offset) == ("auth.feedback:1", 7)
    assert label.event_time == T0 + timedelta(seconds=30), "labelled when the join completed"
    assert (label.outcome, label.label, label.fused_score) == (
        Outcome.REJECT,
        FeedbackLabel.GENUINE,
        0.3,
    )


def test_feedback_first_then_decision_labels_at_the_later_time() -> None:
    # The terminal's feedback is processed first (another topic), though stamped later.
    f = feedback("a1", "u1", T0 + timedelta(seconds=30), FeedbackLabel.IMPOSTOR)
    entry, step, found = join.on_feedback(None, f, FB, EXPIRY)
    assert step is join.JoinStep.OPENED and found == []
    d = decision("a1", "u1", T0 + timedelta(seconds=5), Outcome.ACCEPT)
    entry, step, found = join.on_decision(entry, d, DEC, EXPIRY)
    assert step is join.JoinStep.MATCHED
    observed, label = found
    assert isinstance(observed, DecisionObserved) and isinstance(label, AttemptLabelled)
    assert label.event_time == T0 + timedelta(seconds=30), "counted when both were known"
    # ... but it came from the decision record: it says the decision partition is at 12:00:05.
    assert label.record_time == T0 + timedelta(seconds=5)
    assert (label.source, label.offset) == ("auth.decisions:1", 40)


def test_replays_emit_again_and_duplicates_do_not() -> None:
    d = decision("a1", "u1", T0, Outcome.ACCEPT)
    f = feedback("a1", "u1", T0, FeedbackLabel.GENUINE)
    entry, _, _ = join.on_decision(None, d, DEC, EXPIRY)
    entry, _, first = join.on_feedback(entry, f, FB, EXPIRY)

    # The same records again (a crash before the commit): same observations, same offsets.
    again, step, found = join.on_feedback(entry, f, FB, EXPIRY)
    assert step is join.JoinStep.REPLAYED and found == first and again == entry
    _, step, found = join.on_decision(entry, d, DEC, EXPIRY)
    assert step is join.JoinStep.REPLAYED
    assert [type(o) for o in found] == [DecisionObserved], "the label came from the feedback"

    # Other records for the same attempt: the first decision and feedback win.
    other = join.Source(topic="auth.feedback", partition=1, offset=99)
    contrary = feedback("a1", "u1", T0, FeedbackLabel.IMPOSTOR)
    kept, step, found = join.on_feedback(entry, contrary, other, EXPIRY)
    assert step is join.JoinStep.DUPLICATE and found == [] and kept == entry


def test_entries_survive_json() -> None:
    entry, _, _ = join.on_decision(None, decision("a1", "u1", T0, Outcome.ACCEPT), DEC, EXPIRY)
    assert join.JoinEntry.model_validate_json(entry.model_dump_json()) == entry


def test_keys_keep_users_apart() -> None:
    assert join.join_key("u1", "a1") != join.join_key("u2", "a1")


def test_expiry_index() -> None:
    index = join.ExpiryIndex()
    index.add(0, 10.0, "dropped")  # not loaded yet: the load will see the table instead
    assert not index.loaded(0)
    index.load(0, [(30.0, "b"), (10.0, "a")])
    index.add(0, 20.0, "c")
    index.add(1, 5.0, "other partition, not loaded")
    assert index.due(0, 25.0) == ["a", "c"]
    assert index.due(0, 25.0) == []
    assert index.due(1, 100.0) == []
    index.forget({0})
    assert not index.loaded(0)
