"""Scripts for Streamlit's AppTest, which runs a function's *source* as the app: each imports
what it draws inside its body, and its annotation stays a string the script never evaluates
(hence no ``from __future__ import annotations`` here)."""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dashboard.backend import Backend


def app_script(backend: "Backend") -> None:
    from dashboard.ui import main

    main(backend)


def overview_script(backend: "Backend") -> None:
    from dashboard.views import overview

    overview.render(backend)


def lifemodo_script(backend: "Backend") -> None:
    from dashboard.views import lifemodo

    lifemodo.render(backend)
