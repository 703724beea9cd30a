"""``kibalock dashboard``: the analysts' dashboard, ``streamlit run`` on the configured address.

Admin-only: it does not start without an admin key (the gateway's, ``KIBALOCK_GATEWAY__API_KEY``
or ``_FILE``), which its login form asks for.
"""

from __future__ import annotations

import os
from importlib.util import find_spec
from typing import Annotated

import typer
from rich.console import Console

console = Console(stderr=True)


def dashboard_command(
    port: Annotated[
        int | None,
        typer.Option("--port", help="Listen here instead of KIBALOCK_DASHBOARD__PORT."),
    ] = None,
) -> None:
    """Serve the LifeModo / KibaLock dashboard: live figures from the metrics, activations and
    jobs topics, the model registry, and LifeModo's uploads and retrain requests."""
    from core.settings import get_settings
    from core.settings.dev import DevelopmentSecrets, refuse_development_defaults
    from dashboard.launch import streamlit_command

    settings = get_settings()
    try:
        key = settings.gateway.admin_key()
        refuse_development_defaults(settings, "dashboard")
    except (ValueError, DevelopmentSecrets) as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from exc
    if key is None:
        console.print(
            "[red]the dashboard is admin-only: set KIBALOCK_GATEWAY__API_KEY or "
            "KIBALOCK_GATEWAY__API_KEY_FILE[/]"
        )
        raise typer.Exit(2)
    if find_spec("streamlit") is None:
        console.print("[red]streamlit is missing: pip install 'kibalock[dashboard]'[/]")
        raise typer.Exit(2)
    if port is not None:
        options = settings.dashboard.model_copy(update={"port": port})
        settings = settings.model_copy(update={"dashboard": options})
    options = settings.dashboard
    console.print(f"dashboard on http://{options.host}:{options.port} (Ctrl-C stops it)")
    command = streamlit_command(settings)
    # Streamlit takes this process's place, so Ctrl-C and SIGTERM reach it directly.
    os.execv(command[0], command)
