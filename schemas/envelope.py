"""The envelope every event carries, and the base class that enforces it.

Payload fields sit flat beside the envelope fields (no nested ``payload``): the JSON on the wire
is exactly ``model_dump_json()`` of the event, and the exported JSON Schema describes it whole.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Self
from uuid import UUID, uuid4

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo

from schemas.fields import MODEL_CONFIG, Identifier, UtcDatetime

EventTypeName = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$"
    ),
]


def _now_utc() -> datetime:
    return datetime.now(UTC)


def _pin_envelope(schema: dict[str, Any], cls: type[BaseModel]) -> None:
    # ``type`` and ``version`` are fixed per class: say so in the JSON Schema, so a schema
    # matches exactly one (type, version) and tools can dispatch on it.
    if issubclass(cls, Event) and cls is not Event:
        schema["properties"]["type"]["const"] = cls.EVENT_TYPE
        schema["properties"]["version"]["const"] = cls.EVENT_VERSION


class Event(BaseModel):
    """Base of every event. Concrete events declare three class variables:

    - ``EVENT_TYPE``: the ``type`` written in the envelope (``"auth.attempt"``);
    - ``EVENT_VERSION``: the schema version of that type; a breaking change adds a new class
      with the same ``EVENT_TYPE`` and the next version, and both stay registered meanwhile;
    - ``KEY_FIELD``: the field whose value is the Kafka partition key.
    """

    model_config = ConfigDict(**MODEL_CONFIG, json_schema_extra=_pin_envelope)

    EVENT_TYPE: ClassVar[str]
    EVENT_VERSION: ClassVar[int]
    KEY_FIELD: ClassVar[str]

    event_id: UUID = Field(default_factory=uuid4, description="unique per event: the dedup key")
    # The defaults below are placeholders: each concrete class gets its own EVENT_TYPE and
    # EVENT_VERSION as defaults in __pydantic_init_subclass__.
    type: EventTypeName = ""
    version: int = Field(default=0, ge=1, strict=True)
    occurred_at: UtcDatetime = Field(
        default_factory=_now_utc, description="when it happened, timezone-aware, stored as UTC"
    )
    producer: Identifier = Field(description="the service or terminal that emitted the event")

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        for name in ("EVENT_TYPE", "EVENT_VERSION", "KEY_FIELD"):
            if not hasattr(cls, name):
                raise TypeError(f"{cls.__name__} must declare {name}")
        if cls.KEY_FIELD not in cls.model_fields:
            raise TypeError(f"{cls.__name__}.KEY_FIELD names no field: {cls.KEY_FIELD!r}")
        fields = cls.model_fields
        fields["type"] = FieldInfo.merge_field_infos(fields["type"], default=cls.EVENT_TYPE)
        fields["version"] = FieldInfo.merge_field_infos(
            fields["version"], default=cls.EVENT_VERSION
        )
        cls.model_rebuild(force=True)

    # An "after" validator: a "before" one would make JSON input reach the fields as Python
    # objects, and strict JSON decoding would then refuse dates and UUIDs written as text.
    @model_validator(mode="after")
    def _concrete_only(self) -> Self:
        if type(self) is Event:
            raise TypeError("Event is abstract: instantiate a concrete event class")
        return self

    @field_validator("type")
    @classmethod
    def _type_matches_class(cls, value: str) -> str:
        if value != cls.EVENT_TYPE:
            raise ValueError(f"{cls.__name__} has type {cls.EVENT_TYPE!r}, not {value!r}")
        return value

    @field_validator("version")
    @classmethod
    def _version_matches_class(cls, value: int) -> int:
        if value != cls.EVENT_VERSION:
            raise ValueError(f"{cls.__name__} is version {cls.EVENT_VERSION}, not {value}")
        return value

    def key(self) -> str:
        """The Kafka partition key: the value of ``KEY_FIELD`` (see ``schemas.catalog``)."""
        return str(getattr(self, self.KEY_FIELD))
