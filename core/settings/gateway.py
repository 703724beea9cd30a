"""The gateway's section (``KIBALOCK_GATEWAY__*``): admin and template keys, HTTP, limits."""

from __future__ import annotations

from pydantic import Field, SecretStr

from core.settings.base import ExpandedPath, Section, inline_or_file


class GatewaySection(Section):
    # Admin endpoints (enrolment, erasure, model import, exports) need this key.
    api_key: SecretStr | None = None
    api_key_file: ExpandedPath | None = None
    # Terminals authenticate `/challenges` and `/verify` with a key of their own, derived from
    # this master key (`kibalock gateway terminal-key ID` prints it); none: terminals refused.
    terminal_master_key: SecretStr | None = None
    terminal_master_key_file: ExpandedPath | None = None
    # Terminals whose keys no longer open anything (a stolen or retired terminal).
    revoked_terminals: list[str] = Field(default_factory=list)
    # AES-256-GCM key for templates at rest: base64 of 32 bytes, or a file holding it.
    template_key: SecretStr | None = None
    template_key_file: ExpandedPath | None = None
    # False: serve the packaged 1.0.0 embedders only, whatever the registry publishes or
    # activates (an instance pinned for an audit, or one that must not load trained models).
    follow_registry: bool = True
    training_quality_threshold: float = Field(default=0.95, ge=0.0, le=1.0)
    # Voice EER on 45 unseen speakers (data-large, centred GE2E, 3 x 4-digit enrolment): 2.3 %
    # [1.0, 4.1] with 3 digits, 1.8 % [0.4, 3.4] with 4, 1.4 % [0.2, 3.0] with 6; 4 is the
    # shortest whose interval stays under the 4 % target (core/biometrics/voice.py).
    challenge_digits: int = Field(default=4, ge=3, le=12)
    challenge_ttl_s: float = Field(default=120.0, gt=0)
    # Challenges one terminal may ask for per minute (a flood of them is a probe or a bug).
    challenges_per_terminal_minute: int = Field(default=30, ge=1)
    # Brute force (NIST SP 800-63B): after this many consecutive failed logins of a user, a
    # delay that starts here and doubles per further failure, up to the maximum; biometric
    # login is disabled after `throttle_disable_after` (null: never) until an admin unlock.
    throttle_free_failures: int = Field(default=5, ge=1)
    throttle_first_delay_s: float = Field(default=30.0, gt=0)
    throttle_max_delay_s: float = Field(default=3600.0, gt=0)
    throttle_disable_after: int | None = Field(default=10, ge=1)
    # A terminal is delayed (never disabled) after this many consecutive failures, any user.
    throttle_terminal_free_failures: int = Field(default=20, ge=1)
    session_ttl_s: float = Field(default=900.0, gt=0)
    # Accepted probes remembered per user and modality for the replay (echo) check; 0: the
    # check compares with the enrolment samples only.
    recent_probes_kept: int = Field(default=50, ge=0)
    min_enrol_samples: int = Field(default=3, ge=1)
    # NIST SP 800-63B: what terminals upload (`samples` bucket) is erased this many days after
    # it was written, long enough for feedback to confirm a refused attempt; enrolment media
    # the users' records name are kept (auth_gateway/samples_retention.py).
    attempt_media_retention_days: float = Field(default=7.0, gt=0.0)
    retention_sweep_interval_s: float = Field(default=3600.0, gt=0.0)
    max_upload_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    # A whole request (an enrolment carries several files), refused before it is read.
    max_request_bytes: int = Field(default=64 * 1024 * 1024, gt=0)
    # CPU-bound model work: worker threads, and attempts in flight before the consumer waits.
    workers: int = Field(default=2, ge=1)
    max_in_flight: int = Field(default=4, ge=1)
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)
    consumer_group: str = "auth-gateway"

    def admin_key(self) -> SecretStr | None:
        """The admin API key, inline or from ``api_key_file``; None disables the admin API."""
        return inline_or_file(self.api_key, self.api_key_file, "gateway.api_key_file")

    def terminal_key(self) -> SecretStr | None:
        """The terminals' master key, inline or from its file; None refuses every terminal."""
        return inline_or_file(
            self.terminal_master_key,
            self.terminal_master_key_file,
            "gateway.terminal_master_key_file",
        )
