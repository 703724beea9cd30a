"""Settings of the model registry, signing, canary and hot-swap (``KIBALOCK_MODELS__*``).

Kept here until the lead folds them into :class:`core.settings.Settings` as ``models``; until
then every process reads them from the environment with :func:`models_settings`.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.signing import Signer, TrustedKeys, load_private_key, read_key_text


class SigningKeyMissing(RuntimeError):
    """A publisher without a private key, or a gateway without trusted keys."""


class ModelsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KIBALOCK_MODELS__", extra="ignore")

    # Publisher side: the Ed25519 private key (base64 of 32 bytes, or PEM), inline or in a file.
    signing_key: SecretStr | None = None
    signing_key_file: Path | None = None
    # Gateway side: the public keys whose signatures are accepted (base64 or PEM, separated by
    # commas or whitespace), inline and/or in a file. Several keys allow rotation.
    trusted_keys: str = ""
    trusted_keys_file: Path | None = None

    # Canary: a candidate is rejected when its EER on the golden pairs exceeds the active
    # model's by more than this (absolute), or its d' falls short by more than this.
    canary_eer_tolerance: float = Field(default=0.02, ge=0.0, le=1.0)
    canary_dprime_tolerance: float = Field(default=1.0, ge=0.0)

    # After a swap, the watch window: decisions made with the new version are checked against
    # these bounds; leaving them rolls back to the previous version (kept loaded).
    watch_window_s: float = Field(default=600.0, gt=0)
    watch_min_decisions: int = Field(default=5, ge=1)
    max_error_rate: float = Field(default=0.2, ge=0.0, le=1.0)
    # Median calibrated score of genuine-looking claims: may drop this much below the previous
    # version's median on this instance; without such a baseline it must stay above the floor.
    max_genuine_drop: float = Field(default=0.2, ge=0.0, le=1.0)
    genuine_floor: float = Field(default=0.5, ge=0.0, le=1.0)

    # Names this gateway instance on models.activations and in its per-instance consumer
    # group for the model topics (every instance must see every model event); default
    # hostname-pid.
    instance_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@+-]*$")
    # Safety net beside the events: how often a gateway compares its versions with the registry.
    sync_interval_s: float = Field(default=30.0, gt=0)
    # Users re-embedded per batch (one read, one adapter run, one bulk insert) while a new
    # embedder version is prepared.
    reembed_batch: int = Field(default=256, ge=1)

    def signer(self) -> Signer:
        secret = self.signing_key.get_secret_value() if self.signing_key else None
        text = read_key_text(secret, self.signing_key_file)
        if text is None:
            raise SigningKeyMissing(
                "publishing signs the manifest: set KIBALOCK_MODELS__SIGNING_KEY or "
                "KIBALOCK_MODELS__SIGNING_KEY_FILE (`kibalock models keygen` makes a pair)"
            )
        return Signer(load_private_key(text))

    def trust(self, *, required: bool = True) -> TrustedKeys:
        """The trusted public keys; none is an error unless ``required`` is False (a gateway
        without keys serves its offline defaults and refuses every published model)."""
        parts = [self.trusted_keys]
        if self.trusted_keys_file is not None:
            parts.append(read_key_text(None, self.trusted_keys_file) or "")
        keys = TrustedKeys.parse("\n".join(parts))
        if required and not keys.ids:
            raise SigningKeyMissing(
                "gateways load only signed models: set KIBALOCK_MODELS__TRUSTED_KEYS or "
                "KIBALOCK_MODELS__TRUSTED_KEYS_FILE to the publisher's public key"
            )
        return keys
