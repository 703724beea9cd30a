"""``kibalock deadletter list | show | redrive``: the records no consumer could take, looked at
and sent back to their topic once the cause is fixed (see :mod:`kibalock_cli.redrive`)."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from core.settings import Settings
    from kibalock_cli.redrive import StoredLetter

console = Console()
errors = Console(stderr=True)

deadletter_app = typer.Typer(
    help=(
        "Dead letters: records a consumer could not decode or process, kept on the `deadletter` "
        "topic. List them, show one, re-publish chosen ones to their own topic once the cause "
        "is fixed. On a broker with SASL, log in as the admin principal "
        "(KIBALOCK_KAFKA__USERNAME and __PASSWORD[_FILE]; on the dev stack, the variables of "
        "{data_dir}/kafka-secure/credentials/admin.env): services may not read `deadletter`, "
        "nor write every topic."
    ),
    no_args_is_help=True,
)

Refs = Annotated[
    list[str],
    typer.Argument(help="Dead letters as `list` names them: PARTITION:OFFSET (or OFFSET)."),
]


def _settings() -> Settings:
    from core.settings import get_settings

    return get_settings()


def _letters() -> list[StoredLetter]:
    from kibalock_cli.redrive import read_letters

    return asyncio.run(read_letters(_settings()))


def _pick(letters: list[StoredLetter], ref: str) -> StoredLetter:
    from kibalock_cli.redrive import find

    try:
        return find(letters, ref)
    except KeyError as exc:
        errors.print(f"[red]{exc.args[0]}[/]")
        raise typer.Exit(1) from exc


@deadletter_app.command("list")
def list_command(
    topic: Annotated[
        str | None, typer.Option("--topic", help="Only those from this source topic.")
    ] = None,
    reason: Annotated[
        str | None, typer.Option("--reason", help="Only this reason (malformed, ...).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Every dead letter on the topic: where it came from, why, and when."""
    rows = [
        s
        for s in _letters()
        if (topic is None or (s.letter is not None and s.letter.source_topic == topic))
        and (reason is None or (s.letter is not None and s.letter.error_reason == reason))
    ]
    if as_json:
        print(json.dumps([_summary(s) for s in rows], indent=2))
        return
    table = Table("dead letter", "written", "source", "reason", "consumer group", "message")
    for s in rows:
        row = _summary(s)
        table.add_row(
            s.ref,
            s.written_at.strftime("%Y-%m-%d %H:%M:%S"),
            row["source"],
            row["reason"],
            row["consumer_group"],
            row["message"][:80],
        )
    console.print(table)
    console.print(f"{len(rows)} dead letter(s)")


def _summary(stored: StoredLetter) -> dict[str, str]:
    letter = stored.letter
    common = {"ref": stored.ref, "written_at": stored.written_at.isoformat()}
    if letter is None:
        unreadable = {"reason": "unreadable", "message": stored.unreadable or ""}
        return common | {"source": "?", "consumer_group": "?"} | unreadable
    return common | {
        "source": f"{letter.source_topic} {letter.partition}:{letter.offset}",
        "reason": letter.error_reason,
        "consumer_group": letter.consumer_group,
        "message": letter.error_message,
    }


@deadletter_app.command("show")
def show_command(ref: Annotated[str, typer.Argument(help="PARTITION:OFFSET (or OFFSET).")]) -> None:
    """One dead letter in full, and whether its record would decode now."""
    from kibalock_cli.redrive import NotRedrivable, replayable

    stored = _pick(_letters(), ref)
    shown: dict[str, object] = dict(_summary(stored))
    letter = stored.letter
    if letter is not None:
        value = letter.original_value_bytes()
        shown |= {
            "key": _text(letter.original_key_bytes()),
            "headers": {name: _text(raw) for name, raw in letter.original_headers()},
            "value": _text(value),
        }
    try:
        event = replayable(stored)
        shown["redrive"] = f"possible: a {event.EVENT_TYPE} event {event.event_id}"
    except NotRedrivable as exc:
        shown["redrive"] = f"refused: {exc}"
    print(json.dumps(shown, indent=2, default=str))


def _text(raw: bytes | None) -> str | None:
    """Bytes as text where they are UTF-8, else as base64 (marked)."""
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return "base64:" + base64.b64encode(raw).decode("ascii")


@deadletter_app.command("redrive")
def redrive_command(
    refs: Refs,
    yes: Annotated[bool, typer.Option("--yes", help="Send without asking for each.")] = False,
) -> None:
    """Re-publish the chosen dead letters' records to their own topics; exit 1 if one cannot
    be (it still does not decode, or was not carried whole)."""
    from kibalock_cli.redrive import NotRedrivable, replayable

    letters = _letters()
    chosen = [_pick(letters, ref) for ref in refs]
    refused = 0
    sendable: list[StoredLetter] = []
    for stored in chosen:
        try:
            event = replayable(stored)
        except NotRedrivable as exc:
            errors.print(f"[red]{stored.ref}: not re-published: {exc}[/]")
            refused += 1
            continue
        assert stored.letter is not None
        what = (
            f"{stored.ref}: a {event.EVENT_TYPE} event {event.event_id} from {event.producer} "
            f"back to {stored.letter.source_topic}"
        )
        if yes or typer.confirm(f"{what}?"):
            sendable.append(stored)
    sent = asyncio.run(_send(sendable)) if sendable else []
    for stored, (partition, offset) in zip(sendable, sent, strict=True):
        assert stored.letter is not None
        console.print(
            f"{stored.ref}: re-published to {stored.letter.source_topic} {partition}:{offset}"
        )
    if refused:
        raise typer.Exit(1)


async def _send(chosen: list[StoredLetter]) -> list[tuple[int, int]]:
    from core.bus import EventProducer
    from kibalock_cli.redrive import redrive

    async with EventProducer(_settings(), producer_name="deadletter-redrive") as producer:
        return [await redrive(producer, stored) for stored in chosen]
