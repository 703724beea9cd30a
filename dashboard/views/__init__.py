"""The dashboard's pages: each draws from a :class:`dashboard.backend.Backend`."""
