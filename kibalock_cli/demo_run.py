"""``kibalock demo``: the whole login loop on the local stack, with real faces and voices.

1. starts a gateway (``kibalock gateway``, its own process) in a fresh ``demo`` namespace;
2. enrols simulated people through its REST API;
3. a terminal sends genuine logins, impostors, wrong digits and replay attacks over Kafka;
4. the decisions come back on ``auth.decisions`` and are shown against what was expected;
5. the gateway is stopped gracefully.
"""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from pydantic import SecretStr
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from auth_gateway.terminal_auth import new_master_key, terminal_key
from core import docstore
from core.bus import EventProducer, EventReader, ensure_topics
from core.objectstore import ObjectStore
from core.settings import Settings
from devstack.process import free_port
from producers.people import chimeric_people
from producers.simulator import Sent, run_scenarios
from producers.terminal import Terminal
from schemas import AuthDecision

NAMESPACE = "demo"


class DemoError(RuntimeError):
    """The demo cannot go on; the message says why and where to look."""


console = Console()


async def _reset(settings: Settings) -> None:
    """A fresh demo every run: last run's media would otherwise be flagged as replays."""
    client = docstore.client(settings)
    await client.drop_database(settings.mongo.database)
    await client.close()
    objects = ObjectStore(settings)
    await objects.ensure_buckets()
    for logical in ("samples", "training"):
        await objects.delete_prefix(objects.bucket(logical), "")
    await ensure_topics(settings)


def _start_gateway(
    settings: Settings, key_file: Path, api_key: str, terminal_master: str, port: int, log: Path
) -> subprocess.Popen[bytes]:
    gateway = settings.gateway.model_copy(
        update={
            "template_key_file": key_file,
            "api_key": SecretStr(api_key),
            "terminal_master_key": SecretStr(terminal_master),
            # The simulator is a whole crowd behind one terminal, faster than any real queue.
            "challenges_per_terminal_minute": 600,
            "http_port": port,
            "consumer_group": f"auth-gateway-{NAMESPACE}",
        }
    )
    env = {
        **os.environ,
        # dev: the demo runs on the local stack, whose object-store and MongoDB defaults a
        # gateway refuses otherwise.
        **settings.model_copy(update={"gateway": gateway, "log_json": True, "dev": True}).to_env(),
    }
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "kibalock_cli.main", "gateway"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def _wait_ready(
    url: str, proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 180
) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(base_url=url, timeout=2) as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise DemoError(f"the gateway exited with {proc.returncode}; see {log}")
            try:
                if (await http.get("/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.5)
    raise DemoError(f"the gateway was not ready after {timeout_s:.0f} s; see {log}")


async def _collect(
    settings: Settings, wanted: set[str], timeout_s: float
) -> dict[str, AuthDecision]:
    found: dict[str, AuthDecision] = {}
    deadline = time.monotonic() + timeout_s
    async with EventReader(["auth.decisions"], settings) as reader:
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("decisions", total=len(wanted))
            while len(found) < len(wanted) and time.monotonic() < deadline:
                for event in await reader.read():
                    if isinstance(event, AuthDecision) and event.attempt_id in wanted:
                        found[event.attempt_id] = event
                progress.update(task, completed=len(found))
    return found


def _report(sent: list[Sent], decisions: dict[str, AuthDecision]) -> int:
    table = Table(title="KibaLock demo: decisions")
    for column in ("user", "scenario", "expected", "decision", "reasons", "fused", "ms"):
        table.add_column(column)
    wrong = 0
    for item in sent:
        decision = decisions.get(item.attempt.attempt_id)
        outcome = decision.outcome.value if decision else "missing"
        ok = outcome == item.expected
        wrong += not ok
        table.add_row(
            item.claimed,
            item.scenario.value,
            item.expected,
            f"[{'green' if ok else 'red'}]{outcome}[/]",
            ", ".join(decision.reasons) if decision else "",
            f"{decision.fused_score:.3f}" if decision and decision.fused_score is not None else "-",
            f"{decision.latency_ms:.0f}" if decision else "-",
        )
    console.print(table)
    console.print(f"{len(sent) - wrong}/{len(sent)} decisions as expected")
    return wrong


async def run_demo(base: Settings, data: Path, people: int, out: Path) -> int:
    settings = base.namespaced(NAMESPACE)
    with console.status("resetting the demo namespace"):
        await _reset(settings)
    port = free_port()
    api_key = base64.urlsafe_b64encode(os.urandom(18)).decode()
    terminal_master = new_master_key()
    log = out / "gateway.log"
    with tempfile.TemporaryDirectory() as secrets:
        key_file = Path(secrets) / "template.key"
        key_file.write_text(base64.b64encode(os.urandom(32)).decode())
        key_file.chmod(0o600)
        gateway = _start_gateway(settings, key_file, api_key, terminal_master, port, log)
        url = f"http://127.0.0.1:{port}"
        try:
            with console.status(f"starting the gateway (models load); log: {log}"):
                await _wait_ready(url, gateway, log)
            crowd = chimeric_people(data, people, tag=str(int(time.time())))
            async with httpx.AsyncClient(base_url=url, timeout=120) as http:
                for person in crowd:
                    files = [
                        ("faces", (f"f{i}.jpg", d, "image/jpeg"))
                        for i, d in enumerate(person.enrol_photos())
                    ]
                    files += [
                        ("voices", (f"v{i}.wav", d, "audio/wav"))
                        for i, d in enumerate(person.enrol_utterances())
                    ]
                    response = await http.post(
                        "/enroll",
                        headers={"X-API-Key": api_key},
                        data={"user_id": person.user_id},
                        files=files,
                    )
                    if response.status_code != 200:
                        raise DemoError(f"enrolling {person.user_id} failed: {response.text}")
                    console.print(
                        f"enrolled {person.user_id} "
                        f"(face {person.face_identity}, voice {person.speaker})"
                    )
            async with EventProducer(settings, producer_name="demo-terminal") as producer:
                terminal = Terminal(
                    "demo-terminal-1",
                    producer=producer,
                    objects=ObjectStore(settings),
                    gateway_url=url,
                    key=SecretStr(terminal_key(SecretStr(terminal_master), "demo-terminal-1")),
                )
                try:
                    sent = await run_scenarios(terminal, crowd)
                finally:
                    await terminal.close()
            decisions = await _collect(
                settings, {s.attempt.attempt_id for s in sent}, timeout_s=60 + 10 * len(sent)
            )
            wrong = _report(sent, decisions)
        finally:
            gateway.send_signal(signal.SIGTERM)
            code = gateway.wait(timeout=60)
            console.print(f"gateway stopped (exit {code}); its log: {log}")
    return 1 if wrong else 0
