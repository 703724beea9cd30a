"""What every section of the settings tree shares."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict

# "~/kibalock/models" in a config file means the user's home, as it does in a shell.
ExpandedPath = Annotated[Path, AfterValidator(Path.expanduser)]


class Section(BaseModel):
    """One part of the tree; an unknown key is an error, so a typo never passes unnoticed."""

    model_config = ConfigDict(extra="forbid")
