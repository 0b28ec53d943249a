"""The ``EventStore`` protocol: everything the core asks of a store.

A store appends events to streams atomically under optimistic concurrency and reads
them back by stream or in global ``position`` order. Adapters implement it; the core
never imports an adapter.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Final, Literal, Protocol, Self, TypeAlias, runtime_checkable
from uuid import UUID

from esframework.events import RecordedEvent

__all__ = ["ANY", "AnyVersion", "EventStore", "ExpectedVersion"]


class AnyVersion(enum.Enum):
    """The type of ``ANY``: append whatever the stream's version is."""

    ANY = "ANY"

    def __repr__(self) -> str:
        return "esf.ANY"


ANY: Final = AnyVersion.ANY
"""``expected_version=ANY`` appends without a concurrency check."""

ExpectedVersion: TypeAlias = int | Literal[AnyVersion.ANY]
"""An int (0: the stream must not exist yet) or ``ANY``."""


@runtime_checkable
class EventStore(Protocol):
    """Append-only storage of event streams with a global, gap-free order."""

    def append(
        self,
        stream_id: UUID,
        events: Sequence[object],
        expected_version: ExpectedVersion = ANY,
        *,
        stream_type: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> list[RecordedEvent]:
        """Append ``events`` (event instances or ``NewEvent``) to a stream, all or none."""
        ...

    def append_many(
        self,
        batch: Mapping[UUID, tuple[ExpectedVersion, Sequence[object]]],
        *,
        stream_types: Mapping[UUID, str] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> list[RecordedEvent]:
        """Append to several streams in one atomic batch."""
        ...

    def read_stream(
        self, stream_id: UUID, from_version: int = 1, to_version: int | None = None
    ) -> Iterator[RecordedEvent]:
        """The stream's events from ``from_version`` to ``to_version`` (inclusive)."""
        ...

    def read_all(
        self, after: int = 0, limit: int | None = None, types: Sequence[str] | None = None
    ) -> Iterator[RecordedEvent]:
        """Every event with a position above ``after``, in position order."""
        ...

    def stream_version(self, stream_id: UUID) -> int:
        """The stream's current version; 0 when it does not exist."""
        ...

    def close(self) -> None:
        """Release connections; the store refuses further use."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
