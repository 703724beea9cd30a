"""The trainer's section (``KIBALOCK_TRAINER__*``), read by the trainer (LifeModo)."""

from __future__ import annotations

from core.settings.base import Section


class TrainerSection(Section):
    # Whether retrain triggers start training at all.
    enabled: bool = True
    # Publish a version that passed the trainer's own evaluation, or leave it for an operator.
    auto_publish: bool = True
