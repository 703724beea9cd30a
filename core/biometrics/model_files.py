"""Where the offline model weights live, and the error that says how to get them."""

from __future__ import annotations

from pathlib import Path

from core.settings import get_settings

FETCH_COMMAND = "kibalock models fetch"


class MissingModelError(RuntimeError):
    """A weight file the engine needs is missing; the message names the command that fixes it."""

    def __init__(self, what: str, path: Path) -> None:
        super().__init__(f"{what} is missing at {path}: run `{FETCH_COMMAND}` to install it")
        self.what = what
        self.path = path


def models_dir() -> Path:
    """The configured model directory (``KIBALOCK_SHARED__MODELS_DIR``), created on demand."""
    path = get_settings().shared.models.expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def require(path: Path, what: str) -> Path:
    if not path.exists():
        raise MissingModelError(what, path)
    return path
