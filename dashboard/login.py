"""The dashboard's door: the admin API key, asked for before anything else is shown.

The key is the one the gateway's and the trainer's admin endpoints take (``gateway.api_key``),
compared in constant time. A session that gave it stays logged in until it logs out or ends.
"""

from __future__ import annotations

import time

import streamlit as st
from pydantic import SecretStr

from core.http.admin_key import admin_key_matches

LOGGED_IN = "kibalock_admin"
# A wrong key costs the guesser this long; the person who mistyped hardly notices.
FAILURE_DELAY_S = 0.5


def admin_gate(expected: SecretStr | None) -> bool:
    """True once this session gave the admin key; until then only the login form is drawn."""
    if expected is None:
        st.error(
            "The dashboard is for administrators and no admin key is configured: set "
            "KIBALOCK_GATEWAY__API_KEY or KIBALOCK_GATEWAY__API_KEY_FILE."
        )
        return False
    if st.session_state.get(LOGGED_IN) is True:
        return True
    st.title("KibaLock dashboard")
    with st.form("login"):
        given = st.text_input("Admin key", type="password")
        submitted = st.form_submit_button("Log in")
    if submitted:
        if admin_key_matches(expected, given):
            st.session_state[LOGGED_IN] = True
            st.rerun()
        time.sleep(FAILURE_DELAY_S)
        st.error("That is not the admin key.")
    return False


def log_out() -> None:
    st.session_state.pop(LOGGED_IN, None)
