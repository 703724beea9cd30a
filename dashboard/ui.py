"""The whole app for one session: the login first, then the two pages."""

from __future__ import annotations

from functools import partial

import streamlit as st

from dashboard.backend import Backend
from dashboard.login import admin_gate, log_out
from dashboard.views import lifemodo, overview

TITLE = "KibaLock ↔ LifeModo"


def main(backend: Backend) -> None:
    st.set_page_config(page_title=TITLE, page_icon="🔐", layout="wide")
    if not admin_gate(backend.admin_key):
        st.stop()
    with st.sidebar:
        if st.button("Log out"):
            log_out()
            st.rerun()
    pages = [
        st.Page(partial(overview.render, backend), title=TITLE, url_path="live", default=True),
        st.Page(partial(lifemodo.render, backend), title="LifeModo", url_path="lifemodo"),
    ]
    st.navigation(pages).run()
