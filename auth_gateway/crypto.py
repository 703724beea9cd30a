"""Templates at rest: AES-256-GCM, bound to the user, modality and model version.

The associated data ties each ciphertext to its (user, modality, version): a ciphertext copied
onto another user's document fails authentication instead of letting that user log in as
someone else. Templates also bind the key's id and the user's template generation (see
:mod:`auth_gateway.templates`), so an older template put back is told from the current one;
templates sealed before generations existed open with the first context, without either. The
key comes from settings or a key file and is never logged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

import numpy as np
import numpy.typing as npt
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core.settings import GatewaySection

NONCE_BYTES = 12
KEY_BYTES = 32


class TemplateKeyError(RuntimeError):
    """No usable key: the message says which setting to provide."""


class TemplateTampered(RuntimeError):
    """A stored template failed authentication (wrong key, moved to another user, or put back
    from before the user's last enrolment)."""


def load_key(options: GatewaySection) -> bytes:
    if options.template_key is not None:
        encoded = options.template_key.get_secret_value()
        source = "KIBALOCK_GATEWAY__TEMPLATE_KEY"
    elif options.template_key_file is not None:
        try:
            encoded = options.template_key_file.read_text().strip()
        except OSError as exc:
            raise TemplateKeyError(f"cannot read the template key file: {exc}") from exc
        source = str(options.template_key_file)
    else:
        raise TemplateKeyError(
            "templates are encrypted at rest: set KIBALOCK_GATEWAY__TEMPLATE_KEY (base64 of 32 "
            "random bytes) or KIBALOCK_GATEWAY__TEMPLATE_KEY_FILE; `kibalock gateway keygen` "
            "makes one"
        )
    try:
        key = base64.b64decode(encoded, validate=True)
    except ValueError as exc:
        raise TemplateKeyError(f"the template key from {source} is not base64") from exc
    if len(key) != KEY_BYTES:
        raise TemplateKeyError(f"the template key from {source} must be {KEY_BYTES} bytes")
    return key


def new_key() -> str:
    return base64.b64encode(os.urandom(KEY_BYTES)).decode()


class TemplateCipher:
    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)
        # A key of its own for pseudonyms, derived so that one never reveals the other.
        self._pseudonym_key = hmac.new(key, b"kibalock-pseudonym", hashlib.sha256).digest()
        # Names the key in what it seals (a key read from the wrong file says so), derived
        # one-way so it reveals nothing of the key.
        self.key_id = hmac.new(key, b"kibalock-key-id", hashlib.sha256).hexdigest()[:16]

    def pseudonym(self, user_id: str) -> str:
        """A keyed hash of a user id for records that outlive the user (the erasure audit):
        unlike a plain sha256, a dictionary of likely ids cannot reverse it without the key."""
        return hmac.new(self._pseudonym_key, user_id.encode(), hashlib.sha256).hexdigest()

    def _context(self, user_id: str, modality: str, version: str, generation: int | None) -> bytes:
        if generation is None:
            return f"kibalock-template\x00{user_id}\x00{modality}\x00{version}".encode()
        return (
            f"kibalock-template/2\x00{self.key_id}\x00{user_id}\x00{modality}\x00{version}"
            f"\x00{generation}"
        ).encode()

    def seal(
        self,
        vectors: npt.NDArray[np.float32],
        *,
        user_id: str,
        modality: str,
        version: str,
        generation: int | None = None,
    ) -> bytes:
        """Encrypts a (n, d) float32 array; the shape travels inside the ciphertext.

        With a ``generation``, the key id and the generation are bound too; without one, the
        original context (the recent probes, replaced at every accepted login, use it).
        """
        array = np.ascontiguousarray(vectors, dtype="<f4")
        if array.ndim != 2:
            raise ValueError("templates are a 2-D array (samples × dimensions)")
        header = np.asarray(array.shape, dtype="<u4").tobytes()
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(
            nonce, header + array.tobytes(), self._context(user_id, modality, version, generation)
        )
        return nonce + sealed

    def open(
        self,
        blob: bytes,
        *,
        user_id: str,
        modality: str,
        version: str,
        generation: int | None = None,
    ) -> npt.NDArray[np.float32]:
        context = self._context(user_id, modality, version, generation)
        try:
            plain = self._aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], context)
        except InvalidTag as exc:
            raise TemplateTampered(
                f"template of {user_id}/{modality}/{version} failed authentication"
            ) from exc
        rows, cols = np.frombuffer(plain[:8], dtype="<u4")
        return np.frombuffer(plain[8:], dtype="<f4").reshape(int(rows), int(cols)).copy()
