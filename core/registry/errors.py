"""Why a model version is refused: one exception, a reason code and a human detail."""

from __future__ import annotations


class ModelRejected(Exception):
    """``reason`` is the code reported on ``models.activations`` (``checksum_mismatch``…)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
