"""What every service's REST API shares: JSON error bodies, the admin API key, operations.

- :mod:`core.http.errors`: ``{"error": code, "message": text, ...}`` for every error;
- :mod:`core.http.admin_key`: the ``X-API-Key`` header checked against the admin key;
- :mod:`core.http.ops`: the bodies of ``/healthz`` and ``/readyz``, and ``/metrics``.
"""
