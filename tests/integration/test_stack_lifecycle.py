"""`stack up` / `status` / `down` on a second, private stack (own ports and data directory)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.settings import Settings
from devstack import process, stack
from devstack.process import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def private(base_settings: Settings, tmp_path: Path) -> Settings:
    return base_settings.model_copy(
        update={
            "kafka": base_settings.kafka.model_copy(
                update={"bootstrap": f"127.0.0.1:{free_port()}"}
            ),
            "mongo": base_settings.mongo.model_copy(
                update={"uri": f"mongodb://127.0.0.1:{free_port()}/"}
            ),
            "s3": base_settings.s3.model_copy(update={"endpoint": f"127.0.0.1:{free_port()}"}),
            "stack": base_settings.stack.model_copy(
                update={"data_dir": tmp_path / "stack", "kafka_controller_port": free_port()}
            ),
        }
    )


def test_up_status_down_are_idempotent(private: Settings) -> None:
    try:
        first = asyncio.run(stack.up(private))
        assert sorted(first.started) == ["ferretdb", "kafka", "s3"]
        assert all(s.healthy for s in first.services)
        assert "auth.attempts" in first.provisioned.topics_created

        again = asyncio.run(stack.up(private))
        assert again.started == [], "a second up reuses the running services"
        assert again.provisioned.topics_created == []

        statuses = asyncio.run(stack.status(private))
        assert [s.name for s in statuses] == ["kafka", "ferretdb", "s3"]
        assert all(s.healthy and s.pid for s in statuses)
        assert {s.address for s in statuses} == {
            private.kafka.bootstrap,
            private.mongo.uri.removeprefix("mongodb://").rstrip("/"),
            private.s3.endpoint,
        }
        assert "4.4.0" in statuses[0].version and "1.24.2" in statuses[1].version

        assert sorted(stack.down(private)) == ["ferretdb", "kafka", "s3"]
        assert stack.down(private) == [], "a second down has nothing to stop"
        assert not any(s.healthy for s in asyncio.run(stack.status(private)))

        # Restart on the same data directory: storage already formatted, topics kept.
        restarted = asyncio.run(stack.up(private))
        assert restarted.provisioned.topics_created == []
        print(f"first up {first.seconds} s, up after down {restarted.seconds} s")
    finally:
        stack.down(private)


def test_down_leaves_foreign_processes_alone(private: Settings) -> None:
    # A process on the stack's Kafka port that this stack did not start.
    port = int(private.kafka.bootstrap.rsplit(":", 1)[1])
    squatter = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import socket, sys, time; s = socket.socket(); "
            "s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen(); time.sleep(60)",
            str(port),
        ]
    )
    try:
        for _ in range(50):
            if process.port_open("127.0.0.1", port):
                break
            time.sleep(0.1)
        with pytest.raises(stack.StackError, match=f"kafka: port 127.0.0.1:{port} is taken"):
            asyncio.run(stack.up(private))
        assert stack.down(private) == []
        assert squatter.poll() is None, "down must not touch a process it did not start"
    finally:
        squatter.kill()
        stack.down(private)


def test_status_cli_shows_three_healthy_services(base_settings: Settings) -> None:
    result = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "kibalock"), "stack", "status"],
        capture_output=True,
        check=False,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    out = result.stderr + result.stdout
    assert out.count("healthy") == 3
    for needle in ("Apache Kafka 4.4.0", "FerretDB 1.24.2", "versitygw", "19092", "27117", "9100"):
        assert needle in out
