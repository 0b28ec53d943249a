"""The ``EventStore`` protocol: everything the core asks of a store.

A store appends events to streams atomically under optimistic concurrency and reads
them back by stream or in global ``position`` order. Adapters implement it; the core
never imports an adapter.

The read side asks three more things of a store, each a small protocol of its own:
``Notifying`` (wake readers up when events commit), ``InlineHooks`` (run inline
projections inside the append's transaction) and ``ReadModelHost`` (keep views and
checkpoints; see ``esframework.adapters.read_base``).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import (
    TYPE_CHECKING,
    Any,
    Final,
    Literal,
    Protocol,
    Self,
    TypeAlias,
    runtime_checkable,
)
from uuid import UUID

import attrs

from esframework.conflicts import ParkedConflict
from esframework.events import RecordedEvent
from esframework.snapshots import Snapshot

if TYPE_CHECKING:
    from esframework.adapters.read_base import ReadModels

__all__ = [
    "ANY",
    "AnyVersion",
    "Batch",
    "ConflictStore",
    "EventStore",
    "EventWaiter",
    "ExpectedVersion",
    "InlineHook",
    "InlineHooks",
    "Notifying",
    "PayloadReader",
    "ReadModelHost",
    "SnapshotStore",
    "StoreStats",
    "StoredPayload",
]


class AnyVersion(enum.Enum):
    """The type of ``ANY``: append whatever the stream's version is."""

    ANY = "ANY"

    def __repr__(self) -> str:
        return "esf.ANY"


ANY: Final = AnyVersion.ANY
"""``expected_version=ANY`` appends without a concurrency check."""

ExpectedVersion: TypeAlias = int | Literal[AnyVersion.ANY]
"""An int (0: the stream must not exist yet) or ``ANY``."""

Batch: TypeAlias = Mapping[UUID, tuple[ExpectedVersion, Sequence[object]]]
"""Streams to append to at once: stream id -> (expected version, events)."""


@attrs.frozen
class StoreStats:
    """How much a store holds: ``store.stats()``, for tools and health checks."""

    events: int
    streams: int
    last_position: int


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
        batch: Batch,
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


StoredPayload: TypeAlias = tuple[int, str, str, int, Mapping[str, Any]]
"""(version, stream type, event type, schema version, payload) of one stored event."""


@runtime_checkable
class PayloadReader(Protocol):
    """A store that can read a stream's payloads without building whole envelopes.

    Loading an aggregate needs only these; stores that offer it load faster.
    """

    def read_payloads(
        self, stream_id: UUID, from_version: int = 1, to_version: int | None = None
    ) -> Iterator[StoredPayload]:
        """The stream's payloads from ``from_version`` to ``to_version``, in order."""
        ...


@runtime_checkable
class SnapshotStore(Protocol):
    """A store that also keeps aggregate snapshots."""

    def save_snapshot(self, snapshot: Snapshot) -> None:
        """Keep ``snapshot`` (replacing one of the same stream and version)."""
        ...

    def load_snapshot(self, stream_id: UUID, at_or_below: int | None = None) -> Snapshot | None:
        """The newest snapshot of the stream at or below a version, if any."""
        ...


@runtime_checkable
class ConflictStore(Protocol):
    """A store that also keeps conflicts parked for a person to decide."""

    def park_conflict(self, conflict: ParkedConflict) -> None:
        """Keep ``conflict`` open until it is settled."""
        ...

    def open_conflicts(self) -> list[ParkedConflict]:
        """Every conflict not settled yet, oldest first."""
        ...

    def settle_conflict(
        self,
        conflict_id: UUID,
        batch: Batch,
        *,
        stream_types: Mapping[UUID, str] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> list[RecordedEvent]:
        """Append ``batch`` and close the conflict in one atomic step.

        Raises ``ConflictNotFound`` when the conflict is unknown or already settled.
        """
        ...


class EventWaiter(Protocol):
    """One reader's wake-up line to a store: block until new events are committed.

    A lost wake-up must only cost latency: readers read by position, so a waiter may
    return early or late but never makes a reader skip an event.
    """

    def wait_for_events(self, after: int, timeout: float) -> bool:
        """Block until an event above position ``after`` is committed (True) or
        ``timeout`` seconds pass or ``interrupt()`` is called (False when none is)."""
        ...

    def interrupt(self) -> None:
        """Make a ``wait_for_events`` running in another thread return now."""
        ...

    def close(self) -> None:
        """Release the threads and connections this waiter holds."""
        ...


@runtime_checkable
class Notifying(Protocol):
    """A store that can wake readers when events commit, instead of being polled."""

    def event_waiter(self) -> EventWaiter:
        """A new waiter; close it when done."""
        ...


InlineHook: TypeAlias = Callable[[Sequence[RecordedEvent], Any], None]
"""``hook(records, tx)``: called inside an append's write transaction, before commit.

``tx`` is the store's own transaction handle, which its ``ReadModels`` understands.
Raising aborts the append.
"""


@runtime_checkable
class InlineHooks(Protocol):
    """A store that runs hooks (inline projections) in its append transactions."""

    def add_inline_hook(self, hook: InlineHook) -> Callable[[], None]:
        """Call ``hook`` in every append; returns the function that removes it."""
        ...


@runtime_checkable
class ReadModelHost(Protocol):
    """A store that also keeps read models: views and projection checkpoints."""

    def read_models(self) -> ReadModels:
        """The store's read-model storage (one per store, shared by its users)."""
        ...
