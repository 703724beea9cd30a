"""``kibalock eval`` and ``kibalock models fetch``: the failure paths, without loading models."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from kibalock_cli.eval import eval_command
from kibalock_cli.models import models_app

app = typer.Typer()
app.add_typer(models_app, name="models")
app.command("eval")(eval_command)
# Wide enough that rich does not wrap the paths in the messages.
WIDE = {"COLUMNS": "300"}


def test_eval_refuses_a_missing_data_folder(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["eval", "--data", str(tmp_path / "nope"), "--out", "x"], env=WIDE
    )
    assert result.exit_code == 2
    assert "invalid data folder" in result.output


def test_eval_refuses_a_folder_without_identities(tmp_path: Path) -> None:
    (tmp_path / "faces").mkdir()
    (tmp_path / "voices").mkdir()
    result = CliRunner().invoke(app, ["eval", "--data", str(tmp_path), "--out", "x"], env=WIDE)
    assert result.exit_code == 2
    assert "identities.csv" in result.output


def test_eval_refuses_an_unknown_rule(tmp_path: Path) -> None:
    args = ["eval", "--data", str(tmp_path), "--fusion-rule", "max"]
    result = CliRunner().invoke(app, args, env=WIDE)
    assert result.exit_code == 2
    assert "'max' is not a valid FusionRule" in result.output


def test_models_fetch_failure_exits_non_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(models_dir: Path) -> list[Path]:
        raise OSError("disk full")

    monkeypatch.setattr("core.biometrics.face.fetch_models", broken)
    result = CliRunner().invoke(app, ["models", "fetch", "--models-dir", str(tmp_path)], env=WIDE)
    assert result.exit_code == 1
    assert "could not fetch the face models" in result.output
    assert "disk full" in result.output
