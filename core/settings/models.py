"""The models section (``KIBALOCK_MODELS__*``): weight files, signing, canary and hot-swap.

Signing is split by role: ``publisher`` holds the private key (the CLI and the trainer sign
manifests), ``trust`` holds the public keys (gateways verify them). A gateway never needs the
publisher sub-section.
"""

from __future__ import annotations

from pydantic import Field, SecretStr

from core.settings.base import ExpandedPath, Section
from core.signing import Signer, TrustedKeys, load_private_key, read_key_text


class SigningKeyMissing(RuntimeError):
    """A publisher without a private key, or a gateway without trusted keys."""


class PublisherSection(Section):
    # The Ed25519 private key (base64 of 32 bytes, or PEM), inline or in a file.
    signing_key: SecretStr | None = None
    signing_key_file: ExpandedPath | None = None

    @property
    def configured(self) -> bool:
        return self.signing_key is not None or self.signing_key_file is not None

    def signer(self) -> Signer:
        secret = self.signing_key.get_secret_value() if self.signing_key else None
        text = read_key_text(secret, self.signing_key_file)
        if text is None:
            raise SigningKeyMissing(
                "publishing signs the manifest: set KIBALOCK_MODELS__PUBLISHER__SIGNING_KEY or "
                "KIBALOCK_MODELS__PUBLISHER__SIGNING_KEY_FILE (`kibalock models keygen` makes "
                "a pair)"
            )
        return Signer(load_private_key(text))


class TrustSection(Section):
    # The public keys whose signatures are accepted (base64 or PEM, separated by commas or
    # whitespace), inline and/or in a file. Several keys allow rotation.
    public_keys: str = ""
    public_keys_file: ExpandedPath | None = None

    def keys(self, *, required: bool = True) -> TrustedKeys:
        """The trusted public keys; none is an error unless ``required`` is False (a gateway
        without keys serves its offline defaults and refuses every published model)."""
        parts = [self.public_keys]
        if self.public_keys_file is not None:
            parts.append(read_key_text(None, self.public_keys_file) or "")
        keys = TrustedKeys.parse("\n".join(parts))
        if required and not keys.ids:
            raise SigningKeyMissing(
                "gateways load only signed models: set KIBALOCK_MODELS__TRUST__PUBLIC_KEYS or "
                "KIBALOCK_MODELS__TRUST__PUBLIC_KEYS_FILE to the publisher's public key"
            )
        return keys


class ModelsSection(Section):
    # Offline weight files (`kibalock models fetch`); None: ``{cache_dir}/models``.
    files_dir: ExpandedPath | None = None
    # The speech recogniser's CTranslate2 directory; None: ``{files_dir}/whisper-base-ct2``.
    asr_dir: ExpandedPath | None = None

    publisher: PublisherSection = Field(default_factory=PublisherSection)
    trust: TrustSection = Field(default_factory=TrustSection)

    # Canary: a candidate is rejected when its EER on the golden pairs exceeds the active
    # model's by more than this (absolute), or its d' falls short by more than this.
    canary_eer_tolerance: float = Field(default=0.02, ge=0.0, le=1.0)
    canary_dprime_tolerance: float = Field(default=1.0, ge=0.0)
    # ... or when, at its own threshold, it accepts a larger share of the canary's impostor
    # pairs than the active version at its own, by more than this (score inflation).
    canary_fmr_tolerance: float = Field(default=0.01, ge=0.0, le=1.0)

    # After a swap, the watch window: decisions made with the new version are checked against
    # these bounds; leaving them rolls back to the previous version (kept loaded).
    watch_window_s: float = Field(default=600.0, gt=0)
    watch_min_decisions: int = Field(default=5, ge=1)
    # Scores are judged only once this many distinct users gave some (see swap_watch.py).
    watch_min_users: int = Field(default=3, ge=1)
    max_error_rate: float = Field(default=0.2, ge=0.0, le=1.0)
    # Median calibrated score of genuine-looking claims: may drop this much below the previous
    # version's median on this instance; without such a baseline it must stay above the floor.
    max_genuine_drop: float = Field(default=0.2, ge=0.0, le=1.0)
    genuine_floor: float = Field(default=0.5, ge=0.0, le=1.0)

    # Names this gateway instance on models.activations and its model-topic readers (client
    # ids; they join no consumer group); default hostname-pid.
    instance_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@+-]*$")
    # Safety net beside the events: how often a gateway compares its versions with the registry.
    sync_interval_s: float = Field(default=30.0, gt=0)
    # Users re-embedded per batch (one read, one adapter run, one bulk insert) while a new
    # embedder version is prepared.
    reembed_batch: int = Field(default=256, ge=1)
