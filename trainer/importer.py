"""LifeModo's data import: a folder of photos and recordings, or a PDF, into the ``training``
bucket, with a provenance record per import and the automatic annotations.

What each file gives (the original note's "OCR + annotations automatiques"):
- a photo (JPEG, PNG, WebP): every face the default detector finds (dlib HOG, MMOD fallback),
  boxes in the photo's pixels, which is the face detector's training label;
- a recording (WAV, FLAC, Ogg): its duration and how much of it is speech (the gateway's VAD);
- a PDF: the file itself, and each page rendered by PDFium and stored as a PNG with its faces and
  its text lines (RapidOCR, bundled models).

A file that cannot be read is rejected with a reason and the import goes on. Media land under
``{user}/imported/{import_id}/`` (``_unlabelled/…`` without a user): erasing a user deletes that
prefix with the rest of their training media, and ``training_imports`` documents by ``user_id``.

Idempotent by content: the import id is a digest of the owner and of every input file's sha256,
so running the same import again finds its record and changes nothing; a file already imported
for the same owner by an earlier import is listed as a duplicate instead of being stored twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field, TypeAdapter
from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from core import docstore
from core.biometrics.audio import (
    SAMPLE_RATE,
    VAD_FRAME_MS,
    AudioLimits,
    InvalidAudio,
    speech_frames,
)
from core.biometrics.audio import decode as decode_audio
from core.biometrics.face_detect import FaceBox
from core.biometrics.image import ImageLimits, InvalidImage, decode_image
from core.docstore import Database, IndexSpec, ensure_indexes
from core.objectstore import ObjectStore, sha256_hex
from schemas import MediaRef
from schemas.fields import Identifier
from schemas.keys import imported_media_key
from trainer.ocr import ENGINE as OCR_ENGINE
from trainer.ocr import TextLine
from trainer.pdf_pages import InvalidPdf, render_pages

if TYPE_CHECKING:
    from core.biometrics.face_detect import FaceDetector
    from core.settings import Settings
    from trainer.ocr import PageReader

COLLECTION = "training_imports"
INDEXES = [
    IndexSpec(COLLECTION, [("import_id", ASCENDING)], unique=True),
    IndexSpec(COLLECTION, [("user_id", ASCENDING)]),
    IndexSpec(COLLECTION, [("contents", ASCENDING)]),
]

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}
AUDIO_SUFFIXES = {".wav", ".flac", ".ogg"}
PDF_SUFFIX = ".pdf"
_IMAGE_TYPES = {"JPEG": ("jpg", "image/jpeg"), "PNG": ("png", "image/png")}
_IMAGE_TYPES["WEBP"] = ("webp", "image/webp")
_AUDIO_TYPES = {".wav": "audio/wav", ".flac": "audio/flac", ".ogg": "audio/ogg"}
# Imported recordings may be longer than a login phrase; the byte cap still bounds decoding.
AUDIO_LIMITS = AudioLimits(max_seconds=600.0, max_bytes=64 * 1024 * 1024)
# Scans and photo-heavy PDFs are larger than terminal uploads.
IMAGE_LIMITS = ImageLimits(max_bytes=32 * 1024 * 1024)
MAX_PDF_BYTES = 100 * 1024 * 1024
_USER_ID: TypeAdapter[str] = TypeAdapter(Identifier)


class FileKind(StrEnum):
    IMAGE = "image"
    AUDIO = "audio"
    PDF = "pdf"
    PDF_PAGE = "pdf_page"


class ImportedFile(BaseModel):
    """One stored object and what was found in it."""

    index: int = Field(ge=0, description="n in the key {prefix}{n}.{ext}")
    source: str = Field(description="path inside the import; a page is 'file.pdf#page=N'")
    kind: FileKind
    media: MediaRef
    page: int | None = Field(default=None, ge=1, description="a PDF page's number")
    parent: int | None = Field(default=None, description="a page's PDF (its index)")
    pages: int | None = Field(default=None, ge=0, description="a PDF's page count")
    width: int | None = None
    height: int | None = None
    faces_found: int | None = Field(default=None, ge=0)
    face_boxes: list[FaceBox] = Field(default_factory=list)
    face_detector: str | None = None
    duration_seconds: float | None = None
    speech_seconds: float | None = None
    text_lines: list[TextLine] = Field(default_factory=list)
    ocr_engine: str | None = None


class RejectedFile(BaseModel):
    source: str
    sha256: str | None = None
    reason: str = Field(description="short code: unsupported_type, corrupt, too_large, …")
    detail: str = ""


class DuplicateFile(BaseModel):
    source: str
    sha256: str
    import_id: str = Field(description="the earlier import that holds it")


class ImportRecord(BaseModel):
    """A ``training_imports`` document: the provenance of one import."""

    import_id: str
    user_id: str | None = Field(description="None: unlabelled data")
    source: str | None = Field(default=None, description="the operator's label")
    path_name: str = Field(description="the imported folder's or file's name")
    started_at: datetime
    finished_at: datetime
    contents: list[str] = Field(description="sha256 of every input file stored by this import")
    files: list[ImportedFile] = Field(default_factory=list)
    duplicates: list[DuplicateFile] = Field(default_factory=list)
    rejected: list[RejectedFile] = Field(default_factory=list)


class ImportOutcome(BaseModel):
    record: ImportRecord
    already_imported: bool = Field(description="the same import ran before: nothing changed")


ImportProgress = Callable[[int, int, str], None]
"""Called with (files done, files in total, the file being read)."""


class ImportRefused(ValueError):
    """The import cannot start (path missing, empty, bad user id)."""


def input_files(path: Path) -> list[Path]:
    """``path`` itself, or every visible file under it in a stable order."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise ImportRefused(f"{path} is neither a file nor a folder")
    files = sorted(
        p
        for p in path.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
    )
    if not files:
        raise ImportRefused(f"{path} holds no file")
    return files


@dataclass(frozen=True)
class InputFile:
    name: str  # relative to the imported folder
    path: Path
    sha256: str


def scan(path: Path) -> list[InputFile]:
    """The files to import with their sha256, read in chunks (a folder may be large)."""
    root = path if path.is_dir() else path.parent
    found = []
    for file in input_files(path):
        digest = hashlib.sha256()
        with file.open("rb") as stream:
            for chunk in iter(lambda: stream.read(1 << 20), b""):
                digest.update(chunk)
        found.append(InputFile(file.relative_to(root).as_posix(), file, digest.hexdigest()))
    return found


def import_id_of(user_id: str | None, contents: list[str]) -> str:
    digest = hashlib.sha256("\n".join([user_id or "", *sorted(set(contents))]).encode())
    return "imp-" + digest.hexdigest()[:20]


class Importer:
    """Runs imports into one database and object store.

    The face detector and the OCR reader load lazily (the OCR only when a PDF comes), and run in
    a worker thread so the event loop stays free.
    """

    def __init__(
        self,
        db: Database,
        objects: ObjectStore,
        *,
        detector: FaceDetector | None = None,
        reader: PageReader | None = None,
    ) -> None:
        self._coll = db[COLLECTION]
        self._db = db
        self._objects = objects
        self._detector = detector
        self._reader = reader

    async def run(
        self,
        path: Path,
        *,
        user_id: str | None = None,
        source: str | None = None,
        progress: ImportProgress | None = None,
    ) -> ImportOutcome:
        if user_id is not None:
            user_id = _USER_ID.validate_python(user_id)
        inputs = await asyncio.to_thread(scan, path)
        import_id = import_id_of(user_id, [i.sha256 for i in inputs])
        existing = await self._coll.find_one({"import_id": import_id})
        if existing is not None:
            return ImportOutcome(record=_record(existing), already_imported=True)
        await ensure_indexes(self._db, INDEXES)
        run = _Run(self, import_id, user_id)
        started = datetime.now(UTC)
        for done, item in enumerate(inputs):
            if progress is not None:
                progress(done, len(inputs), item.name)
            await run.add(item)
        if progress is not None:
            progress(len(inputs), len(inputs), "")
        record = ImportRecord(
            import_id=import_id,
            user_id=user_id,
            source=source,
            path_name=path.name,
            started_at=started,
            finished_at=datetime.now(UTC),
            contents=run.contents,
            files=run.files,
            duplicates=run.duplicates,
            rejected=run.rejected,
        )
        try:
            await self._coll.insert_one(record.model_dump(mode="json"))
        except DuplicateKeyError:
            # The same import finished concurrently: same bytes at the same keys.
            stored = await self._coll.find_one({"import_id": import_id})
            if stored is not None:
                return ImportOutcome(record=_record(stored), already_imported=True)
            raise
        return ImportOutcome(record=record, already_imported=False)

    async def records(self, user_id: str | None = None) -> list[ImportRecord]:
        cursor = self._coll.find({"user_id": user_id}).sort("started_at", ASCENDING)
        return [_record(doc) async for doc in cursor]

    def detector(self) -> FaceDetector:
        if self._detector is None:
            from core.biometrics import model_files
            from core.biometrics.face_detect import (
                FallbackDetector,
                HogFaceDetector,
                MmodFaceDetector,
            )
            from core.biometrics.face_models import face_model_paths

            # The gateway's default detector, so the labels are what serving would find.
            weights = face_model_paths(model_files.models_dir()).detector
            self._detector = FallbackDetector(HogFaceDetector(), MmodFaceDetector(weights))
        return self._detector

    def reader(self) -> PageReader:
        if self._reader is None:
            from trainer.ocr import PageReader

            self._reader = PageReader()
        return self._reader

    async def earlier_import(self, user_id: str | None, sha256: str) -> str | None:
        doc = await self._coll.find_one({"user_id": user_id, "contents": sha256})
        return None if doc is None else str(doc["import_id"])

    async def store(self, key: str, data: bytes, content_type: str) -> MediaRef:
        return await self._objects.put_bytes(
            self._objects.bucket("training"), key, data, content_type
        )


async def import_media(
    settings: Settings,
    path: Path,
    *,
    user_id: str | None = None,
    source: str | None = None,
    progress: ImportProgress | None = None,
) -> ImportOutcome:
    """One import into the configured stores: what ``kibalock trainer import`` and the
    dashboard's uploads both run."""
    objects = ObjectStore(settings)
    await objects.ensure_buckets(["training"])
    client = docstore.client(settings)
    try:
        importer = Importer(client[settings.mongo.database], objects)
        return await importer.run(path, user_id=user_id, source=source, progress=progress)
    finally:
        await client.close()


class _Run:
    """The files, duplicates and rejections of one import as it goes."""

    def __init__(self, importer: Importer, import_id: str, user_id: str | None) -> None:
        self._importer = importer
        self._import_id = import_id
        self._user_id = user_id
        self.files: list[ImportedFile] = []
        self.duplicates: list[DuplicateFile] = []
        self.rejected: list[RejectedFile] = []
        self.contents: list[str] = []

    async def add(self, item: InputFile) -> None:
        name, sha = item.name, item.sha256
        suffix = Path(name).suffix.lower()
        if suffix not in IMAGE_SUFFIXES | AUDIO_SUFFIXES | {PDF_SUFFIX}:
            self._reject(name, sha, "unsupported_type", f"{suffix or 'no extension'}")
            return
        earlier = (
            self._import_id
            if sha in self.contents
            else await self._importer.earlier_import(self._user_id, sha)
        )
        if earlier is not None:
            self.duplicates.append(DuplicateFile(source=name, sha256=sha, import_id=earlier))
            return
        data = await asyncio.to_thread(item.path.read_bytes)
        if sha256_hex(data) != sha:
            self._reject(name, sha, "changed", "the file changed while it was imported")
            return
        try:
            if suffix in IMAGE_SUFFIXES:
                await self._add_image(name, data)
            elif suffix in AUDIO_SUFFIXES:
                await self._add_audio(name, data, suffix)
            else:
                await self._add_pdf(name, data)
        except (InvalidImage, InvalidAudio, InvalidPdf) as exc:
            self._reject(name, sha, exc.reason, str(exc))
            return
        self.contents.append(sha)

    def _reject(self, name: str, sha: str | None, reason: str, detail: str) -> None:
        self.rejected.append(RejectedFile(source=name, sha256=sha, reason=reason, detail=detail))

    def _key(self, extension: str) -> str:
        return imported_media_key(self._user_id, self._import_id, len(self.files), extension)

    async def _add_image(self, name: str, data: bytes) -> None:
        image_format, fields = await asyncio.to_thread(self._faces_in_photo, data)
        extension, content_type = _IMAGE_TYPES[image_format]
        media = await self._importer.store(self._key(extension), data, content_type)
        self.files.append(
            ImportedFile(
                index=len(self.files), source=name, kind=FileKind.IMAGE, media=media, **fields
            )
        )

    def _faces_in_photo(self, data: bytes) -> tuple[str, dict[str, Any]]:
        """The photo's format, and its size and faces (in the upright photo's pixels)."""
        from PIL import Image

        image = decode_image(data, IMAGE_LIMITS)
        detector = self._importer.detector()
        boxes = [b.scaled(1.0 / image.scale) for b in detector.detect(image.rgb)]
        with Image.open(io.BytesIO(data)) as im:
            image_format = str(im.format)
        return image_format, {
            "width": round(image.rgb.shape[1] / image.scale),
            "height": round(image.rgb.shape[0] / image.scale),
            "faces_found": len(boxes),
            "face_boxes": boxes,
            "face_detector": detector.name,
        }

    async def _add_audio(self, name: str, data: bytes, suffix: str) -> None:
        duration, speech = await asyncio.to_thread(_speech_of, data)
        media = await self._importer.store(
            self._key(suffix.removeprefix(".")), data, _AUDIO_TYPES[suffix]
        )
        self.files.append(
            ImportedFile(
                index=len(self.files),
                source=name,
                kind=FileKind.AUDIO,
                media=media,
                duration_seconds=duration,
                speech_seconds=speech,
            )
        )

    async def _add_pdf(self, name: str, data: bytes) -> None:
        if len(data) > MAX_PDF_BYTES:
            raise InvalidPdf("too_large", f"{len(data)} bytes > {MAX_PDF_BYTES}")
        pages = await asyncio.to_thread(_analyse_pdf, data, self._importer)
        pdf_index = len(self.files)
        media = await self._importer.store(self._key("pdf"), data, "application/pdf")
        self.files.append(
            ImportedFile(
                index=pdf_index, source=name, kind=FileKind.PDF, media=media, pages=len(pages)
            )
        )
        for page in pages:
            png = page.pop("png")
            media = await self._importer.store(self._key("png"), png, "image/png")
            self.files.append(
                ImportedFile(
                    index=len(self.files),
                    source=f"{name}#page={page['page']}",
                    kind=FileKind.PDF_PAGE,
                    media=media,
                    parent=pdf_index,
                    **page,
                )
            )


def _speech_of(data: bytes) -> tuple[float, float]:
    decoded = decode_audio(data, AUDIO_LIMITS)
    frames = speech_frames(decoded.audio)
    duration = len(decoded.audio) / SAMPLE_RATE
    return round(duration, 3), round(int(frames.sum()) * VAD_FRAME_MS / 1000, 3)


def _analyse_pdf(data: bytes, importer: Importer) -> list[dict[str, Any]]:
    """Every page as PNG bytes with its faces and text lines; the whole PDF fails as one."""
    from PIL import Image

    detector = importer.detector()
    reader = importer.reader()
    pages = []
    for page in render_pages(data):
        buffer = io.BytesIO()
        Image.fromarray(page.rgb).save(buffer, format="PNG")
        boxes = detector.detect(page.rgb)
        pages.append(
            {
                "png": buffer.getvalue(),
                "page": page.number,
                "width": page.rgb.shape[1],
                "height": page.rgb.shape[0],
                "faces_found": len(boxes),
                "face_boxes": boxes,
                "face_detector": detector.name,
                "text_lines": reader.read(page.rgb),
                "ocr_engine": OCR_ENGINE,
            }
        )
    return pages


def _record(doc: dict[str, Any]) -> ImportRecord:
    return ImportRecord.model_validate({k: v for k, v in doc.items() if k != "_id"})
