"""LifeModo uploads: files sent through the page become one import, run by the same function as
``kibalock trainer import`` (:func:`trainer.importer.import_media`).

The files are written to a temporary folder under names made safe (the client's name is only a
hint: no directories, no odd characters, no two alike) and imported from there; the import
reads the type from the suffix and then from the content, as it does for a folder.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.settings import Settings
    from trainer.importer import ImportOutcome

# The folder the import records as its path_name.
UPLOAD_FOLDER = "dashboard-upload"
SOURCE = "dashboard"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Upload:
    name: str
    data: bytes


def accepted_types() -> list[str]:
    """The suffixes the import reads (without the dot), for the upload widget."""
    from trainer.importer import AUDIO_SUFFIXES, IMAGE_SUFFIXES, PDF_SUFFIX

    return sorted(s.removeprefix(".") for s in IMAGE_SUFFIXES | AUDIO_SUFFIXES | {PDF_SUFFIX})


def safe_names(names: list[str]) -> list[str]:
    """A file name for each upload, in order: the base name with unsafe characters replaced,
    never hidden, and numbered where two would be alike."""
    taken: set[str] = set()
    out = []
    for name in names:
        base = PureWindowsPath(PurePosixPath(name).name).name
        clean = _UNSAFE.sub("_", base).lstrip(".") or "upload"
        stem, dot, suffix = clean.rpartition(".")
        if not dot:
            stem, suffix = clean, ""
        candidate, n = clean, 1
        while candidate.lower() in taken:
            n += 1
            candidate = f"{stem}-{n}.{suffix}" if suffix else f"{stem}-{n}"
        taken.add(candidate.lower())
        out.append(candidate)
    return out


async def import_uploads(
    settings: Settings, uploads: list[Upload], *, user_id: str | None, source: str | None
) -> ImportOutcome:
    """Imports ``uploads`` for ``user_id`` (None: unlabelled data)."""
    from trainer.importer import ImportRefused, import_media

    if not uploads:
        raise ImportRefused("no file was uploaded")
    with tempfile.TemporaryDirectory(prefix="kibalock-upload-") as tmp:
        folder = Path(tmp) / UPLOAD_FOLDER
        await asyncio.to_thread(_write, folder, uploads)
        return await import_media(settings, folder, user_id=user_id, source=source or SOURCE)


def _write(folder: Path, uploads: list[Upload]) -> None:
    folder.mkdir()
    for upload, name in zip(uploads, safe_names([u.name for u in uploads]), strict=True):
        (folder / name).write_bytes(upload.data)
