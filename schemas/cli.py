"""``kibalock schemas``: publish the event contracts as JSON Schema and AsyncAPI."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from schemas.export import PUBLISHED_DIR, export

schemas_app = typer.Typer(
    help="The event contracts: JSON Schema per event and an AsyncAPI 3.0 document.",
    no_args_is_help=True,
)


# A callback keeps `schemas` a command group even with a single command (Typer would otherwise
# collapse it, and `kibalock schemas export` would stop parsing).
@schemas_app.callback()
def _group() -> None:
    """The event contracts: JSON Schema per event and an AsyncAPI 3.0 document."""


@schemas_app.command("export")
def export_command(
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            file_okay=False,
            help="Directory to write to (the checked-in copy by default).",
        ),
    ] = PUBLISHED_DIR,
) -> None:
    """Write one JSON Schema per event version and asyncapi.yaml to --out."""
    result = export(out)
    table = Table(title=f"Exported to {out}")
    table.add_column("file")
    table.add_column("bytes", justify="right")
    for path in result.written:
        table.add_row(path.name, str(path.stat().st_size))
    for path in result.removed:
        table.add_row(f"[red]{path.name}[/red]", "removed")
    Console().print(table)
