"""The analysts' dashboard's section (``KIBALOCK_DASHBOARD__*``), read by ``kibalock dashboard``."""

from __future__ import annotations

from pydantic import Field

from core.settings.base import Section


class DashboardSection(Section):
    # Where `streamlit run` listens; admin-only, so loopback unless a proxy fronts it.
    host: str = "127.0.0.1"
    port: int = Field(default=8501, ge=0, le=65535)
    # Each dashboard process reads the topics whole in its own group
    # (``{consumer_group}-{host}-{pid}``): it keeps no offsets and shares no partition.
    consumer_group: str = "dashboard"
    # Events kept in memory per topic (the oldest go first); jobs are kept per job id.
    history: int = Field(default=5000, ge=10)
    # How often the live figures are redrawn, and the registry and user counts read again.
    refresh_s: float = Field(default=2.0, gt=0)
    # LifeModo's REST API (retrain requests, job status); none: the trainer section's
    # http://{trainer.host}:{trainer.port}. Text, not a URL type, so that to_env() carries it.
    trainer_url: str | None = Field(default=None, pattern=r"^https?://[^\s/]+(/\S*)?$")
    # Largest file an upload may carry, in MB (the import's own PDF limit is 100 MB).
    max_upload_mb: int = Field(default=100, ge=1, le=1024)
