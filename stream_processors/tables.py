"""Faust tables holding pydantic state, serialised by pydantic itself (JSON bytes).

Faust's own JSON codec would hand back plain dicts after recovery but the objects as stored
before it; storing pydantic's bytes makes both paths identical. The memory store keeps the
bytes; a restarted worker rebuilds it by replaying the table's changelog topic.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)


class ModelTable(Generic[M]):
    def __init__(self, table: Any, model: type[M]) -> None:
        self.table = table  # a faust.Table with value_type=bytes
        self.model = model

    def get(self, key: str) -> M | None:
        raw = self.table.get(key)
        return None if raw is None else self.model.model_validate_json(raw)

    def put(self, key: str, value: M) -> None:
        self.table[key] = value.model_dump_json().encode()

    def delete(self, key: str) -> None:
        self.table.pop(key, None)

    def keys(self) -> Iterable[str]:
        return list(self.table.keys())

    def items(self) -> Iterable[tuple[str, M]]:
        for key, raw in list(self.table.items()):
            if raw is not None:
                yield key, self.model.model_validate_json(raw)


class WriteBack(Generic[M]):
    """Reads through to a table and holds writes until ``flush``.

    The metrics stage takes observations in batches; a pane touched by a hundred observations
    of a batch is then written to the changelog once, not a hundred times. ``flush`` must run
    before the batch's records are acknowledged (it does: at the end of the batch).
    """

    def __init__(self, table: ModelTable[M]) -> None:
        self.table = table
        self._cache: dict[str, M | None] = {}
        self._dirty: set[str] = set()

    def get(self, key: str) -> M | None:
        if key not in self._cache:
            self._cache[key] = self.table.get(key)
        return self._cache[key]

    def put(self, key: str, value: M) -> None:
        self._cache[key] = value
        self._dirty.add(key)

    def delete(self, key: str) -> None:
        self._cache[key] = None
        self._dirty.add(key)

    def keys(self) -> Iterable[str]:
        known = set(self.table.keys()) | set(self._cache)
        return [key for key in known if self._cache.get(key, True) is not None]

    def flush(self) -> None:
        for key in self._dirty:
            value = self._cache[key]
            if value is None:
                self.table.delete(key)
            else:
                self.table.put(key, value)
        self._dirty.clear()
        self._cache.clear()
