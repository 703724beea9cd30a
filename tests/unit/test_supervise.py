"""The supervisor restarts crashed tasks, gives up on one that keeps crashing, and says so."""

from __future__ import annotations

import asyncio

from core.supervise import Supervisor


async def test_a_crashed_task_is_restarted_and_reported_running() -> None:
    runs = 0
    release = asyncio.Event()

    async def flaky() -> None:
        nonlocal runs
        runs += 1
        if runs == 1:
            raise RuntimeError("first run dies")
        await release.wait()

    tasks = Supervisor(max_restarts=3)
    tasks.start("consumer", flaky)
    for _ in range(100):
        await asyncio.sleep(0.05)
        if runs == 2:
            break
    assert runs == 2 and tasks.states() == {"consumer": "ok"} and tasks.healthy
    release.set()
    await tasks.wait()
    assert tasks.states() == {"consumer": "stopped"} and not tasks.failed.is_set()


async def test_a_task_that_keeps_crashing_fails_the_supervisor() -> None:
    async def doomed() -> None:
        raise ConnectionError("never comes up")

    tasks = Supervisor(max_restarts=1)
    tasks.start("consumer", doomed)
    await asyncio.wait_for(tasks.failed.wait(), 10)
    assert tasks.states() == {"consumer": "failed"} and not tasks.healthy
