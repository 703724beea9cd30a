"""Keeping a service's background tasks alive, and saying so when they are not.

A consumer loop that dies silently is the worst failure a service can have: HTTP keeps answering
and nothing is consumed. :class:`Supervisor` restarts a task that crashed, with growing delays;
after ``max_restarts`` crashes within ``window_s`` it gives up and sets :attr:`failed`, which the
service waits on to exit non-zero. :meth:`states` feeds ``/readyz``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum

from core.logging import get_logger

log = get_logger(__name__)


class TaskState(StrEnum):
    RUNNING = "ok"
    RESTARTING = "restarting"
    FAILED = "failed"
    STOPPED = "stopped"


@dataclass
class _Supervised:
    name: str
    state: TaskState = TaskState.RUNNING
    crashes: list[float] = field(default_factory=list)
    last_error: str = ""


class Supervisor:
    def __init__(self, *, max_restarts: int = 5, window_s: float = 300.0) -> None:
        self.max_restarts = max_restarts
        self.window_s = window_s
        self.failed = asyncio.Event()
        self._tasks: dict[str, _Supervised] = {}
        self._running: list[asyncio.Task[None]] = []

    def start(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        """Runs ``run()`` until it returns; restarts it if it raises."""
        entry = _Supervised(name)
        self._tasks[name] = entry
        self._running.append(asyncio.create_task(self._keep(entry, run), name=name))

    def states(self) -> dict[str, str]:
        return {name: entry.state.value for name, entry in self._tasks.items()}

    @property
    def healthy(self) -> bool:
        return all(e.state in (TaskState.RUNNING, TaskState.STOPPED) for e in self._tasks.values())

    async def wait(self) -> None:
        """Waits for every task to return (after the service asked them to stop)."""
        await asyncio.gather(*self._running, return_exceptions=True)

    async def _keep(self, entry: _Supervised, run: Callable[[], Awaitable[None]]) -> None:
        while True:
            entry.state = TaskState.RUNNING
            try:
                await run()
            except asyncio.CancelledError:
                entry.state = TaskState.STOPPED
                raise
            except Exception as exc:
                now = time.monotonic()
                entry.crashes = [t for t in entry.crashes if now - t < self.window_s] + [now]
                entry.last_error = repr(exc)
                if len(entry.crashes) > self.max_restarts:
                    entry.state = TaskState.FAILED
                    log.error(
                        "task keeps crashing, giving up",
                        task=entry.name,
                        crashes=len(entry.crashes),
                        error=entry.last_error,
                    )
                    self.failed.set()
                    return
                delay = min(0.5 * 2 ** (len(entry.crashes) - 1), 30.0)
                entry.state = TaskState.RESTARTING
                log.exception("task crashed, restarting", task=entry.name, retry_in_s=delay)
                await asyncio.sleep(delay)
                continue
            entry.state = TaskState.STOPPED
            return
