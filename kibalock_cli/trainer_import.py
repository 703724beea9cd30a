"""``kibalock trainer import PATH``: photos, recordings or a PDF into LifeModo's training data.

Registered as ``kibalock trainer import``. Heavy imports (dlib, OCR)
happen inside the command so that ``kibalock --help`` stays fast.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from trainer.importer import ImportOutcome


def import_command(
    path: Annotated[
        Path, typer.Argument(exists=True, help="A folder of photos / WAV files, or a PDF.")
    ],
    user: Annotated[
        str | None,
        typer.Option("--user", help="The user the data belongs to (default: unlabelled)."),
    ] = None,
    source: Annotated[
        str | None, typer.Option("--source", help="A label for where the data comes from.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the import record.")] = False,
) -> None:
    """Import media into the training bucket with provenance and automatic annotations.

    Photos: faces found (boxes). Recordings: duration and speech. PDF: each page stored as an
    image with its faces and its text (offline OCR). Unreadable files are reported and skipped;
    importing the same files again changes nothing.
    """
    from pydantic import ValidationError
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from core.settings import get_settings
    from trainer.importer import ImportRefused, import_media

    console = Console(stderr=as_json)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("scanning", total=None)

        def advance(done: int, total: int, name: str) -> None:
            bar.update(task, completed=done, total=total, description=name or "done")

        try:
            outcome = asyncio.run(
                import_media(get_settings(), path, user_id=user, source=source, progress=advance)
            )
        except (ImportRefused, ValidationError) as exc:
            console.print(f"[red]refused:[/red] {exc}")
            raise typer.Exit(1) from exc
    if as_json:
        typer.echo(json.dumps(outcome.model_dump(mode="json"), indent=2))
    else:
        _summary(console, outcome)
    record = outcome.record
    if not outcome.already_imported and not record.files and not record.duplicates:
        raise typer.Exit(1)


def _summary(console: Console, outcome: ImportOutcome) -> None:
    from rich.table import Table

    from trainer.importer import FileKind

    record = outcome.record
    owner = record.user_id or "unlabelled"
    if outcome.already_imported:
        console.print(f"{record.import_id} ({owner}): already imported, nothing changed")
    table = Table(title=f"import {record.import_id} for {owner}")
    for column in ("file", "kind", "found"):
        table.add_column(column, overflow="fold")
    for file in record.files:
        found = []
        if file.faces_found is not None:
            found.append(f"{file.faces_found} face(s)")
        if file.speech_seconds is not None:
            found.append(f"{file.speech_seconds:.1f} s speech of {file.duration_seconds:.1f} s")
        if file.kind is FileKind.PDF_PAGE:
            found.append(f"{len(file.text_lines)} text line(s)")
        if file.pages is not None:
            found.append(f"{file.pages} page(s)")
        table.add_row(file.source, file.kind.value, ", ".join(found))
    for duplicate in record.duplicates:
        table.add_row(duplicate.source, "duplicate", f"already in {duplicate.import_id}")
    for rejected in record.rejected:
        table.add_row(rejected.source, "rejected", f"{rejected.reason}: {rejected.detail}")
    console.print(table)
