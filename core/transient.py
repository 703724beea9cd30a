"""Telling an outage from a bad record: the first is waited out, the second is dead-lettered.

A handler that fails because MongoDB, the object store or the broker is away would fail the same
way on any record, so dead-lettering the record would lose it (a lockout, a model event) for
nothing. Those errors are *transient*: the consumer keeps the record and retries with backoff.
"""

from __future__ import annotations

from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError
from minio.error import ServerError
from pymongo.errors import AutoReconnect, ConnectionFailure, ExecutionTimeout, WTimeoutError
from urllib3.exceptions import HTTPError as Urllib3HTTPError

_TRANSIENT: tuple[type[BaseException], ...] = (
    ConnectionError,  # refused, reset, aborted: any socket-level outage
    TimeoutError,
    AutoReconnect,
    ConnectionFailure,
    ExecutionTimeout,
    WTimeoutError,
    ServerError,  # the object store answered 5xx
    Urllib3HTTPError,  # the object store did not answer (MaxRetryError, ProtocolError…)
    KafkaConnectionError,
    KafkaTimeoutError,
)


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it was raised from) is an infrastructure outage."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, _TRANSIENT):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False
