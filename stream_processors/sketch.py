"""A mergeable latency histogram with bounded relative error (the DDSketch idea).

A window's p50/p95 cannot keep every latency (a five-minute window at a thousand decisions a
second would re-serialise 300,000 floats into the changelog on every update). Values fall into
logarithmic buckets instead: bucket ``i`` holds ``(gamma**(i-1), gamma**i]`` and answers with a
value within ``RELATIVE_ACCURACY`` of anything in it. Buckets merge by addition, so hopping
windows are sums of their panes' sketches.

Percentiles use the nearest-rank definition: the ``q``-quantile of ``n`` values is the
``ceil(q * n)``-th smallest. The answer is within ``RELATIVE_ACCURACY`` of that exact value.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field

RELATIVE_ACCURACY = 0.02
_GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
_LOG_GAMMA = math.log(_GAMMA)
# Latencies at or under a microsecond are all "zero" for a login flow.
_MIN_MS = 1e-3


class LatencySketch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    zeros: int = Field(default=0, ge=0)
    buckets: dict[int, int] = Field(default_factory=dict)

    @property
    def count(self) -> int:
        return self.zeros + sum(self.buckets.values())

    def add(self, value_ms: float) -> None:
        if value_ms <= _MIN_MS:
            self.zeros += 1
            return
        index = math.ceil(math.log(value_ms) / _LOG_GAMMA)
        self.buckets[index] = self.buckets.get(index, 0) + 1

    def merge(self, other: LatencySketch) -> None:
        self.zeros += other.zeros
        for index, n in other.buckets.items():
            self.buckets[index] = self.buckets.get(index, 0) + n

    def quantile(self, q: float) -> float | None:
        """Nearest-rank quantile, ``q`` in (0, 1]; None when empty."""
        if not 0 < q <= 1:
            raise ValueError("q must be in (0, 1]")
        total = self.count
        if total == 0:
            return None
        rank = max(1, math.ceil(q * total))
        seen = self.zeros
        if seen >= rank:
            return 0.0
        for index in sorted(self.buckets):
            seen += self.buckets[index]
            if seen >= rank:
                # The value that is within RELATIVE_ACCURACY of both bucket bounds.
                return 2 * _GAMMA**index / (_GAMMA + 1)
        raise AssertionError("rank beyond the total")  # unreachable: seen ends at total
