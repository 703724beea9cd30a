"""The gateway's REST API: one router per audience, assembled by :func:`create_app`.

- :mod:`~auth_gateway.http.terminal`: ``POST /challenges``, ``POST /verify``;
- :mod:`~auth_gateway.http.admin`: enrolment, erasure, training data, model import, performance;
- :mod:`~auth_gateway.http.models`: the model registry and rollback;
- :mod:`~auth_gateway.http.ops`: ``/healthz``, ``/readyz``, ``/metrics``.

OpenAPI at ``/openapi.json`` (browsable at ``/docs``); every error is JSON
``{"error": code, "message": text, ...}``.
"""

from auth_gateway.http.app import create_app

__all__ = ["create_app"]
