"""``kibalock processors``: run the stream processors worker."""

from __future__ import annotations

from typing import Annotated

import typer


def processors_command(
    port: Annotated[
        int | None,
        typer.Option("--port", help="/healthz and /metrics port (KIBALOCK_PROCESSORS__HTTP_PORT)."),
    ] = None,
) -> None:
    """Run the stream processors (metrics, retrain triggers, lockouts) until SIGTERM/SIGINT.

    Configured by the processors section (KIBALOCK_PROCESSORS__* or the config file: window
    sizes, thresholds, cool-down, lockout policy) and the kafka section; every topic is under
    KIBALOCK_KAFKA__TOPIC_PREFIX.
    """
    # Lazy: faust and its dependencies load only when the worker runs.
    from core.settings import get_settings
    from stream_processors.worker import run_worker

    settings = get_settings()
    if port is not None:
        processors = settings.processors.model_copy(update={"http_port": port})
        settings = settings.model_copy(update={"processors": processors})
    run_worker(settings)
