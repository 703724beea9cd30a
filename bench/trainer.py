"""Wall time and peak memory of one training job of each kind (``kibalock bench trainer``).

Method. A fresh namespace (topics, buckets, database) is filled as production fills it: the
data folder's chimeric users (:mod:`core.biometrics.dataset`) are enrolled through the gateway's
enroller and their probe photos and spoken challenges captured as accepted attempts on a
terminal (:mod:`bench.support.curated`). Then each job kind of :data:`KINDS` runs, ``repeat``
times, one job at a time, each in a process of its own (``python -m bench.trainer_job``), as
``kibalock train --once`` runs it: the real job store, trainers, champion / challenger and
publish path, with the trainer's settings (a fresh signing key; see ``trainer_settings``).

Figures per kind (medians over the runs; each run's own under ``runs``):

- ``process_s``: the job's process from start to exit (interpreter, imports, store
  connections, the job, shutdown);
- ``job_s`` and ``stages_s``: from the job's own updates on ``training.jobs`` (every stage
  change is announced): submitted → finished, and the time spent in each stage (``queued``:
  until claimed; ``snapshot`` starts at the claim);
- ``peak_rss_mb``: the peak resident memory of the job's process, its ``VmHWM`` read by itself
  at its end (one fresh process per job, so the peak is that job's alone; see
  :mod:`bench.trainer_job` for why not ``ru_maxrss``); ``subprocess_cpu_s``: CPU time of
  subprocesses the job started, whose memory is not in the peak (0: none);
- ``state``, ``reason``, ``message``: how the job ended (the most common end over the runs);
  ``skipped`` when the kind needs an optional extra that is not installed;
- ``data``: the data counts the job recorded: its snapshot's lineage (items, rows used, media
  skipped; failed jobs too) and, when it got that far, the counts in its metrics (split sizes,
  the detector's images).

Users: one per speaker when the set has ``MIN_USERS`` speakers or more (``--data`` with a large
set), else the first ``MIN_USERS`` (on tests/data, 8 users over 4 speakers: users who share a
speaker share a voice). The embedders need ``min_guard_users`` identity-disjoint guard users, so
with few users the guard fraction is raised to leave them that many. ``repeat`` is 1 by default:
one job takes minutes here.
"""

from __future__ import annotations

import asyncio
import base64
import importlib.util
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from bench.cli import BenchOptions
from bench.support.curated import Seeded, enrol_and_capture
from bench.support.namespaces import sweep_namespaces
from bench.trainer_job import JobRun
from core import docstore
from core.biometrics.dataset import (
    DEFAULT_DATA_DIR,
    ChimericDataset,
    ChimericUser,
    DatasetConfig,
    load_dataset,
)
from core.bus import EventProducer, EventReader, ensure_topics
from core.objectstore import LOGICAL_BUCKETS, ObjectStore
from core.settings import Settings
from core.signing import generate_keypair
from schemas.enums import JobStage, JobState, RetrainReason
from schemas.model_catalog import FACE_DETECTOR, FACE_EMBEDDER, VOICE_EMBEDDER
from schemas.training import TrainingJobUpdate
from trainer.dataset import SNAPSHOTS
from trainer.embedder import AdapterConfig
from trainer.jobs import JobRequest

_ROOT = Path(__file__).resolve().parents[1]
# One terminal: on a small set, two would leave most users too few rows in each condition to
# hold one back for validation and keep four to train on.
TERMINALS = ("term-1",)
SKIPPED = "skipped"
# Every state a kind may end in: a job's end states, or skipped.
END_STATES = frozenset({SKIPPED, *(s.value for s in JobState if s.finished)})
_GUARD_USERS = AdapterConfig().min_guard_users
MIN_USERS = 2 * _GUARD_USERS  # as many to train on as to guard
_UPDATES_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class JobKind:
    """One kind of training job: a model of the catalog, shared or for one user."""

    name: str
    model: str
    per_user: bool = False
    extra: str | None = None  # the optional extra (``kibalock[extra]``) the kind needs,
    module: str | None = None  # found by importing this module
    counts: tuple[str, ...] = ()  # the job's metrics that count its data (split, images)

    def missing_extra(self) -> bool:
        return self.module is not None and importlib.util.find_spec(self.module) is None


_EMBEDDER_COUNTS = ("snapshot_items", "samples_used", "train_users", "guard_users")
_DETECTOR_COUNTS = ("images_train", "images_validation", "images_held_back", "faces_labelled")

# Every model of trainer.registry_of_trainers.TRAINERS, and the per-user voice model.
KINDS: tuple[JobKind, ...] = (
    JobKind("face-embedder", FACE_EMBEDDER, counts=_EMBEDDER_COUNTS),
    JobKind("voice-embedder", VOICE_EMBEDDER, counts=_EMBEDDER_COUNTS),
    JobKind(
        "face-detector", FACE_DETECTOR, extra="yolo", module="ultralytics", counts=_DETECTOR_COUNTS
    ),
    JobKind("voice-embedder-per-user", VOICE_EMBEDDER, per_user=True, counts=_EMBEDDER_COUNTS),
)


@dataclass(frozen=True)
class Plan:
    data: Path
    samples_per_user: int  # curated probe photos and challenges, each
    max_users: int | None
    repeat: int
    detector: dict[str, int]  # trainer settings of the detector job

    @classmethod
    def of(cls, options: BenchOptions) -> Plan:
        data = options.data or DEFAULT_DATA_DIR
        if options.quick:
            # One small epoch: a smoke run of every stage, not the detector's real cost.
            small = {"detector_epochs": 1, "detector_image_size": 160}
            return cls(data, 4, MIN_USERS, options.repeat or 1, small)
        return cls(data, 10, None, options.repeat or 1, {})


def run(settings: Settings, options: BenchOptions) -> dict[str, Any]:
    return asyncio.run(measure(settings, Plan.of(options), KINDS))


async def measure(base: Settings, plan: Plan, kinds: Sequence[JobKind]) -> dict[str, Any]:
    """Seeds a fresh namespace and runs each of ``kinds``; the namespace is dropped after."""
    tag = f"bt{uuid.uuid4().hex[:8]}"
    settings = base.namespaced(tag)
    try:
        started = time.perf_counter()
        dataset = load_dataset(plan.data, DatasetConfig(challenges_per_user=plan.samples_per_user))
        users = chosen_users(dataset)[: plan.max_users]
        seeded = await _seed(settings, [_trimmed(u, plan.samples_per_user) for u in users])
        seed_s = time.perf_counter() - started
        trainer = _trainer_settings(settings, len(seeded.users), plan)
        results: dict[str, dict[str, Any]] = {}
        with tempfile.TemporaryDirectory(prefix="kibalock-bench-trainer-") as tmp:
            for kind in kinds:
                if kind.missing_extra():
                    results[kind.name] = skipped(kind)
                    continue
                runs = [
                    await _run_job(trainer, kind, seeded, Path(tmp) / f"{kind.name}-{n}")
                    for n in range(plan.repeat)
                ]
                results[kind.name] = summary(kind, runs)
    finally:
        await _drop(settings, tag)
    section = trainer.trainer
    flat = {
        f"{name}.{figure}": result[figure]
        for name, result in results.items()
        for figure in ("state", "process_s", "peak_rss_mb")
        if figure in result
    }
    return {
        **flat,
        "repeat": plan.repeat,
        "data": {
            "root": str(plan.data),
            "samples_per_user": plan.samples_per_user,
            **seeded.counts(),
            "seed_s": round(seed_s, 1),
        },
        "trainer_settings": {
            "guard_fraction": section.guard_fraction,
            "detector_epochs": section.detector_epochs,
            "detector_image_size": section.detector_image_size,
        },
        "method": {
            "peak_rss": "VmHWM of the job's own process (/proc/self/status, read by it at its "
            "end; one fresh process per job), not ru_maxrss, which Linux carries over fork and "
            "exec from the parent; subprocesses, if any, are not in it (subprocess_cpu_s > 0)",
            "wall": "process_s: the job's process, start to exit; job_s and stages_s: from the "
            "job's updates on training.jobs",
            "repeat": "medians over the runs; 1 by default because one job takes minutes",
        },
        "kinds": results,
    }


def chosen_users(dataset: ChimericDataset) -> list[ChimericUser]:
    """One user per speaker if there are ``MIN_USERS`` of them, else the first ``MIN_USERS``."""
    owners = [u for i, u in enumerate(dataset.users) if dataset.voice_owner(i) == i]
    return owners if len(owners) >= MIN_USERS else list(dataset.users[:MIN_USERS])


def _trimmed(user: ChimericUser, samples: int) -> ChimericUser:
    return user.model_copy(update={"face_probes": user.face_probes[:samples]})


async def _seed(settings: Settings, users: Sequence[ChimericUser]) -> Seeded:
    """Enrols ``users`` and captures their samples through a gateway (engines loaded here)."""
    from auth_gateway.analysis import Analyser
    from auth_gateway.bootstrap import bootstrap

    key = SecretStr(base64.b64encode(os.urandom(32)).decode())
    publisher = settings.models.publisher.model_copy(update={"signing_key": None})
    gateway_settings = settings.model_copy(
        update={
            "gateway": settings.gateway.model_copy(update={"template_key": key}),
            "models": settings.models.model_copy(update={"publisher": publisher}),
        }
    )
    await ensure_topics(gateway_settings)
    analyser = Analyser.load(workers=2, max_in_flight=4)
    try:
        async with EventProducer(gateway_settings, producer_name="bench") as producer:
            gateway = bootstrap(gateway_settings, analyser=analyser, producer=producer)
            await gateway.prepare()
            try:
                return await enrol_and_capture(gateway, users, TERMINALS)
            finally:
                await gateway.close()
    finally:
        analyser.close()


def _trainer_settings(settings: Settings, users: int, plan: Plan) -> Settings:
    private, _ = generate_keypair()
    publisher = settings.models.publisher.model_copy(update={"signing_key": SecretStr(private)})
    # Enough guard users for the embedders' champion / challenger, whatever the set's size.
    # At most half: the other half trains.
    guard = max(settings.trainer.guard_fraction, _GUARD_USERS / max(users, 1))
    return settings.model_copy(
        update={
            "log_json": True,
            "models": settings.models.model_copy(update={"publisher": publisher}),
            "trainer": settings.trainer.model_copy(
                update={"guard_fraction": min(guard, 0.5), **plan.detector}
            ),
        }
    )


async def _run_job(settings: Settings, kind: JobKind, seeded: Seeded, work: Path) -> dict[str, Any]:
    request = JobRequest(
        model=kind.model,
        reason=RetrainReason.USER_SAMPLE_COUNT if kind.per_user else RetrainReason.MANUAL,
        user_id=seeded.users[0] if kind.per_user else None,
        requested_by="bench",
    )
    result, log = work.with_suffix(".json"), work.with_suffix(".log")
    started = time.perf_counter()
    with log.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.trainer_job",
            request.model_dump_json(),
            str(result),
            env={**os.environ, **settings.to_env()},
            cwd=_ROOT,
            stdout=output,
            stderr=asyncio.subprocess.STDOUT,
        )
        code = await process.wait()
    process_s = time.perf_counter() - started
    if code != 0 or not result.is_file():
        tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-15:]
        raise RuntimeError(f"the {kind.name} job process exited with {code}:\n" + "\n".join(tail))
    ran = JobRun.model_validate_json(result.read_text(encoding="utf-8"))
    job = ran.job
    updates = await job_updates(settings, job.job_id)
    counted = {c: int(job.metrics[c]) for c in kind.counts if c in job.metrics}
    failed = job.state is JobState.FAILED
    return {
        "state": job.state.value,
        "reason": job.message.partition(":")[0] if failed else None,
        "message": job.message,
        "version": job.result_version or job.trained_version,
        "process_s": round(process_s, 2),
        "job_s": round(_seconds(updates[0], updates[-1]), 2),
        "stages_s": stage_seconds(updates),
        "peak_rss_mb": round(ran.peak_rss_mb, 1),
        "peak_rss_source": ran.peak_rss_source,
        "subprocess_cpu_s": round(ran.subprocess_cpu_s, 2),
        "data": await lineage_counts(settings, job.job_id) | counted,
        "metrics": job.metrics,
    }


async def job_updates(settings: Settings, job_id: str) -> list[TrainingJobUpdate]:
    """The job's updates on ``training.jobs``, through the one that says it finished."""
    updates: list[TrainingJobUpdate] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _UPDATES_TIMEOUT_S
    async with EventReader(["training.jobs"], settings) as reader:
        while not (updates and updates[-1].state.finished):
            if loop.time() > deadline:
                raise TimeoutError(f"job {job_id}: no finished update on training.jobs")
            updates += [
                e
                for e in await reader.read()
                if isinstance(e, TrainingJobUpdate) and e.job_id == job_id
            ]
    return updates


async def lineage_counts(settings: Settings, job_id: str) -> dict[str, int]:
    """What the job recorded in its snapshot's lineage, failed jobs too: the snapshot's items
    and the counts of what it derived from them (rows used, media skipped by reason)."""
    client = docstore.client(settings)
    try:
        doc = await client[settings.mongo.database][SNAPSHOTS].find_one({"jobs": job_id})
    finally:
        await client.close()
    if doc is None:
        return {}
    counts = {"snapshot_items": len(doc["items"])}
    for derived in doc.get("derived", []):
        if derived["job_id"] == job_id:
            counts |= derived["counts"]
    return counts


def _seconds(a: TrainingJobUpdate, b: TrainingJobUpdate) -> float:
    return (b.occurred_at - a.occurred_at).total_seconds()


def stage_seconds(updates: Sequence[TrainingJobUpdate]) -> dict[str, float]:
    """Seconds in each stage, in stage order: from each update to the next, summed per stage."""
    spent: dict[JobStage, float] = {}
    for current, following in pairwise(updates):
        spent[current.stage] = spent.get(current.stage, 0.0) + _seconds(current, following)
    return {stage.value: round(spent[stage], 2) for stage in JobStage if stage in spent}


def summary(kind: JobKind, runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The kind's figures: medians over ``runs``, and how the most common end came about."""
    state = Counter(r["state"] for r in runs).most_common(1)[0][0]
    typical = next(r for r in runs if r["state"] == state)
    stages = [s.value for s in JobStage if any(s.value in r["stages_s"] for r in runs)]

    def median(values: Sequence[float]) -> float:
        return round(float(statistics.median(values)), 2)

    return {
        "model": kind.model,
        "per_user": kind.per_user,
        "state": state,
        "reason": typical["reason"],
        "message": typical["message"],
        "process_s": median([r["process_s"] for r in runs]),
        "job_s": median([r["job_s"] for r in runs]),
        "stages_s": {s: median([r["stages_s"].get(s, 0.0) for r in runs]) for s in stages},
        "peak_rss_mb": median([r["peak_rss_mb"] for r in runs]),
        "subprocess_cpu_s": median([r["subprocess_cpu_s"] for r in runs]),
        "data": typical["data"],
        "runs": list(runs),
    }


def skipped(kind: JobKind) -> dict[str, Any]:
    return {
        "model": kind.model,
        "per_user": kind.per_user,
        "state": SKIPPED,
        "reason": "extra not installed",
        "message": f"{kind.module} is missing: pip install 'kibalock[{kind.extra}]'",
        "runs": [],
    }


async def _drop(settings: Settings, tag: str) -> None:
    objects = ObjectStore(settings)
    made = set(await objects.list_buckets())
    for bucket in map(objects.bucket, LOGICAL_BUCKETS):
        if bucket in made:
            await objects.delete_prefix(bucket, "")
    await sweep_namespaces(settings, {tag})
