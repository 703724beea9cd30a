"""Starting and stopping the stack's server processes, and knowing which ones are ours.

A pid file records the pid *and* the kernel's start time of the process, so ``stack down`` never
signals a process that merely reused the pid of one we started.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from pydantic import BaseModel


class ProcessRecord(BaseModel):
    pid: int
    start_ticks: int
    argv: list[str]
    log: Path


def _start_ticks(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22 (starttime) follows the parenthesised command name, which may contain spaces.
    fields = stat.rsplit(")", 1)[1].split()
    state, ticks = fields[0], int(fields[19])
    return None if state == "Z" else ticks


def read_record(pid_file: Path) -> ProcessRecord | None:
    """The record of a process we started that is still alive, else None (stale files removed)."""
    try:
        record = ProcessRecord.model_validate(json.loads(pid_file.read_text()))
    except (OSError, ValueError):
        return None
    if _start_ticks(record.pid) != record.start_ticks:
        pid_file.unlink(missing_ok=True)
        return None
    return record


def spawn(
    argv: list[str], *, pid_file: Path, log: Path, cwd: Path, env: dict[str, str]
) -> ProcessRecord:
    log.parent.mkdir(parents=True, exist_ok=True)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
            # Own session: the server outlives `kibalock stack up` and ignores its Ctrl-C.
            start_new_session=True,
        )
    ticks = _start_ticks(proc.pid)
    if ticks is None:
        raise RuntimeError(f"{argv[0]} exited at once; see {log}")
    record = ProcessRecord(pid=proc.pid, start_ticks=ticks, argv=argv, log=log)
    pid_file.write_text(record.model_dump_json())
    return record


def stop(pid_file: Path, *, timeout_s: float = 30.0) -> bool:
    """SIGTERM then SIGKILL a process we started; False when there was none to stop."""
    record = read_record(pid_file)
    if record is None:
        return False
    os.killpg(record.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _start_ticks(record.pid) != record.start_ticks:
            break
        _reap(record.pid)
        time.sleep(0.1)
    else:
        os.killpg(record.pid, signal.SIGKILL)
        while _start_ticks(record.pid) == record.start_ticks:
            _reap(record.pid)
            time.sleep(0.05)
    pid_file.unlink(missing_ok=True)
    return True


def _reap(pid: int) -> None:
    # A server spawned by this very process (tests restart Kafka in-process) becomes a zombie
    # until waited for.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0
