"""Audit finding 23: a private signing key is never printed to the terminal."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from kibalock_cli.models import models_app


def test_keygen_writes_the_private_key_to_a_private_file_only(tmp_path: Path) -> None:
    printed = CliRunner().invoke(models_app, ["keygen"])
    assert printed.exit_code != 0 and "SIGNING_KEY=" not in printed.output
    written = CliRunner().invoke(models_app, ["keygen", "--out", str(tmp_path / "pub")])
    assert written.exit_code == 0, written.output
    key = tmp_path / "pub.key"
    assert key.stat().st_mode & 0o777 == 0o600
    assert key.read_text().strip() not in written.output
