"""The LifeModo page: upload photos, recordings and PDFs for a user (the original note's
``st.file_uploader``), ask for a retrain, and follow the job until its version is in production.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import streamlit as st
from pydantic import ValidationError

from dashboard import frames
from dashboard.backend import Backend
from dashboard.trainer_api import TRAINABLE, DataSource, RetrainRequest, TrainerError
from dashboard.uploads import Upload, accepted_types
from schemas.model_catalog import VOICE_EMBEDDER

if TYPE_CHECKING:
    from trainer.importer import ImportOutcome

LAST_IMPORT = "lifemodo_last_import"
FOLLOWED_JOB = "lifemodo_followed_job"
SOURCES: list[DataSource] = ["curated", "imported", "all"]


def render(backend: Backend) -> None:
    st.title("LifeModo: data and retraining")
    _uploads(backend)
    _retrain(backend)
    _follow(backend)


def _uploads(backend: Backend) -> None:
    from trainer.importer import ImportRefused

    st.subheader("Import training data")
    with st.form("upload", clear_on_submit=True):
        user = st.text_input("User id", help="Leave empty for unlabelled data.")
        source = st.text_input("Where the data comes from", placeholder="dashboard")
        files = st.file_uploader(
            "Photos, recordings, PDFs",
            type=accepted_types(),
            accept_multiple_files=True,
            max_upload_size=backend.max_upload_mb,
        )
        submitted = st.form_submit_button("Import")
    if submitted:
        if not files:
            st.warning("Choose at least one file.")
        else:
            uploads = [Upload(f.name, f.getvalue()) for f in files]
            with st.spinner(f"Importing {len(uploads)} file(s)…"):
                try:
                    outcome = backend.import_uploads(
                        uploads, user_id=user.strip() or None, source=source.strip() or None
                    )
                except (ImportRefused, ValidationError) as exc:
                    st.error(f"Import refused: {exc}")
                else:
                    st.session_state[LAST_IMPORT] = outcome
    last: ImportOutcome | None = st.session_state.get(LAST_IMPORT)
    if last is not None:
        _import_summary(last)


def _import_summary(outcome: ImportOutcome) -> None:
    record = outcome.record
    owner = record.user_id or "unlabelled"
    if outcome.already_imported:
        st.info(f"{record.import_id} ({owner}): already imported, nothing changed.")
    else:
        st.success(
            f"{record.import_id} ({owner}): {len(record.files)} stored, "
            f"{len(record.duplicates)} already there, {len(record.rejected)} refused."
        )
    rows = [
        {
            "file": f.source,
            "kind": f.kind.value,
            "faces": f.faces_found,
            "speech_s": f.speech_seconds,
            "text_lines": len(f.text_lines) or None,
            "note": "",
        }
        for f in record.files
    ]
    rows += [
        {"file": d.source, "kind": "duplicate", "note": d.import_id} for d in record.duplicates
    ]
    rows += [
        {"file": r.source, "kind": "refused", "note": f"{r.reason}: {r.detail}"}
        for r in record.rejected
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True)


def _retrain(backend: Backend) -> None:
    st.subheader("Request a retrain")
    last: ImportOutcome | None = st.session_state.get(LAST_IMPORT)
    with st.form("retrain"):
        model = st.selectbox("Model", TRAINABLE, index=TRAINABLE.index(VOICE_EMBEDDER))
        source = st.selectbox("Data", SOURCES, help="imported: LifeModo imports only")
        user = st.text_input(
            "For one user",
            value=(last.record.user_id or "") if last is not None else "",
            help="A per-user model; leave empty to train the shared model.",
        )
        submitted = st.form_submit_button("Request retrain")
    if not submitted:
        return
    try:
        request = RetrainRequest(model=model, source=source, user_id=user.strip() or None)
        accepted = backend.trainer.request_retrain(request)
    except ValidationError as exc:
        st.error(f"Not a valid request: {exc.errors()[0]['msg']}")
    except TrainerError as exc:
        st.error(f"LifeModo refused: {exc}")
    else:
        st.session_state[FOLLOWED_JOB] = accepted.job_id
        joined = "queued" if accepted.created else "joined the open job"
        st.success(f"Retrain {joined}: {accepted.job_id}")


def _follow(backend: Backend) -> None:
    st.subheader("Follow a job")
    job_id = st.text_input("Job id", key=FOLLOWED_JOB)

    @st.fragment(run_every=backend.refresh_s)
    def status() -> None:
        if not job_id.strip():
            st.caption("Request a retrain, or paste a job id.")
            return
        try:
            job = backend.trainer.job_status(job_id.strip())
        except TrainerError as exc:
            st.error(f"{exc}")
            return
        version = job.result_version or job.trained_version or "—"
        st.progress(
            job.progress,
            text=f"{job.job_id} · {job.state.value} · {job.stage.value} · "
            f"{frames.percent(job.progress)}",
        )
        state, trained, production = st.columns(3)
        state.metric("State", job.state.value)
        trained.metric("Version", version)
        production.metric("In production", frames.in_production(job.activation) or "—")
        if job.message:
            st.caption(job.message)
        if job.metrics:
            figures = pd.DataFrame(sorted(job.metrics.items()), columns=["figure", "value"])
            st.dataframe(figures, hide_index=True)

    status()
