"""``kibalock trainer import`` against the real stack: a folder of the vendored photos and
recordings for a user, a generated PDF as unlabelled data, and the user's erasure."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import matplotlib
import pytest
import soundfile as sf
import typer
from PIL import Image, ImageDraw, ImageFont
from typer.testing import CliRunner

from auth_gateway import erasure
from auth_gateway.capture import SampleCapture
from auth_gateway.crypto import TemplateCipher
from auth_gateway.decision_log import DecisionLog
from core import docstore
from core.bus import EventProducer
from core.docstore import Database
from core.objectstore import ObjectStore
from core.settings import Settings, get_settings
from kibalock_cli.trainer_import import import_command
from schemas.keys import imported_prefix, user_prefix
from trainer.importer import COLLECTION, FileKind, Importer

pytestmark = pytest.mark.integration

PHOTOS = ("img1.jpg", "img2.jpg", "img3.jpg")
CLIPS = ("0_george_0.wav", "1_jackson_0.wav", "2_lucas_0.wav")
TITLE = "KibaLock enrolment form"
NAME = "Utilisateur: Jean Dupont"


@pytest.fixture
async def db(ns_settings: Settings) -> AsyncIterator[Database]:
    client = docstore.client(ns_settings)
    yield client[ns_settings.mongo.database]
    await client.close()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _folder(data_dir: Path, target: Path) -> Path:
    """The photos and clips, a copy of a photo, a truncated photo and a text file."""
    (target / "audio").mkdir(parents=True)
    for name in PHOTOS:
        shutil.copy(data_dir / "faces" / name, target / name)
    for name in CLIPS:
        shutil.copy(data_dir / "voices" / name, target / "audio" / name)
    shutil.copy(data_dir / "faces" / PHOTOS[0], target / "z-copy-of-img1.jpg")
    photo = (data_dir / "faces" / PHOTOS[1]).read_bytes()
    (target / "cut.jpg").write_bytes(photo[: len(photo) // 3])
    (target / "notes.txt").write_text("not media")
    return target


def _pdf(data_dir: Path) -> bytes:
    """Two A4 pages at 150 dpi: a title, a name and a face photo; then text only."""
    font_file = Path(matplotlib.__file__).parent / "mpl-data/fonts/ttf/DejaVuSans.ttf"
    font = ImageFont.truetype(str(font_file), 48)
    first = Image.new("RGB", (1240, 1754), "white")
    draw = ImageDraw.Draw(first)
    draw.text((100, 100), TITLE, fill="black", font=font)
    draw.text((100, 200), NAME, fill="black", font=font)
    face = Image.open(data_dir / "faces" / PHOTOS[0]).convert("RGB")
    face.thumbnail((600, 600))
    first.paste(face, (100, 400))
    second = Image.new("RGB", (1240, 1754), "white")
    ImageDraw.Draw(second).text((100, 100), "Signature 4 7 1", fill="black", font=font)
    buffer = io.BytesIO()
    first.save(buffer, format="PDF", resolution=150, save_all=True, append_images=[second])
    return buffer.getvalue()


async def test_folder_import_for_a_user_then_again_then_erased(
    ns_settings: Settings,
    store: ObjectStore,
    db: Database,
    producer: EventProducer,
    data_dir: Path,
    tmp_path: Path,
) -> None:
    folder = _folder(data_dir, tmp_path / "holiday")
    importer = Importer(db, store)
    seen: list[tuple[int, int]] = []
    outcome = await importer.run(
        folder, user_id="alice", source="tests", progress=lambda d, t, _: seen.append((d, t))
    )
    record = outcome.record
    assert not outcome.already_imported
    assert seen[0] == (0, 9) and seen[-1] == (9, 9)
    assert (record.user_id, record.source, record.path_name) == ("alice", "tests", "holiday")

    by_source = {f.source: f for f in record.files}
    assert sorted(by_source) == sorted([*PHOTOS, *(f"audio/{c}" for c in CLIPS)])
    assert [(d.source, d.import_id) for d in record.duplicates] == [
        ("z-copy-of-img1.jpg", record.import_id)
    ]
    assert {(r.source, r.reason) for r in record.rejected} == {
        ("cut.jpg", "truncated"),
        ("notes.txt", "unsupported_type"),
    }
    training = store.bucket("training")
    prefix = imported_prefix("alice", record.import_id)
    assert prefix.startswith(user_prefix("alice"))
    for file in record.files:
        source = folder / file.source
        assert file.media.sha256 == _sha(source)
        assert file.media.key.startswith(prefix) and file.media.bucket == training
        assert hashlib.sha256(await store.get_bytes(file.media)).hexdigest() == _sha(source)
    for name in PHOTOS:
        photo = by_source[name]
        assert photo.kind is FileKind.IMAGE and photo.faces_found == 1
        box = photo.face_boxes[0]
        assert photo.width is not None and photo.height is not None
        assert 0 <= box.left < box.right <= photo.width and 0 <= box.top < box.bottom
        assert box.bottom <= photo.height and box.width > photo.width / 10
    for name in CLIPS:
        clip = by_source[f"audio/{name}"]
        info = sf.info(str(folder / "audio" / name))
        assert clip.duration_seconds == pytest.approx(info.frames / info.samplerate, abs=0.01)
        assert clip.speech_seconds is not None and clip.duration_seconds is not None
        assert 0.1 < clip.speech_seconds <= clip.duration_seconds
    assert await importer.records("alice") == [record]

    again = await importer.run(folder, user_id="alice", source="other label")
    assert again.already_imported and again.record == record
    assert await db[COLLECTION].count_documents({}) == 1
    assert len(await store.list_keys(training, prefix)) == len(record.files)

    shutil.copy(data_dir / "voices" / "3_nicolas_0.wav", folder / "audio" / "3_nicolas_0.wav")
    grown = (await importer.run(folder, user_id="alice")).record
    assert grown.import_id != record.import_id
    assert [f.source for f in grown.files] == ["audio/3_nicolas_0.wav"]
    assert {d.import_id for d in grown.duplicates} == {record.import_id}
    assert len(grown.duplicates) == 7

    removed = await erasure.erase_user(
        "alice",
        db=db,
        objects=store,
        decisions=DecisionLog(db),
        stores=[SampleCapture(db, store, producer, threshold=0.95)],
        pseudonym=TemplateCipher(os.urandom(32)).pseudonym,
    )
    assert removed["training_imports"] == 2
    assert await store.list_keys(training, user_prefix("alice")) == []
    assert await db[COLLECTION].count_documents({"user_id": "alice"}) == 0


async def test_pdf_import_unlabelled_finds_faces_and_text_offline(
    store: ObjectStore,
    db: Database,
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import requests

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network call: {args[1:3]}")

    # RapidOCR downloads through requests when a model is missing: it must never get there.
    monkeypatch.setattr(requests.sessions.Session, "request", no_network)
    folder = tmp_path / "scans"
    folder.mkdir()
    pdf = _pdf(data_dir)
    (folder / "form.pdf").write_bytes(pdf)
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4\n" + pdf[200:400])

    record = (await Importer(db, store).run(folder)).record

    assert record.user_id is None
    assert [(r.source, r.reason) for r in record.rejected] == [("broken.pdf", "corrupt")]
    document, *pages = record.files
    assert (document.kind, document.source, document.pages) == (FileKind.PDF, "form.pdf", 2)
    assert document.media.sha256 == hashlib.sha256(pdf).hexdigest()
    assert [(p.kind, p.page, p.parent, p.source) for p in pages] == [
        (FileKind.PDF_PAGE, n, document.index, f"form.pdf#page={n}") for n in (1, 2)
    ]
    for file in record.files:
        assert file.media.key.startswith(imported_prefix(None, record.import_id))
        assert file.media.key.startswith("_unlabelled/")
        data = await store.get_bytes(file.media)
        assert hashlib.sha256(data).hexdigest() == file.media.sha256
    first, second = pages
    assert first.faces_found == 1 and second.faces_found == 0
    with Image.open(io.BytesIO(await store.get_bytes(first.media))) as page_image:
        assert page_image.size == (first.width, first.height)
    face = first.face_boxes[0]
    assert first.width is not None
    # The photo was pasted at (100, 400) on a 1240 px wide page, at most 600 px wide.
    scale = first.width / 1240
    assert 90 * scale < face.left and face.right < 710 * scale and 400 * scale < face.top
    text = " ".join(line.text for line in first.text_lines).replace(" ", "").lower()
    assert "kibalockenrolmentform" in text and "jeandupont" in text
    title = next(line for line in first.text_lines if "KibaLock" in line.text)
    assert title.score > 0.9 and title.top < 200 * scale < title.bottom + 100 * scale
    assert "471" in "".join(line.text for line in second.text_lines).replace(" ", "")
    assert await Importer(db, store).records(None) == [record]


@pytest.fixture
def cli_env(ns_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    for name, value in ns_settings.to_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("COLUMNS", "200")  # the table is read back, unwrapped
    get_settings.cache_clear()
    yield ns_settings
    get_settings.cache_clear()


def test_the_command_imports_reports_and_is_idempotent(
    cli_env: Settings, data_dir: Path, tmp_path: Path
) -> None:
    cli = typer.Typer()
    cli.callback()(lambda: None)  # a group, so "import" stays a sub-command as under kibalock
    cli.command("import")(import_command)
    folder = tmp_path / "upload"
    folder.mkdir()
    shutil.copy(data_dir / "faces" / PHOTOS[0], folder / PHOTOS[0])
    shutil.copy(data_dir / "voices" / CLIPS[0], folder / CLIPS[0])
    (folder / "notes.txt").write_text("not media")
    runner = CliRunner()
    args = ["import", str(folder), "--user", "bob", "--source", "cli"]

    first = runner.invoke(cli, args)
    assert first.exit_code == 0, first.output
    assert "1 face(s)" in first.output and "s speech of" in first.output
    assert "unsupported_type" in first.output

    again = runner.invoke(cli, [*args, "--json"])
    assert again.exit_code == 0, again.output
    outcome = json.loads(again.stdout)
    assert outcome["already_imported"] is True
    assert outcome["record"]["user_id"] == "bob" and len(outcome["record"]["files"]) == 2

    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "a.wav").write_bytes(b"RIFF0000WAVEnothing")
    refused = runner.invoke(cli, ["import", str(junk)])
    assert refused.exit_code == 1 and "rejected" in refused.output
    bad_user = runner.invoke(cli, ["import", str(folder), "--user", "../x"])
    assert bad_user.exit_code == 1 and "refused" in bad_user.output
