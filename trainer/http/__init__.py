"""The trainer's REST API, assembled by :func:`create_app`.

- :mod:`~trainer.http.jobs`: ``POST /api/retrain_request``, ``GET /api/model_status/{job_id}``
  (``X-API-Key``: the deployment's admin key);
- :mod:`~trainer.http.ops`: ``/healthz``, ``/readyz``, ``/metrics``.

Every error is JSON ``{"error": code, "message": text}`` (:mod:`core.http.errors`).
"""

from trainer.http.app import create_app

__all__ = ["create_app"]
