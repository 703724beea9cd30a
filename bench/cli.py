"""``kibalock bench``: run performance benchmarks, one JSON file per benchmark per run.

A benchmark is a function ``run(settings, options) -> dict`` registered below by module path,
so its heavy imports (faust, models) load only when it runs. Its dict is the ``figures`` of
``DIR/bench-<name>.json``; this module adds what every result needs to be compared later
(when, how long, on what host, with what options).
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel, Field

from core.settings import Settings, get_settings


class BenchOptions(BaseModel):
    quick: bool = False  # a smaller load, for a smoke run
    # Media for the benchmarks that use them (trainer); None: the vendored tests/data.
    data: Path | None = None
    # Runs to take the medians over; None: the benchmark's own default.
    repeat: int | None = Field(default=None, ge=1)


Benchmark = Callable[[Settings, BenchOptions], dict[str, Any]]

# name -> (module path, one-line description). Later benchmarks register here.
BENCHMARKS: dict[str, tuple[str, str]] = {
    "processors": (
        "bench.processors",
        "sustained decisions/s of one stream-processors worker, metrics and triggers on",
    ),
    "models": (
        "bench.models",
        "model hot-swap: publish → activate latency (no re-embedding), re-embedded templates/s",
    ),
    "trainer": (
        "bench.trainer",
        "wall time (total and per stage) and peak memory of one training job of each kind",
    ),
}


def load(name: str) -> Benchmark:
    module, _ = BENCHMARKS[name]
    run: Benchmark = importlib.import_module(module).run
    return run


def run_one(name: str, settings: Settings, options: BenchOptions, out: Path) -> Path:
    started = datetime.now(UTC)
    clock = time.perf_counter()
    figures = load(name)(settings, options)
    result = {
        "benchmark": name,
        "description": BENCHMARKS[name][1],
        "started_at": started.isoformat(),
        "duration_s": round(time.perf_counter() - clock, 3),
        "options": options.model_dump(mode="json"),
        "host": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "figures": figures,
    }
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"bench-{name}.json"
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return path


def bench_command(
    names: Annotated[
        list[str] | None,
        typer.Argument(help=f"Benchmarks to run (default: all): {', '.join(BENCHMARKS)}."),
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="Directory for bench-<name>.json.")] = Path(
        "out/bench"
    ),
    only: Annotated[
        list[str] | None,
        typer.Option("--only", help=f"Run only these (repeatable): {', '.join(BENCHMARKS)}."),
    ] = None,
    quick: Annotated[bool, typer.Option("--quick", help="A smaller load (smoke run).")] = False,
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="Faces and voices for the trainer benchmark (default: the vendored tests/data).",
        ),
    ] = None,
    repeat: Annotated[
        int | None,
        typer.Option(
            "--repeat",
            min=1,
            help="Runs to take medians over (default per benchmark: processors 3, trainer 1).",
        ),
    ] = None,
) -> None:
    """Run the benchmarks against the local stack (`kibalock stack up` first)."""
    from rich.console import Console

    console = Console(stderr=True)
    names = [*(names or []), *(only or [])] or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        console.print(f"[red]unknown benchmark(s):[/red] {', '.join(unknown)}")
        raise typer.Exit(2)
    options = BenchOptions(quick=quick, data=data, repeat=repeat)
    failed = False
    for name in names:
        console.print(f"[bold]{name}[/bold]: {BENCHMARKS[name][1]}")
        try:
            path = run_one(name, get_settings(), options, out)
        except Exception as exc:  # one failed benchmark must not hide the others' results
            console.print(f"[red]{name} failed:[/red] {exc!r}")
            failed = True
            continue
        figures = json.loads(path.read_text(encoding="utf-8"))["figures"]
        console.print(f"  → {path}")
        for key, value in figures.items():
            if not isinstance(value, (dict, list)):
                console.print(f"    {key}: {value}")
    if failed:
        raise typer.Exit(1)
