"""Outages are told apart from bad records, through the exception chain too."""

from __future__ import annotations

from pymongo.errors import ServerSelectionTimeoutError

from core.transient import is_transient


def _wrapped(inner: BaseException) -> RuntimeError:
    try:
        try:
            raise inner
        except BaseException as exc:
            raise RuntimeError("store call failed") from exc
    except RuntimeError as outer:
        return outer


def test_outages_are_transient() -> None:
    assert is_transient(ConnectionRefusedError())
    assert is_transient(ServerSelectionTimeoutError("no servers"))
    assert is_transient(_wrapped(TimeoutError()))


def test_bugs_and_bad_records_are_not() -> None:
    assert not is_transient(ValueError("bad record"))
    assert not is_transient(KeyError("face"))
    assert not is_transient(_wrapped(ValueError("bad")))
