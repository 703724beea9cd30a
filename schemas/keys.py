"""Object keys: the layout of every bucket, spelled once.

Media of one user all sit under ``{user_id}/`` in the ``samples`` and ``training`` buckets, so
erasing a user is deleting one prefix per bucket; media imported for a user (``kibalock trainer
import``) sit there too, while unlabelled imports sit under ``_unlabelled/``, which no user id can
name (ids start with a letter or digit). Model files sit under ``{name}/{version}/`` in
the ``models`` bucket, so a gateway finds a version's files from its name alone.
"""

from __future__ import annotations

ARTIFACT_FILE = "model.onnx"
MANIFEST_FILE = "manifest.json"


def user_prefix(user_id: str) -> str:
    """Everything of one user in the ``samples`` and ``training`` buckets."""
    return f"{user_id}/"


def attempt_prefix(user_id: str, attempt_id: str) -> str:
    """Everything uploaded for one attempt: the only objects the attempt may name."""
    return f"{user_id}/{attempt_id}/"


def attempt_media_key(user_id: str, attempt_id: str, modality: str) -> str:
    """A terminal's upload for one attempt (``samples`` bucket)."""
    return f"{attempt_prefix(user_id, attempt_id)}{modality}"


def training_media_key(user_id: str, sample_id: str, modality: str, extension: str) -> str:
    """A curated copy of an attempt's media (``training`` bucket)."""
    return f"{user_id}/{sample_id}/{modality}.{extension}"


UNLABELLED = "_unlabelled"


def imported_prefix(user_id: str | None, import_id: str) -> str:
    """One import's media (``training`` bucket): under the user's prefix, so erasing the user
    erases them; without a user, under ``_unlabelled/``."""
    owner = user_prefix(user_id) if user_id is not None else f"{UNLABELLED}/"
    return f"{owner}imported/{import_id}/"


def imported_media_key(user_id: str | None, import_id: str, index: int, extension: str) -> str:
    """The ``index``-th file of an import (a PDF page counts as one file)."""
    return f"{imported_prefix(user_id, import_id)}{index}.{extension}"


def enrolment_prefix(user_id: str) -> str:
    return f"{user_id}/enrol/"


def enrolment_media_key(user_id: str, modality: str, index: int) -> str:
    """One enrolment photo or clip, kept to re-embed after a model swap (``samples`` bucket)."""
    return f"{enrolment_prefix(user_id)}{modality}/{index}"


def model_prefix(name: str, version: str) -> str:
    return f"{name}/{version}/"


def artifact_key(name: str, version: str) -> str:
    return model_prefix(name, version) + ARTIFACT_FILE


def manifest_key(name: str, version: str) -> str:
    return model_prefix(name, version) + MANIFEST_FILE


def candidate_key(name: str, version: str) -> str:
    """An imported, not yet signed artifact waiting for ``kibalock models sign``.

    Outside ``{name}/{version}/`` on purpose: nothing there is loaded until it is signed.
    """
    return f"candidates/{name}/{version}/{ARTIFACT_FILE}"


def canary_prefix(model: str) -> str:
    """The golden samples a candidate of ``model`` is checked on (``models`` bucket)."""
    return f"canary/{model}/"
