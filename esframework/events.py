"""Declaring events (``@esf.event``) and the stored envelope (``RecordedEvent``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar, overload
from uuid import UUID

import attrs
from typing_extensions import dataclass_transform

from esframework.errors import DefinitionError
from esframework.ids import new_id
from esframework.registry import EventType, Registry, default_registry

__all__ = [
    "NewEvent",
    "RecordedEvent",
    "event",
    "event_type_of",
    "is_event_class",
    "utc_now",
]

T = TypeVar("T")

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time, timezone-aware in UTC: the default clock."""
    return datetime.now(UTC)


def _check_name_version(what: str, cls: type, name: str, version: object) -> None:
    if not isinstance(name, str) or not name or name != name.strip():
        raise DefinitionError(
            f"{what} {cls.__qualname__}: name must be a non-empty string without "
            f"surrounding spaces, got {name!r}"
        )
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise DefinitionError(
            f"{what} {cls.__qualname__}: version must be an int >= 1, got {version!r}"
        )


@overload
def event(cls: type[T], /) -> type[T]: ...


@overload
def event(
    *, name: str | None = None, version: int = 1, registry: Registry | None = None
) -> Callable[[type[T]], type[T]]: ...


@dataclass_transform(frozen_default=True, field_specifiers=(attrs.field,))
def event(
    cls: type[T] | None = None,
    /,
    *,
    name: str | None = None,
    version: int = 1,
    registry: Registry | None = None,
) -> type[T] | Callable[[type[T]], type[T]]:
    """Declare an event: a frozen, slotted attrs class stored under (name, version).

    ``name`` defaults to the class name and ``version`` to 1. Raise the version when
    the payload's shape changes, and register an ``@esf.upcaster`` for the old one.
    """

    def wrap(cls: type[T]) -> type[T]:
        type_name = cls.__name__ if name is None else name
        _check_name_version("event", cls, type_name, version)
        new_cls = attrs.frozen(cls, slots=True)
        event_type = (registry or default_registry).register_event(new_cls, type_name, version)
        new_cls.__esf_event__ = event_type  # type: ignore[attr-defined]
        return new_cls

    if cls is None:
        return wrap
    return wrap(cls)


def is_event_class(cls: type) -> bool:
    """Whether ``cls`` was declared with ``@esf.event``."""
    return isinstance(cls.__dict__.get("__esf_event__"), EventType)


def event_type_of(cls: type) -> EventType:
    """The (name, version) an ``@esf.event`` class was declared with."""
    et = cls.__dict__.get("__esf_event__")
    if not isinstance(et, EventType):
        raise DefinitionError(
            f"{cls.__module__}.{cls.__qualname__} is not an event: declare it with @esf.event"
        )
    return et


@attrs.frozen
class NewEvent:
    """An event to append, with the envelope fields the caller wants to fix.

    Plain event instances can be appended directly; wrap one in ``NewEvent`` to choose
    its ``event_id`` (so that a retried append is idempotent), its metadata or the time
    it occurred.
    """

    event: object
    event_id: UUID = attrs.field(factory=new_id)
    metadata: Mapping[str, Any] = attrs.field(factory=dict)
    occurred_at: datetime | None = None


class Decoder(Protocol):
    """Turns a stored payload into an instance of its current event class."""

    def decode_record(self, record: RecordedEvent) -> Any: ...


_UNDECODED: Any = object()


@attrs.frozen(eq=False)
class RecordedEvent:
    """An event as a store holds it: payload, position, metadata and hash chain.

    ``data`` is the payload as stored (a JSON-compatible dict); ``event`` is that
    payload as an instance of its current class, upcast, decoded on first access.
    Two records are equal when their stored fields are.
    """

    position: int
    stream_id: UUID
    stream_type: str
    version: int
    event_id: UUID
    event_type: str
    schema_version: int
    data: Mapping[str, Any]
    metadata: Mapping[str, Any]
    occurred_at: datetime
    recorded_at: datetime
    prev_hash: str
    hash: str
    _decoder: Decoder | None = attrs.field(default=None, repr=False, alias="decoder")
    _decoded: Any = attrs.field(init=False, default=_UNDECODED, repr=False)

    @property
    def event(self) -> Any:
        """The payload as an instance of its current event class (upcast if older)."""
        decoded = self._decoded
        if decoded is _UNDECODED:
            if self._decoder is None:
                raise DefinitionError(
                    "this RecordedEvent was built without a decoder; read it from a store "
                    "to get .event, or use .data"
                )
            decoded = self._decoder.decode_record(self)
            object.__setattr__(self, "_decoded", decoded)
        return decoded

    def _key(self) -> tuple[object, ...]:
        return (
            self.position,
            self.stream_id,
            self.stream_type,
            self.version,
            self.event_id,
            self.event_type,
            self.schema_version,
            self.data,
            self.metadata,
            self.occurred_at,
            self.recorded_at,
            self.prev_hash,
            self.hash,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RecordedEvent):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self.event_id)

    @property
    def user_id(self) -> Any:
        """``metadata["user_id"]``: who caused the event, or None."""
        return self.metadata.get("user_id")

    @property
    def correlation_id(self) -> Any:
        """``metadata["correlation_id"]``: the conversation the event belongs to."""
        return self.metadata.get("correlation_id")

    @property
    def causation_id(self) -> Any:
        """``metadata["causation_id"]``: the command or event that caused this one."""
        return self.metadata.get("causation_id")

    @property
    def tenant_id(self) -> Any:
        """``metadata["tenant_id"]``, or None."""
        return self.metadata.get("tenant_id")
