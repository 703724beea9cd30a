"""The live page: the original note's "Dashboard combiné", LifeModo beside KibaLock, then the
figures over time, the models and their lineage, the jobs and the rollbacks."""

from __future__ import annotations

import streamlit as st

from dashboard import frames
from dashboard.backend import Backend, StoreUnavailable
from dashboard.feed_state import FeedSnapshot
from dashboard.stores import StoreFigures

RATE_TITLES = {"accuracy": "Accuracy", "far": "FAR", "frr": "FRR"}


def render(backend: Backend) -> None:
    st.title("KibaLock ↔ LifeModo")
    st.caption("Live from `metrics`, `models.activations` and `training.jobs`.")

    @st.fragment(run_every=backend.refresh_s)
    def live() -> None:
        figures: StoreFigures | None
        try:
            figures = backend.store_figures()
        except StoreUnavailable as exc:
            figures = None
            st.warning(f"Registry and users unavailable: {exc}")
        draw(backend.feed(), figures)

    live()


def draw(feed: FeedSnapshot, figures: StoreFigures | None) -> None:
    """Everything the live page shows, from what was read."""
    _headline(feed, figures)
    _rates(feed)
    _volume(feed)
    _models(feed, figures)
    _jobs(feed)
    _rollbacks(feed)
    _feed_status(feed)


def _headline(feed: FeedSnapshot, figures: StoreFigures | None) -> None:
    lifemodo, kibalock = st.columns(2)
    with lifemodo:
        st.header("LifeModo")
        st.metric("Models trained", frames.models_trained(feed.jobs))
        st.metric(
            "Versions published by training", "—" if figures is None else len(figures.trained)
        )
        st.metric("Jobs queued or running", len(frames.open_jobs(feed.jobs)))
    with kibalock:
        st.header("KibaLock")
        st.metric("Active models", "—" if figures is None else len(figures.active))
        st.metric("Users", "—" if figures is None else figures.users)
        latest = frames.latest_accuracy(feed.metrics)
        st.metric(
            "Accuracy (latest window)",
            frames.percent(None if latest is None else latest.accuracy),
            help=None if latest is None else f"window ending {latest.window_end:%H:%M:%S} UTC",
        )


def _rates(feed: FeedSnapshot) -> None:
    st.subheader("Accuracy, FAR and FRR per model version")
    rates = frames.rates_by_model_version(feed.metrics)
    if rates.empty:
        st.info("No metric window yet.")
        return
    for tab, (rate, title) in zip(
        st.tabs(list(RATE_TITLES.values())), RATE_TITLES.items(), strict=True
    ):
        with tab:
            st.line_chart(rates, x="time", y=rate, color="model_version", y_label=title)


def _volume(feed: FeedSnapshot) -> None:
    st.subheader("Volume per terminal")
    volume = frames.volume_by_terminal(feed.metrics)
    if volume.empty:
        st.info("No terminal has been counted yet.")
        return
    over_time, totals = st.columns([2, 1])
    with over_time:
        st.line_chart(volume, x="time", y="attempts", color="terminal")
    with totals:
        st.dataframe(frames.terminal_totals(volume), hide_index=True)


def _models(feed: FeedSnapshot, figures: StoreFigures | None) -> None:
    st.subheader("Active models and their lineage")
    live = frames.live_versions(feed.activations)
    if not live.empty:
        st.caption("As the gateways report them on `models.activations`:")
        st.dataframe(live, hide_index=True)
    if figures is not None:
        st.caption("The registry: every version, where it came from and where it stands.")
        st.dataframe(frames.lineage_table(figures.models), hide_index=True)


def _jobs(feed: FeedSnapshot) -> None:
    st.subheader("Training jobs")
    if not feed.jobs:
        st.info("No training job yet.")
        return
    for job in frames.open_jobs(feed.jobs):
        st.progress(
            job.progress,
            text=f"{job.job_id} · {job.model} · {job.stage.value} · {frames.percent(job.progress)}",
        )
    st.dataframe(
        frames.jobs_table(feed.jobs),
        hide_index=True,
        column_config={"progress": st.column_config.ProgressColumn("progress", format="percent")},
    )


def _rollbacks(feed: FeedSnapshot) -> None:
    st.subheader("Recent rollbacks")
    rollbacks = frames.rollbacks_table(feed.activations)
    if rollbacks.empty:
        st.info("No rollback reported.")
    else:
        st.dataframe(rollbacks, hide_index=True)


def _feed_status(feed: FeedSnapshot) -> None:
    skipped = ", ".join(f"{reason}: {n}" for reason, n in sorted(feed.skipped.items()))
    line = f"{feed.records} records read, {feed.skipped_total} skipped"
    st.caption(
        f"Feed {'connected' if feed.connected else 'not connected'}: {line}"
        + (f" ({skipped})" if skipped else "")
    )
    if feed.error and not feed.connected:
        st.warning(f"The live feed is waiting for Kafka: {feed.error}")
