"""``kibalock bench trainer --quick`` on the real stack, through its own entry point and JSON.

A quick run of every kind takes about five minutes on the 2-core machine, too long for the
suite, so this one runs a single kind: the face detector's job, the one whose quick run goes
through every stage (one epoch at 160 px, ONNX export, parity check, evaluation) in about a
minute. The other kinds run the same code with another request.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

import bench.trainer
from bench.cli import BenchOptions, run_one
from bench.trainer import END_STATES, MIN_USERS
from core import docstore
from core.settings import Settings
from schemas.model_catalog import FACE_DETECTOR


async def _databases(settings: Settings) -> set[str]:
    client = docstore.client(settings)
    try:
        return set(await client.list_database_names())
    finally:
        await client.close()


def test_the_trainer_bench_measures_a_real_job_in_a_process_of_its_own(
    base_settings: Settings, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    detector = next(k for k in bench.trainer.KINDS if k.model == FACE_DETECTOR)
    monkeypatch.setattr(bench.trainer, "KINDS", (detector,))
    before = asyncio.run(_databases(base_settings))

    path = run_one("trainer", base_settings, BenchOptions(quick=True, data=data_dir), tmp_path)

    result = json.loads(path.read_text(encoding="utf-8"))
    assert result["benchmark"] == "trainer" and result["host"]["cpus"] >= 1
    figures = result["figures"]
    assert figures["repeat"] == 1
    assert figures["data"]["users_enrolled"] == MIN_USERS
    assert figures["data"]["curated_face_samples"] > 0
    kind = figures["kinds"][detector.name]
    # The development install has the yolo extra: the job must have run, not been skipped.
    assert kind["state"] in END_STATES - {"skipped"}, kind["message"]
    assert kind["state"] != "failed", kind["message"]
    assert figures[f"{detector.name}.state"] == kind["state"]
    (run,) = kind["runs"]
    assert run["peak_rss_source"] == "VmHWM"
    # torch and ultralytics alone take hundreds of MB: a figure in KB or bytes would show.
    assert 200 < kind["peak_rss_mb"] < 16_000
    assert kind["process_s"] > kind["job_s"] > 0
    stages = kind["stages_s"]
    assert {"snapshot", "features", "training", "export", "evaluation"} <= set(stages)
    assert all(seconds >= 0 for seconds in stages.values())
    assert stages["training"] > 0 and stages["export"] > 0
    assert sum(stages.values()) == pytest.approx(kind["job_s"], abs=0.1)
    # The snapshot's lineage and the detector's own image counts.
    assert {"snapshot_items", *detector.counts} <= set(kind["data"])
    assert all(count > 0 for count in kind["data"].values())
    # The benchmark's namespace is gone.
    left = asyncio.run(_databases(base_settings)) - before
    assert not any(name.startswith("kibalock_bt") for name in left)
