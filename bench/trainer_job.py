"""One training job in a process of its own, for ``kibalock bench trainer``::

    python -m bench.trainer_job REQUEST_JSON RESULT_PATH

The settings come from the environment (:meth:`core.settings.Settings.to_env`). The job runs
as ``kibalock train --once`` runs it (:func:`trainer.process.train_once`: the real job store,
trainers and publish path). At its end the process writes a :class:`JobRun` to RESULT_PATH: the
job as it ended and the process's own peak resident memory.

The peak is ``VmHWM`` of ``/proc/self/status``, the high-water mark of this process's address
space since its ``exec``. ``getrusage(RUSAGE_SELF).ru_maxrss`` is not used where ``VmHWM``
exists: Linux carries it over ``fork`` and ``exec``, so a child of a large parent (the benchmark,
which loaded the biometric engines to enrol users) reports the parent's size.
"""

from __future__ import annotations

import asyncio
import resource
import sys
from pathlib import Path

from pydantic import BaseModel

from core.settings import get_settings
from trainer.jobs import Job, JobRequest
from trainer.process import train_once

_STATUS = Path("/proc/self/status")


class JobRun(BaseModel):
    job: Job
    peak_rss_mb: float
    peak_rss_source: str  # VmHWM, or ru_maxrss where /proc is not there
    # CPU time of the subprocesses it waited for: their memory is not in peak_rss_mb.
    subprocess_cpu_s: float


def peak_rss() -> tuple[float, str]:
    """This process's peak resident memory in MiB, and where it was read."""
    if _STATUS.is_file():
        for line in _STATUS.read_text(encoding="ascii").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024, "VmHWM"
    # kibibytes on Linux, bytes on macOS
    unit = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * unit / 2**20, "ru_maxrss"


def main(argv: list[str]) -> None:
    request, out = JobRequest.model_validate_json(argv[0]), Path(argv[1])
    job = asyncio.run(train_once(get_settings(), request, lambda _job: None, poll_seconds=0.1))
    peak, source = peak_rss()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    run = JobRun(
        job=job,
        peak_rss_mb=peak,
        peak_rss_source=source,
        subprocess_cpu_s=children.ru_utime + children.ru_stime,
    )
    out.write_text(run.model_dump_json(), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])
