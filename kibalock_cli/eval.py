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
    from core.biometrics.thresholds import Rate


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
    split: Annotated[
        str | None,
        typer.Option(
            "--split",
            help=(
                "'half': fit the login policy on one half of the people (identities and "
                "speakers disjoint) and measure it on the other, both ways."
            ),
        ),
    ] = None,
    policy: Annotated[
        Path | None,
        typer.Option(
            "--policy",
            help="A gateway policy JSON to measure unchanged (e.g. one fitted elsewhere).",
        ),
    ] = None,
    cache: Annotated[
        Path | None,
        typer.Option("--cache", help="Keep engine outputs in this folder and reuse them."),
    ] = None,
    impostor_attempts: Annotated[
        int, typer.Option(min=1, help="Impostor attempts drawn per kind (chimeric, seeded).")
    ] = 40_000,
    check_challenges: Annotated[
        bool, typer.Option(help="Check every spoken challenge with the speech recogniser.")
    ] = True,
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
    from kibalock_cli.eval_cache import AnalysisCache
    from kibalock_cli.eval_policy import PolicyError, read_login_policy
    from kibalock_cli.eval_run import EvalConfig, run_evaluation

    console = Console()
    data = data or DEFAULT_DATA_DIR
    if split not in (None, "half"):
        raise typer.BadParameter("the only split is 'half'", param_hint="--split")
    if split and policy:
        raise typer.BadParameter("--split fits a policy, --policy measures one: pick one")
    try:
        login_policy = read_login_policy(policy) if policy else None
        scoring = ScoringConfig(rule=TemplateRule(template_rule))
        config = EvalConfig(
            dataset=DatasetConfig(
                max_users=max_users,
                challenges_per_user=challenges_per_user,
                impostor_attempts=impostor_attempts,
                seed=seed,
            ),
            face_scoring=scoring,
            voice_scoring=scoring,
            fusion=FusionConfig(rule=FusionRule(fusion_rule)),
            split=split == "half",
            # The packaged voice centre may have seen these speakers: each fold fits its own.
            voice_centre_per_fold=split == "half",
            check_challenges=check_challenges,
        )
    except (ValueError, PolicyError, OSError) as exc:
        raise typer.BadParameter(str(exc)) from exc
    try:
        # Validate the folder before loading the engines, so a typo fails in a second.
        load_dataset(data, config.dataset)
        engines = load_engines(models_dir, raw_voice=config.voice_centre_per_fold)
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
    report = run_evaluation(
        data,
        out,
        config,
        engines=engines,
        progress=progress,
        cache=AnalysisCache(cache) if cache else None,
        policy=login_policy,
    )
    _print_report(console, report, out)
    if strict and not all(check.met for check in report.acceptance.values()):
        raise typer.Exit(1)


def _pct(rate: float) -> str:
    return f"{100 * rate:.2f} %"


def _ci(interval: tuple[float, float]) -> str:
    return f"[{100 * interval[0]:.2f}, {100 * interval[1]:.2f}]"


def _rate(rate: Rate) -> str:
    return f"{_pct(rate.rate)} {_ci(rate.ci95)} ({rate.errors}/{rate.trials})"


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
    target_row("face EER", "face.eer", f"{_pct(face.eer)} {_ci(face.eer_ci95)}")
    target_row("face FTA", "face.fta", _rate(face.fta))
    target_row("voice EER", "voice.eer", f"{_pct(voice.eer)} {_ci(voice.eer_ci95)}")
    table.add_row("voice FTA", _rate(voice.fta), "", "")
    table.add_row("fused EER", _pct(fused.eer), "", "")
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
    decisions = [
        (f"fit {f.fitted_on['fold']} -> {f.measured_on['fold']}", f.test) for f in report.folds
    ]
    if report.policy_applied is not None:
        decisions.append(("given policy", report.policy_applied))
    for name, figures in decisions:
        zero_effort = figures.fnmr_at_fmr_1e_4_zero_effort
        all_kinds = figures.fnmr_at_fmr_1e_3_all_kinds
        table.add_row(f"{name}: policy FNMR", _rate(figures.fnmr), "", "")
        table.add_row(
            f"{name}: policy FMR zero-effort", _rate(figures.fmr["impostor_both"]), "", ""
        )
        table.add_row(f"{name}: policy FMR all kinds", _rate(figures.fmr["all"]), "", "")
        table.add_row(
            f"{name}: FNMR @ FMR 1e-4 zero-effort",
            f"{_pct(zero_effort.fnmr)} {_ci(zero_effort.fnmr_ci95)} "
            f"({zero_effort.genuine_trials} gen / {zero_effort.impostor_trials} imp)",
            "<= 3.00 %",
            "",
        )
        fused_only = figures.fused_only_fnmr_at_fmr_1e_4_zero_effort
        table.add_row(
            f"{name}: fused only (no floors) FNMR @ FMR 1e-4 zero-effort",
            f"{_pct(fused_only.fnmr)} {_ci(fused_only.fnmr_ci95)}",
            "",
            "",
        )
        table.add_row(
            f"{name}: FNMR @ FMR 1e-3 all kinds",
            f"{_pct(all_kinds.fnmr)} {_ci(all_kinds.fnmr_ci95)} "
            f"({all_kinds.genuine_trials} gen / {all_kinds.impostor_trials} imp)",
            "<= 10.00 %",
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
