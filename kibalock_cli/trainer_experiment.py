"""``kibalock trainer experiment …``: the trainer's acceptance runs on a data folder.

- ``domain-shift``: captures a data folder through a clean and a degraded terminal, trains the
  embedder adapter with the production trainer and writes both versions' figures as JSON (see
  :mod:`trainer.experiments.domain_shift`);
- ``personalisation``: every enrolled speaker in turn gets a per-user voice model from curated
  samples of their noisy line; their held-back scores and the guard set's false matches are
  reported (see :mod:`trainer.experiments.personalisation`).

Heavy imports happen inside the commands.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

experiment_app = typer.Typer(
    help="Trainer experiments on a data folder (faces/ and voices/).", no_args_is_help=True
)

DEFAULT_CACHE = Path.home() / ".cache" / "kibalock" / "adapters"


@experiment_app.callback()
def experiments() -> None:
    """Trainer experiments (a group even with one command, so the command keeps its name)."""


@experiment_app.command("domain-shift")
def domain_shift_command(
    data: Annotated[Path, typer.Option("--data", help="Data folder (faces/, voices/).")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the JSON report.")],
    modality: Annotated[
        list[str], typer.Option("--modality", help="face and/or voice (default: both).")
    ] = ["voice", "face"],  # noqa: B006 - typer reads list defaults, never mutates them
    face_condition: Annotated[
        str, typer.Option(help="The degraded camera (core.biometrics.degrade names).")
    ] = "poor-camera",
    voice_condition: Annotated[
        str, typer.Option(help="The degraded microphone (core.biometrics.degrade names).")
    ] = "telephone-noisy",
    face_users: Annotated[
        int | None,
        typer.Option(
            help="Face identities used (default: all with 12 photos, 123 in data-large; "
            "about 10 s each to embed on first run). Fewer leave an EER read to a point or more."
        ),
    ] = None,
    voice_users: Annotated[int | None, typer.Option(help="Speakers used (default: all).")] = None,
    no_head: Annotated[bool, typer.Option("--no-head", help="Compensation stage only.")] = False,
    seed: Annotated[int, typer.Option(help="Split and training seed.")] = 0,
    cache: Annotated[
        Path, typer.Option(help="Embedding cache (reruns only score and train).")
    ] = DEFAULT_CACHE,
) -> None:
    """EER and FNMR at the operating FMR, base vs adapter, clean vs degraded, per modality."""
    from rich.console import Console

    from core.biometrics.degrade import condition
    from schemas.model_catalog import Modality
    from trainer.embedder import AdapterConfig
    from trainer.experiments.domain_shift import ShiftConfig, run_domain_shift

    console = Console()
    reports = {}
    for name in modality:
        chosen = Modality(name)
        config = ShiftConfig(
            modality=chosen,
            degraded=condition(face_condition if chosen is Modality.FACE else voice_condition),
            max_users=face_users if chosen is Modality.FACE else voice_users,
            seed=seed,
            adapter=AdapterConfig(train_head=not no_head, seed=seed),
        )
        with console.status(f"{name}: capturing, embedding and training"):
            report = run_domain_shift(data, cache, config)
        reports[name] = report.model_dump(mode="json")
        a, m = report.acceptance, report.metrics
        console.print(
            f"{name}: degraded EER {100 * a.degraded_eer_before:.2f} -> "
            f"{100 * a.degraded_eer_after:.2f} %, clean EER {100 * a.clean_eer_before:.2f} -> "
            f"{100 * a.clean_eer_after:.2f} %, FNMR at FMR {100 * m['operating_fmr']:g} % "
            f"degraded {100 * m['champion_fnmr_at_fmr_degraded']:.1f} -> "
            f"{100 * m['challenger_fnmr_at_fmr_degraded']:.1f} %, clean "
            f"{100 * m['champion_fnmr_at_fmr_clean']:.1f} -> "
            f"{100 * m['challenger_fnmr_at_fmr_clean']:.1f} %, promoted {a.promoted}, acceptance "
            f"{'passed' if a.passed else 'failed'} ({report.seconds_training:.0f} s training)"
        )
    out.write_text(json.dumps(reports, indent=2))
    console.print(f"report written to {out}")


@experiment_app.command("personalisation")
def personalisation_command(
    data: Annotated[Path, typer.Option("--data", help="Data folder (voices/).")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the JSON report.")],
    voice_condition: Annotated[
        str, typer.Option(help="The subject's degraded line (core.biometrics.degrade names).")
    ] = "telephone-noisy",
    curated: Annotated[int, typer.Option(help="Curated samples per user.")] = 50,
    users: Annotated[int | None, typer.Option(help="Speakers used (default: all).")] = None,
    seed: Annotated[int, typer.Option(help="Split and utterance seed.")] = 0,
    cache: Annotated[
        Path, typer.Option(help="Embedding cache (reruns only fit and score).")
    ] = DEFAULT_CACHE,
) -> None:
    """Per-user voice models: the subjects' accept rate on their line, the guard's FMR."""
    from rich.console import Console

    from core.biometrics.degrade import condition
    from core.biometrics.thresholds import Rate
    from trainer.experiments.personalisation import PersonalisationConfig, run_personalisation

    console = Console()
    config = PersonalisationConfig(
        degraded=condition(voice_condition), curated=curated, max_users=users, seed=seed
    )
    with console.status("capturing, embedding, fitting every subject's model"):
        report = run_personalisation(data, cache, config)

    def rate(r: Rate) -> str:
        low, high = r.ci95
        return f"{100 * r.rate:.2f} % [{100 * low:.2f}, {100 * high:.2f}] ({r.errors}/{r.trials})"

    console.print(
        f"{report.subjects} subjects, {report.guard_users} guard speakers; promoted "
        f"{report.promoted}, not promoted {report.not_promoted}, failed {report.failed}\n"
        f"median on the degraded line {report.median_degraded_before:.3f} -> "
        f"{report.median_degraded_after:.3f} (rose for {report.subjects_whose_median_rose})\n"
        f"genuine accepted, degraded: {rate(report.genuine_accept_degraded_before)} -> "
        f"{rate(report.genuine_accept_degraded_after)}\n"
        f"genuine accepted, clean: {rate(report.genuine_accept_clean_before)} -> "
        f"{rate(report.genuine_accept_clean_after)}\n"
        f"guard FMR: {rate(report.guard_fmr_before)} -> {rate(report.guard_fmr_after)}"
    )
    out.write_text(report.model_dump_json(indent=2))
    console.print(f"report written to {out}")
