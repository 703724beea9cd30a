"""The script ``kibalock dashboard`` hands to ``streamlit run``.

Streamlit runs it again for every interaction of every session; the backend (the live feed's
consumer, the MongoDB client) is built once per process and shared.
"""

from __future__ import annotations

import streamlit as st

from core.logging import configure_logging
from core.settings import get_settings
from dashboard.backend import LiveBackend
from dashboard.ui import main


@st.cache_resource
def live_backend() -> LiveBackend:
    configure_logging()
    return LiveBackend(get_settings())


main(live_backend())
