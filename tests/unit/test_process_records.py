"""Pid records: a recycled pid is never taken for one of ours."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from devstack import process


def test_a_started_process_is_ours_until_it_exits(tmp_path: Path) -> None:
    pid_file = tmp_path / "run" / "sleeper.pid"
    record = process.spawn(
        [sys.executable, "-c", "import time; time.sleep(30)"],
        pid_file=pid_file,
        log=tmp_path / "sleeper.log",
        cwd=tmp_path,
        env={},
    )
    assert process.read_record(pid_file) == record
    assert process.stop(pid_file) is True
    assert process.read_record(pid_file) is None
    assert not pid_file.exists()
    assert process.stop(pid_file) is False


def test_a_record_whose_start_time_differs_is_stale(tmp_path: Path) -> None:
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        pid_file = tmp_path / "x.pid"
        fake = process.ProcessRecord(pid=other.pid, start_ticks=1, argv=["x"], log=tmp_path / "l")
        pid_file.write_text(fake.model_dump_json())
        assert process.read_record(pid_file) is None
        assert process.stop(pid_file) is False
        assert other.poll() is None, "a process we did not start is never signalled"
    finally:
        other.kill()
        other.wait()
