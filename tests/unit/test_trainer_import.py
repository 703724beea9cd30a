"""The import's pure parts: where media go, what the import id depends on, what a folder holds."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from schemas.keys import imported_media_key, user_prefix
from trainer.importer import ImportRefused, import_id_of, scan


def test_a_users_imports_sit_under_the_prefix_erasure_deletes() -> None:
    key = imported_media_key("alice", "imp-1", 3, "jpg")
    assert key == "alice/imported/imp-1/3.jpg" and key.startswith(user_prefix("alice"))
    unlabelled = imported_media_key(None, "imp-1", 0, "pdf")
    assert unlabelled == "_unlabelled/imported/imp-1/0.pdf"


def test_the_import_id_is_the_owner_and_the_contents_in_any_order() -> None:
    assert import_id_of("alice", ["b", "a"]) == import_id_of("alice", ["a", "b", "a"])
    assert import_id_of("alice", ["a"]) != import_id_of("bob", ["a"])
    assert import_id_of(None, ["a"]) != import_id_of(None, ["a", "b"])


def test_a_folder_is_scanned_in_order_without_hidden_files(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / ".git").mkdir()
    (tmp_path / "b" / "2.wav").write_bytes(b"two")
    (tmp_path / "1.jpg").write_bytes(b"one")
    (tmp_path / ".DS_Store").write_bytes(b"x")
    (tmp_path / ".git" / "config").write_bytes(b"x")
    found = scan(tmp_path)
    assert [(f.name, f.sha256) for f in found] == [
        ("1.jpg", hashlib.sha256(b"one").hexdigest()),
        ("b/2.wav", hashlib.sha256(b"two").hexdigest()),
    ]
    (single,) = scan(tmp_path / "1.jpg")
    assert single.name == "1.jpg"
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImportRefused, match="holds no file"):
        scan(tmp_path / "empty")
