"""Ed25519 signatures over model manifests (and anything else that must not be forged).

The publisher (trainer, ``kibalock models publish``) holds the private key; gateways hold only
public keys. What is signed is the canonical JSON of a document without its ``signature``
field: sorted keys, no whitespace, UTF-8, so the bytes signed and the bytes checked are the
same whoever serialises the document. A manifest carries the artifact's sha256, so one
signature covers both the metadata and the model bytes.

Keys travel as base64 of their 32 raw bytes (or PEM, for keys made by other tools). A
signature names its key by ``key_id`` (the first 16 hex digits of the public key's sha256) so
gateways can trust several keys while the publisher's key is rotated.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

KEY_BYTES = 32


class SigningError(ValueError):
    """A signature or key problem; ``reason`` is the code reported on ``models.activations``."""

    reason = "signature_invalid"


class SignatureMissing(SigningError):
    reason = "signature_missing"


class SignatureInvalid(SigningError):
    reason = "signature_invalid"


class UnknownSigner(SigningError):
    reason = "signature_untrusted"


class KeyFormatError(SigningError):
    reason = "key_invalid"


def _raw(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyFormatError(f"the {what} is neither PEM nor base64") from exc
    if len(raw) != KEY_BYTES:
        raise KeyFormatError(f"the {what} must be {KEY_BYTES} bytes, not {len(raw)}")
    return raw


def load_private_key(text: str) -> Ed25519PrivateKey:
    """A private key from base64 of its 32 raw bytes, or an unencrypted PKCS#8 PEM."""
    if "-----BEGIN" in text:
        key = serialization.load_pem_private_key(text.encode(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyFormatError("the private key is not an Ed25519 key")
        return key
    return Ed25519PrivateKey.from_private_bytes(_raw(text, "private key"))


def load_public_key(text: str) -> Ed25519PublicKey:
    """A public key from base64 of its 32 raw bytes, or a SubjectPublicKeyInfo PEM."""
    if "-----BEGIN" in text:
        key = serialization.load_pem_public_key(text.encode())
        if not isinstance(key, Ed25519PublicKey):
            raise KeyFormatError("the public key is not an Ed25519 key")
        return key
    return Ed25519PublicKey.from_public_bytes(_raw(text, "public key"))


def public_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    return hashlib.sha256(public_bytes(key)).hexdigest()[:16]


def generate_keypair() -> tuple[str, str]:
    """A new (private, public) pair, each as base64 of its raw bytes."""
    private = Ed25519PrivateKey.generate()
    raw = private.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    return base64.b64encode(raw).decode(), base64.b64encode(
        public_bytes(private.public_key())
    ).decode()


def read_key_text(value: str | None, path: Path | None) -> str | None:
    """A key given inline wins over a key file; neither gives None."""
    if value:
        return value
    if path is not None:
        try:
            return path.expanduser().read_text(encoding="utf-8")
        except OSError as exc:
            raise KeyFormatError(f"cannot read the key file {path}: {exc}") from exc
    return None


@dataclass(frozen=True)
class Signer:
    private_key: Ed25519PrivateKey

    @property
    def key_id(self) -> str:
        return key_id(self.private_key.public_key())

    def sign(self, payload: bytes) -> str:
        return base64.b64encode(self.private_key.sign(payload)).decode()


class SignedDocument(Protocol):
    """A document that carries its own signature (a model manifest, a canary set)."""

    @property
    def signature(self) -> str | None: ...

    @property
    def signed_by(self) -> str: ...

    def payload(self) -> bytes: ...


class TrustedKeys:
    """The public keys a gateway accepts signatures from, by key id."""

    def __init__(self, keys: Iterable[Ed25519PublicKey]) -> None:
        self._keys = {key_id(k): k for k in keys}

    @classmethod
    def parse(cls, text: str) -> TrustedKeys:
        """Keys separated by commas, spaces or newlines (one PEM block counts as one key)."""
        if "-----BEGIN" in text:
            blocks = text.split("-----END PUBLIC KEY-----")
            return cls(load_public_key(b + "-----END PUBLIC KEY-----") for b in blocks if b.strip())
        return cls(load_public_key(t) for t in text.replace(",", " ").split())

    @property
    def ids(self) -> list[str]:
        return sorted(self._keys)

    def verify(self, payload: bytes, signature: str | None, signer_id: str | None) -> None:
        """Raises a :class:`SigningError` unless a trusted key signed ``payload``."""
        if not signature:
            raise SignatureMissing("the manifest carries no signature")
        key = self._keys.get(signer_id or "")
        if key is None:
            raise UnknownSigner(f"key {signer_id!r} is not among the trusted keys {self.ids}")
        try:
            key.verify(base64.b64decode(signature, validate=True), payload)
        except (InvalidSignature, binascii.Error, ValueError) as exc:
            raise SignatureInvalid(f"the signature does not verify with key {signer_id}") from exc

    def verify_document(self, document: SignedDocument) -> None:
        """Raises a :class:`SigningError` unless a trusted key signed exactly this document."""
        self.verify(document.payload(), document.signature, document.signed_by)
