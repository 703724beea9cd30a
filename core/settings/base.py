"""What every section of the settings tree shares."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, SecretStr

# "~/kibalock/models" in a config file means the user's home, as it does in a shell.
ExpandedPath = Annotated[Path, AfterValidator(Path.expanduser)]


class Section(BaseModel):
    """One part of the tree; an unknown key is an error, so a typo never passes unnoticed."""

    model_config = ConfigDict(extra="forbid")


def inline_or_file(
    inline: SecretStr | None, path: ExpandedPath | None, name: str
) -> SecretStr | None:
    """A secret given inline, else read from ``path`` (stripped); ``name`` names the key in
    errors."""
    if inline is not None or path is None:
        return inline
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ValueError(f"cannot read {name}: {exc}") from exc
    if not text:
        raise ValueError(f"{name} {path} is empty")
    return SecretStr(text)
