"""A processors worker in a child process, as deployed (``python -m stream_processors``).

Used by the benchmark and the integration tests: start it with settings passed as
environment variables, wait for ``/healthz``, read ``/metrics``, stop it gracefully or kill it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
from prometheus_client.parser import text_string_to_metric_families

from core.settings import Settings

_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True, slots=True)
class Scrape:
    """One reading of ``/metrics``: sample name → [(labels, value)]."""

    samples: dict[str, list[tuple[dict[str, str], float]]]

    def total(self, name: str, **labels: str) -> float:
        """Sum of the samples of ``name`` whose labels include ``labels``."""
        return sum(
            value
            for sample_labels, value in self.samples.get(name, [])
            if all(sample_labels.get(k) == v for k, v in labels.items())
        )


class WorkerProcess:
    def __init__(self, settings: Settings, log_path: Path) -> None:
        # A log file, not a terminal: one JSON record a line.
        self.env = {**os.environ, **settings.model_copy(update={"log_json": True}).to_env()}
        self.log_path = log_path
        self.url = f"http://{settings.processors.http_host}:{settings.processors.http_port}"
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> None:
        self._log = self.log_path.open("ab")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "stream_processors"],
            env=self.env,
            cwd=_ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    async def wait_healthy(self, timeout_s: float = 60.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        async with httpx.AsyncClient(timeout=2.0) as client:
            while loop.time() < deadline:
                if not self.running():
                    raise RuntimeError(f"the worker exited; see {self.log_path}")
                try:
                    if (await client.get(f"{self.url}/healthz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass  # not listening yet
                await asyncio.sleep(0.2)
        raise TimeoutError(f"the worker was not healthy within {timeout_s} s; see {self.log_path}")

    async def scrape(self) -> Scrape:
        async with httpx.AsyncClient(timeout=5.0) as client:
            text = (await client.get(f"{self.url}/metrics")).text
        samples: dict[str, list[tuple[dict[str, str], float]]] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
        return Scrape(samples)

    def kill(self) -> None:
        """SIGKILL: no commit, no flush (what a crash looks like)."""
        if self._proc is not None and self.running():
            self._proc.send_signal(signal.SIGKILL)
            self._proc.wait()
        self._close_log()

    def stop(self, timeout_s: float = 30.0) -> int | None:
        """SIGTERM and wait: the worker commits and exits; returns its exit code."""
        if self._proc is None:
            return None
        if self.running():
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._close_log()
        return self._proc.returncode

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
