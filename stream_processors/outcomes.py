"""What counts as right and wrong: the definitions every metric and trigger uses.

- A **labelled attempt** is a decision (``auth.decisions``) joined by ``attempt_id`` with its
  ground truth (``auth.feedback``). Only labelled attempts enter accuracy, FAR and FRR; every
  decision enters the volume (``attempts``) and the latency figures.
- **Genuine** means the feedback label is ``genuine``; **impostor** means ``impostor`` or
  ``attack`` (a presentation attack is an impostor that cheats).
- An attempt is **accepted** iff its outcome is ``accept``. A ``retry`` (unusable sample) is not
  an acceptance: for a genuine user it counts as a false reject, as in ISO/IEC 19795-1 where a
  failure to acquire is part of the false reject rate (a face detector that stops finding
  faces must show up as a rising FRR); for an impostor it is a correct rejection.
- **FAR** = accepted impostors / impostors; **FRR** = non-accepted genuine / genuine;
  **accuracy** = correct / labelled = 1 - (false accepts + false rejects) / labelled.
  A rate over zero trials is undefined (None), never 0.

Lockouts count differently (see ``lockouts``): there a ``retry`` is neither a failure nor a
success, because the user was asked again rather than refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas import FeedbackLabel, Outcome


@dataclass(frozen=True, slots=True)
class Verdict:
    genuine: bool
    accepted: bool

    @property
    def false_accept(self) -> bool:
        return self.accepted and not self.genuine

    @property
    def false_reject(self) -> bool:
        return self.genuine and not self.accepted

    @property
    def correct(self) -> bool:
        return not (self.false_accept or self.false_reject)


def verdict(outcome: Outcome, label: FeedbackLabel) -> Verdict:
    return Verdict(genuine=label is FeedbackLabel.GENUINE, accepted=outcome is Outcome.ACCEPT)


def rate(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None
