"""The ``streamlit run`` command line of the dashboard for a settings tree."""

from __future__ import annotations

import sys
from pathlib import Path

from core.settings import Settings

APP = Path(__file__).with_name("app.py")


def streamlit_command(settings: Settings) -> list[str]:
    """Runs :data:`APP` on the configured address, headless and offline: no browser opened, no
    usage statistics sent, no file watcher, no development toolbar."""
    options = settings.dashboard
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.address",
        options.host,
        "--server.port",
        str(options.port),
        "--server.headless",
        "true",
        "--server.fileWatcherType",
        "none",
        "--server.maxUploadSize",
        str(options.max_upload_mb),
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "viewer",
        "--global.developmentMode",
        "false",
    ]
