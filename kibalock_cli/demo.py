"""``kibalock demo``: the login loop end to end on the local stack."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from core.settings import get_settings


def demo_command(
    data: Annotated[
        Path | None, typer.Option(help="the data folder (faces/, voices/); default: tests/data")
    ] = None,
    people: Annotated[int, typer.Option(min=2, max=4, help="how many people to simulate")] = 3,
    out: Annotated[Path, typer.Option(help="where the demo writes its logs")] = Path("out/demo"),
) -> None:
    """Start a gateway, enrol people, send genuine logins and attacks, show the decisions.

    Needs the stack (`kibalock stack up`) and the models (`kibalock models fetch`);
    `make demo` does both first.
    """
    from core.biometrics.dataset import DEFAULT_DATA_DIR
    from kibalock_cli.demo_run import DemoError, run_demo

    data = data or DEFAULT_DATA_DIR
    if not (data / "faces").is_dir() or not (data / "voices").is_dir():
        typer.echo(
            f"no data set at {data}: pass --data (a folder with faces/ and voices/)", err=True
        )
        raise typer.Exit(2)
    out.mkdir(parents=True, exist_ok=True)
    try:
        code = asyncio.run(run_demo(get_settings(), data, people, out))
    except DemoError as exc:
        typer.echo(f"demo failed: {exc}", err=True)
        raise typer.Exit(1) from exc
    raise typer.Exit(code)
