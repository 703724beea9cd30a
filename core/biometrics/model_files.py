"""Where the offline model weights live, and the error that says how to get them."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Sequence
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
    """The configured model directory (``KIBALOCK_MODELS__FILES_DIR``), created on demand."""
    path = get_settings().model_files_dir
    path.mkdir(parents=True, exist_ok=True)
    return path


class ModelFileChanged(RuntimeError):
    """A weight file is not the one its engine pins; the message names the command that
    restores it."""


def require(path: Path, what: str) -> Path:
    if not path.exists():
        raise MissingModelError(what, path)
    return path


def require_pinned(path: Path, sha256: str, what: str) -> Path:
    """``path``, checked against its pinned sha256 when an engine loads it, not only when it
    was fetched: the version a decision names is then the one that ran."""
    found = file_sha256(require(path, what))
    if found != sha256:
        raise ModelFileChanged(
            f"{what} at {path} is not the pinned file (sha256 {found}, expected {sha256}): "
            f"run `{FETCH_COMMAND}` to reinstall it"
        )
    return path


def file_sha256(*paths: Path) -> str:
    """sha256 of the files' bytes, concatenated in order (a split weight file is one model)."""
    digest = hashlib.sha256()
    for path in paths:
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def install_file(sources: Sequence[Path], dst: Path, sha256: str | None = None) -> None:
    """Writes ``sources`` concatenated to ``dst``, checked against ``sha256`` when given.

    Written to a temp file then renamed, so a concurrent engine start never loads a
    half-written file.
    """
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            for src in sources:
                with src.open("rb") as f:
                    shutil.copyfileobj(f, out, 1 << 20)
        if sha256 is not None and file_sha256(Path(tmp)) != sha256:
            raise ValueError(f"{dst}: the installed file does not match sha256 {sha256}")
        os.chmod(tmp, 0o644)  # mkstemp makes it owner-only; services may run as other users
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
