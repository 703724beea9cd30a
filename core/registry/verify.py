"""Fetching a published version and proving it is the publisher's, before anything loads it.

Order of checks, each with its own reason: the manifest is readable and valid
(``manifest_invalid``); it is signed by a trusted key (``signature_missing``,
``signature_untrusted``, ``signature_invalid``); it describes the announced version and agrees
with the event (``manifest_mismatch``, ``sha256_mismatch``); the artifact's bytes have the
signed sha256 (``checksum_mismatch``, ``artifact_missing``).
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from core.objectstore import IntegrityError, ObjectMissing, ObjectStore, sha256_hex
from core.registry.errors import ModelRejected
from core.signing import SigningError, TrustedKeys
from schemas import ModelPublished
from schemas.manifest import Manifest


@dataclass(frozen=True)
class VerifiedArtifact:
    manifest: Manifest
    data: bytes


async def _read(objects: ObjectStore, event: ModelPublished, what: str) -> bytes:
    ref = event.manifest if what == "manifest" else event.artifact
    try:
        # The sha256 in a ref is the publisher's claim; the signed manifest is checked below.
        return await objects.get_bytes(ref.uri)
    except ObjectMissing as exc:
        raise ModelRejected(f"{what}_missing", str(exc)) from exc
    except IntegrityError as exc:
        raise ModelRejected("checksum_mismatch", str(exc)) from exc


async def fetch_verified(
    objects: ObjectStore, event: ModelPublished, trust: TrustedKeys
) -> VerifiedArtifact:
    """The manifest and bytes of ``event``'s version; :class:`ModelRejected` if anything fails."""
    raw = await _read(objects, event, "manifest")
    try:
        manifest = Manifest.model_validate_json(raw)
    except ValidationError as exc:
        raise ModelRejected(
            "manifest_invalid", f"manifest.json: {exc.error_count()} errors"
        ) from exc
    try:
        trust.verify_document(manifest)
    except SigningError as exc:
        raise ModelRejected(exc.reason, str(exc)) from exc
    if (manifest.name, manifest.version) != (event.model, event.model_version):
        raise ModelRejected(
            "manifest_mismatch",
            f"the manifest is {manifest.name} {manifest.version}, the event "
            f"{event.model} {event.model_version}",
        )
    if manifest.signature != event.signature or manifest.io != event.io:
        raise ModelRejected("manifest_mismatch", "the event's signature or I/O spec differ")
    if event.sha256 != manifest.sha256:
        raise ModelRejected(
            "sha256_mismatch",
            f"the event announces sha256 {event.sha256}, the signed manifest {manifest.sha256}",
        )
    data = await _read(objects, event, "artifact")
    actual = sha256_hex(data)
    if actual != manifest.sha256 or len(data) != manifest.size_bytes:
        raise ModelRejected(
            "checksum_mismatch",
            f"model.onnx has sha256 {actual} ({len(data)} bytes), signed {manifest.sha256} "
            f"({manifest.size_bytes} bytes)",
        )
    return VerifiedArtifact(manifest, data)
