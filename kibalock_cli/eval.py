"""``kibalock eval``: error rates of the engines on chimeric users of a data folder.

Only typer and the standard library are imported at module level: the engines (dlib, torch,
ctranslate2) load inside the commands, so ``kibalock --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from core.biometrics.evaluation import EvalReport


def eval_command(
    data: Annotated[
        Path | None,
        typer.Option("--data", help="The data folder (faces/ and voices/); default: tests/data."),
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", help="Where to write eval.json and det.png.")
    ] = Path("out/eval"),
    max_users: Annotated[
        int | None, typer.Option("--max-users", min=2, help="Use only the first N users.")
    ] = None,
    challenges_per_user: Annotated[
        int, typer.Option("--challenges-per-user", min=1, help="Spoken challenges per user.")
    ] = 10,
    seed: Annotated[int, typer.Option(help="Seed of the digit draws.")] = 0,
    template_rule: Annotated[
        str, typer.Option(help="Probe vs template set: centroid, max or mean_top_k.")
    ] = "centroid",
    fusion_rule: Annotated[
        str, typer.Option(help="Fusion: product, weighted_sum or llr_sum.")
    ] = "product",
    models_dir: Annotated[
        Path | None, typer.Option("--models-dir", help="Model weights (default: configured).")
    ] = None,
    strict: Annotated[
        bool, typer.Option(help="Exit 1 when an acceptance target is not met.")
    ] = False,
) -> None:
    """Evaluate face, voice, fusion and spoken challenges on chimeric users; write eval.json."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from core.biometrics.dataset import (
        DEFAULT_DATA_DIR,
        DatasetConfig,
        DatasetError,
        load_dataset,
    )
    from core.biometrics.evaluation import load_engines
    from core.biometrics.fusion import FusionConfig, FusionRule
    from core.biometrics.model_files import MissingModelError
    from core.biometrics.scoring import ScoringConfig, TemplateRule
    from kibalock_cli.eval_run import EvalConfig, run_evaluation

    console = Console()
    data = data or DEFAULT_DATA_DIR
    try:
        scoring = ScoringConfig(rule=TemplateRule(template_rule))
        config = EvalConfig(
            dataset=DatasetConfig(
                max_users=max_users, challenges_per_user=challenges_per_user, seed=seed
            ),
            face_scoring=scoring,
            voice_scoring=scoring,
            fusion=FusionConfig(rule=FusionRule(fusion_rule)),
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    try:
        # Validate the folder before loading the engines, so a typo fails in a second.
        load_dataset(data, config.dataset)
        engines = load_engines(models_dir)
    except DatasetError as exc:
        console.print(f"[red]invalid data folder:[/red] {exc}")
        raise typer.Exit(2) from exc
    except MissingModelError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    progress = Progress(
        TextColumn("{task.description:<10}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )
    report = run_evaluation(data, out, config, engines=engines, progress=progress)
    _print_report(console, report, out)
    if strict and not all(check.met for check in report.acceptance.values()):
        raise typer.Exit(1)


def _pct(rate: float) -> str:
    return f"{100 * rate:.2f} %"


def _print_report(console: Console, report: EvalReport, out: Path) -> None:
    from rich.table import Table

    table = Table(title="KibaLock evaluation")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("target", justify="right")
    table.add_column("met")

    def target_row(name: str, figure: str, value: str) -> None:
        check = report.acceptance[figure]
        target = _pct(check.target)
        met = "[green]yes[/green]" if check.met else "[red]no[/red]"
        table.add_row(name, value, f"{check.comparison} {target}", met)

    face, voice, fused = report.face, report.voice, report.fused
    target_row("face EER", "face.eer", _pct(face.eer))
    target_row("voice EER", "voice.eer", _pct(voice.eer))
    target_row("fused EER", "fused.eer", _pct(fused.eer))
    point = fused.operating_points["1e-3"]
    table.add_row("fused FNMR @ FMR 1e-3", f"{_pct(point.fnmr)} (t={point.threshold:.4f})", "", "")
    table.add_row(
        "  FMR there (95 % bound)", f"{_pct(point.fmr)} ({_pct(point.fmr_upper_95)})", "", ""
    )
    login = fused.login
    table.add_row(
        "login FNMR @ FMR 1e-3, all impostor kinds",
        f"{_pct(login.fnmr)} (t={login.threshold:.4f})",
        "",
        "",
    )
    challenge = report.challenge
    target_row(
        "challenge accuracy",
        "challenge.accuracy",
        f"{_pct(challenge.accuracy)} ({challenge.passed}/{challenge.trials})",
    )
    for name, timing in report.timing_ms.items():
        table.add_row(f"{name} time p50 / p95", f"{timing.p50:.0f} / {timing.p95:.0f} ms", "", "")
    for name, trials in (("face", face.trials), ("voice", voice.trials), ("fused", fused.trials)):
        table.add_row(f"{name} trials gen / imp", f"{trials.genuine} / {trials.impostor}", "", "")
    console.print(table)
    console.print(
        f"wrote {out / 'eval.json'} and {report.det_curve_png} in {report.wall_time_s:.0f} s"
    )
