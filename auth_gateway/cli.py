"""``kibalock gateway`` (run the service) and ``kibalock enroll`` (enrol a user from files)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from pydantic import TypeAdapter, ValidationError
from rich.console import Console

from core.settings import get_settings

gateway_app = typer.Typer(
    help=(
        "KibaLock gateway: consumes auth.attempts, decides, serves the REST API "
        "(KIBALOCK_GATEWAY__HTTP_PORT, default 8080; docs at /docs). Needs a template key "
        "(KIBALOCK_GATEWAY__TEMPLATE_KEY or _FILE) and, for admin endpoints, "
        "KIBALOCK_GATEWAY__API_KEY (or _FILE); terminals need "
        "KIBALOCK_GATEWAY__TERMINAL_MASTER_KEY (or _FILE) and each its own key "
        "(`kibalock gateway terminal-key ID`)."
    ),
    invoke_without_command=True,
)
console = Console(stderr=True)


@gateway_app.callback()
def run(ctx: typer.Context) -> None:
    """Run the gateway until SIGTERM / Ctrl-C."""
    if ctx.invoked_subcommand is not None:
        return
    from auth_gateway.bootstrap import SigningKeyOnGateway, refuse_signing_key
    from auth_gateway.crypto import TemplateKeyError, load_key
    from auth_gateway.service import serve
    from core.settings.dev import DevelopmentSecrets, refuse_development_defaults

    settings = get_settings()
    try:
        refuse_signing_key(settings)
        load_key(settings.gateway)
        settings.gateway.admin_key()
        settings.gateway.terminal_key()
        refuse_development_defaults(settings, "gateway")
    except (SigningKeyOnGateway, TemplateKeyError, ValueError, DevelopmentSecrets) as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from exc
    asyncio.run(serve(settings))


@gateway_app.command()
def keygen(
    out: Annotated[Path, typer.Option(help="file to write the new template key to")],
) -> None:
    """Write a new random AES-256 template key (base64) to a file readable by its owner only."""
    from auth_gateway.crypto import new_key

    _write_secret(out, new_key(), "templates depend on it", "KIBALOCK_GATEWAY__TEMPLATE_KEY_FILE")


@gateway_app.command("terminal-master")
def terminal_master(
    out: Annotated[Path, typer.Option(help="file to write the new terminal master key to")],
) -> None:
    """Write a new terminal master key, from which each terminal's own key is derived."""
    from auth_gateway.terminal_auth import new_master_key

    _write_secret(
        out,
        new_master_key(),
        "every terminal key depends on it",
        "KIBALOCK_GATEWAY__TERMINAL_MASTER_KEY_FILE",
    )


def _write_secret(out: Path, secret: str, why_kept: str, setting: str) -> None:
    """A new secret in a file readable by its owner only; an existing one is never replaced."""
    if out.exists():
        console.print(f"[red]{out} exists; refusing to overwrite a key ({why_kept})[/]")
        raise typer.Exit(1)
    out.touch(mode=0o600)
    out.write_text(secret + "\n")
    console.print(f"wrote {out}; set {setting}={out}")


@gateway_app.command("terminal-key")
def terminal_key_command(
    terminal_id: Annotated[str, typer.Argument(help="the terminal's id, as it sends it")],
) -> None:
    """Print the key one terminal presents in X-Terminal-Key (from the configured master key)."""
    from auth_gateway.terminal_auth import terminal_key
    from schemas.fields import Identifier

    try:
        TypeAdapter(Identifier).validate_python(terminal_id)
        master = get_settings().gateway.terminal_key()
    except (ValidationError, ValueError) as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from exc
    if master is None:
        console.print(
            "[red]no terminal master key: set KIBALOCK_GATEWAY__TERMINAL_MASTER_KEY_FILE[/]"
        )
        raise typer.Exit(2)
    typer.echo(terminal_key(master, terminal_id))


@gateway_app.command()
def policy(
    eval_json: Annotated[Path, typer.Option("--eval", help="an eval.json from `kibalock eval`")],
    out: Annotated[Path, typer.Option(help="where to write the policy")] = Path(
        "core/biometrics/default_policy.json"
    ),
) -> None:
    """Derive the decision policy (calibrations, fusion, threshold) from an evaluation."""
    import json

    from core.biometrics.policy import policy_from_eval, policy_problems

    report = json.loads(eval_json.read_text())
    dataset = report.get("dataset", {})
    if report.get("folds"):
        source = f"kibalock eval --split half on {dataset.get('root', eval_json)}"
    else:
        source = (
            f"kibalock eval on {dataset.get('root', eval_json)}: "
            f"{report['fused']['trials']['genuine']} genuine / "
            f"{report['fused']['login']['impostor_trials']} impostor attempts"
        )
    made = policy_from_eval(report, source=source)
    problems = policy_problems(made)
    if problems:
        # The gateway would refuse it at start-up: say so now, and write nothing.
        console.print(f"[red]this evaluation gives no usable policy:[/red] {'; '.join(problems)}")
        raise typer.Exit(2)
    out.write_text(made.model_dump_json(indent=2) + "\n")
    console.print(f"wrote {out}: accept fused >= {made.accept_threshold:.4f} ({made.fusion.rule})")


def enroll_command(
    user: Annotated[str, typer.Option(help="user id to enrol")],
    face: Annotated[list[Path], typer.Option(help="a face photo (repeat, at least 3)")],
    voice: Annotated[list[Path], typer.Option(help="a voice clip (repeat, at least 3)")],
) -> None:
    """Enrol a user from photo and voice files, directly against MongoDB and object storage."""
    from auth_gateway.enrolment import EnrolmentError, Upload
    from auth_gateway.service import load_gateway
    from schemas.fields import Identifier

    # The id names object keys: checked before anything is loaded, stored or deleted.
    try:
        TypeAdapter(Identifier).validate_python(user)
    except ValidationError as exc:
        console.print(f"[red]--user {user!r} is not a valid user id: {exc}[/]")
        raise typer.Exit(2) from exc

    async def _enroll() -> None:
        gateway, producer = await load_gateway(get_settings())
        try:
            uploads = {
                kind: [Upload(data=p.read_bytes(), content_type=_content_type(p)) for p in paths]
                for kind, paths in (("face", face), ("voice", voice))
            }
            result = await gateway.enroller.enroll(user, uploads["face"], uploads["voice"])
            console.print(result.model_dump_json(indent=2))
        except EnrolmentError as exc:
            console.print(f"[red]{exc}[/]")
            for rejected in exc.rejected:
                console.print(f"  {rejected.modality}[{rejected.index}]: {rejected.reason}")
            raise typer.Exit(1) from exc
        finally:
            await producer.stop()
            gateway.analyser.close()
            await gateway.close()

    asyncio.run(_enroll())


def _content_type(path: Path) -> str:
    return {
        ".jpg": "image/jpeg",
        ".jpeg": "image/jpeg",
        ".png": "image/png",
        ".wav": "audio/wav",
        ".flac": "audio/flac",
        ".ogg": "audio/ogg",
    }.get(path.suffix.lower(), "application/octet-stream")
