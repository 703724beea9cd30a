"""Operational events: user lockouts and dead letters."""

from __future__ import annotations

import base64
from typing import Annotated, ClassVar, Self

from pydantic import Field, StringConstraints, model_validator

from schemas.enums import LockAction
from schemas.envelope import Event
from schemas.fields import Base64, Code, Count, Identifier, Text, UtcDatetime

HeaderName = Annotated[str, StringConstraints(max_length=256)]


class LockoutEvent(Event):
    """Lock a user out of biometric login until a time, or lift the lock early."""

    EVENT_TYPE: ClassVar[str] = "security.lockout"
    EVENT_VERSION: ClassVar[int] = 1
    KEY_FIELD: ClassVar[str] = "user_id"

    user_id: Identifier
    action: LockAction
    reason: Code = Field(description="e.g. consecutive_failures, biometrics_disabled, admin")
    until: UtcDatetime | None = Field(
        default=None, description="end of the lock; required to lock, absent to unlock"
    )
    failures: Count = Field(default=0, description="consecutive failures that led here")
    requested_by: Identifier

    @model_validator(mode="after")
    def _until_with_lock(self) -> Self:
        # A lock without an end would be permanent by accident; NIST 800-63B wants growing
        # delays, so the processor always knows until when.
        if (self.action is LockAction.LOCK) != (self.until is not None):
            raise ValueError("until is set exactly when the action is lock")
        return self


class DeadLetter(Event):
    """A record a consumer could not decode, validate or process, kept byte for byte.

    Keyed by the source topic. Bytes are base64 (null where the record had none), so the
    original record can be replayed exactly once the cause is fixed.
    """

    EVENT_TYPE: ClassVar[str] = "deadletter"
    EVENT_VERSION: ClassVar[int] = 1
    KEY_FIELD: ClassVar[str] = "source_topic"

    source_topic: Annotated[
        str, StringConstraints(min_length=1, max_length=249, pattern=r"^[A-Za-z0-9._-]+$")
    ] = Field(description="Kafka's topic name rules")
    partition: Count
    offset: Count
    # Not "key": that would shadow Event.key(), the partition key of this dead letter.
    original_key: Base64 | None = None
    original: Base64 | None = Field(description="the record's value as received")
    headers: list[tuple[HeaderName, Base64]] = Field(
        default_factory=list, max_length=256, description="[name, base64 value] pairs, in order"
    )
    error_reason: Code = Field(description="a DecodeError reason, or processing_failed")
    error_message: Text
    consumer_group: Identifier

    def original_value_bytes(self) -> bytes | None:
        return None if self.original is None else base64.b64decode(self.original)

    def original_key_bytes(self) -> bytes | None:
        return None if self.original_key is None else base64.b64decode(self.original_key)

    def original_headers(self) -> list[tuple[str, bytes]]:
        return [(name, base64.b64decode(value)) for name, value in self.headers]
