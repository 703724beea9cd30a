"""The analysts' dashboard (``kibalock dashboard``): the original note's combined LifeModo /
KibaLock view, a Streamlit app for administrators.

A client like any other: it reads ``metrics``, ``models.activations`` and ``training.jobs``,
the registry and the users in MongoDB, and LifeModo's REST API; it imports no service, except
LifeModo's import function (``trainer.importer.import_media``) so that an upload is the same
import as ``kibalock trainer import``.
"""
