"""Audit finding 19: the processors read two faust internals; a faust release that renamed
either stops the worker at start-up with a message naming it, instead of letting idle
detection or readiness go silently wrong."""

from __future__ import annotations

from typing import Any

import pytest
from faust.tables.recovery import Recovery
from faust.transport.consumer import Consumer

from core.settings import Settings
from stream_processors.app import ProcessorApp


def _renaming(cls: type, attribute: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A faust whose ``cls`` keeps ``attribute`` under another name (as a release might)."""
    original = vars(cls)["__init__"]

    def renamed(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        setattr(self, f"{attribute}_v2", self.__dict__.pop(attribute))

    monkeypatch.setattr(cls, "__init__", renamed)


def test_the_installed_faust_has_what_the_processors_read() -> None:
    processor = ProcessorApp(Settings())
    assert not processor.started


@pytest.mark.parametrize(
    ("cls", "attribute"), [(Consumer, "_committed_offset"), (Recovery, "completed")]
)
def test_a_renamed_internal_stops_the_processors_at_start(
    cls: type, attribute: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _renaming(cls, attribute, monkeypatch)
    with pytest.raises(RuntimeError, match=attribute):
        ProcessorApp(Settings())
