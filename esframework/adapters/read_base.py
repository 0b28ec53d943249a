"""The ``ReadModels`` protocol: what projections and views ask of a store.

A store that keeps read models (``ReadModelHost.read_models()``) gives each projection
a checkpoint and each view a table (a dict in memory), and runs a projection's writes
and its checkpoint in one transaction: that is what makes a view exactly-once.

Each view has two generations: ``live``, which queries read, and ``rebuild``, a fresh
copy a rebuild fills from position 0; ``ReadSession.swap`` makes the copy live in one
step, so readers never see a half-built model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Literal, Protocol, TypeAlias

import attrs

from esframework.events import RecordedEvent
from esframework.views import ViewSpec

__all__ = [
    "Checkpoint",
    "Condition",
    "Failure",
    "Generation",
    "Lease",
    "Order",
    "Query",
    "ReadModels",
    "ReadSession",
    "StoredRow",
]

Generation: TypeAlias = Literal["live", "rebuild"]


@attrs.frozen
class Failure:
    """Why a projection stopped: the event it could not handle and the error."""

    position: int
    event_type: str
    error: str
    message: str
    at: datetime


@attrs.frozen
class Checkpoint:
    """A projection's stored progress: the last position it processed, and its state."""

    projection: str
    position: int = 0
    paused: bool = False
    failure: Failure | None = None
    updated_at: datetime | None = None


@attrs.frozen
class StoredRow:
    """One row of a view: the instance as JSON, the position that last wrote it.

    A deleted row stays as a tombstone (``deleted``) so that ``changed_since`` can
    report the deletion and a redelivered event cannot bring the row back.
    """

    key: Any
    data: Mapping[str, Any]
    position: int
    deleted: bool = False


@attrs.frozen
class Condition:
    """``field <op> value``; op is eq, ne, lt, lte, gt, gte or in (value: a tuple)."""

    field: str
    op: str
    value: Any


@attrs.frozen
class Order:
    """Sort by ``field``; None sorts after every value, in both directions."""

    field: str
    descending: bool = False


@attrs.frozen
class Query:
    """A view query as the backends run it.

    ``order`` always ends with the key, so the order is total; ``after`` holds the
    values of ``order``'s fields of the last row already seen (keyset pagination).
    """

    conditions: tuple[Condition, ...] = ()
    order: tuple[Order, ...] = ()
    after: tuple[Any, ...] | None = None
    offset: int = 0
    limit: int | None = None


class Lease(Protocol):
    """The right to be the one active runner of a projection (an advisory lock)."""

    def acquire(self) -> bool:
        """Try to become the holder (again, after losing it); True when held."""
        ...

    def held(self) -> bool:
        """Whether the lease is still ours (its connection may have died)."""
        ...

    def release(self) -> None:
        """Give the lease up (and what it keeps open), so that another runner can take over."""
        ...


class ReadSession(Protocol):
    """One transaction on the read models; committed when its block ends cleanly."""

    def checkpoint(self, projection: str) -> Checkpoint:
        """The projection's checkpoint (position 0 if new), locked until the end."""
        ...

    def save_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Store the projection's checkpoint, in this transaction."""
        ...

    def read_events(self, after: int, limit: int) -> list[RecordedEvent]:
        """Up to ``limit`` events above position ``after``, as this transaction sees them."""
        ...

    def get(self, view: ViewSpec, key: Any, generation: Generation) -> StoredRow | None:
        """The row (or tombstone) of ``key``, including this transaction's writes."""
        ...

    def put(
        self,
        view: ViewSpec,
        row: StoredRow,
        columns: Mapping[str, Any],
        generation: Generation,
        *,
        only_if_newer: bool,
    ) -> None:
        """Upsert ``row`` (a tombstone if ``row.deleted``) with its column values.

        With ``only_if_newer``, a stored row written at ``row.position`` or later is
        kept as it is: a redelivered event cannot write a row twice.
        """
        ...

    def savepoint(self) -> AbstractContextManager[None]:
        """A block whose writes are undone, alone, if it raises."""
        ...

    def swap(self, views: Sequence[ViewSpec]) -> None:
        """Make the rebuilt generation of ``views`` live, dropping the old one."""
        ...


class ReadModels(Protocol):
    """Read-model storage kept beside a store's events."""

    def prepare(self, views: Sequence[ViewSpec], owners: Mapping[str, str] | None = None) -> None:
        """Create the storage for these views, if missing.

        A view whose stored shape differs from its spec (fields, columns) is recreated
        empty, and its owner in ``owners`` (view name -> projection) restarts from 0.
        """
        ...

    def session(
        self, tx: object | None = None, *, exclusive: bool = False
    ) -> AbstractContextManager[ReadSession]:
        """A transaction; with ``tx`` (from an inline hook), the append's own.

        ``exclusive`` also holds the store's write lock: no append commits meanwhile.
        """
        ...

    def start_rebuild(self, views: Sequence[ViewSpec]) -> None:
        """Create fresh, empty rebuild generations of ``views`` (dropping old ones)."""
        ...

    def drop_rebuild(self, views: Sequence[ViewSpec]) -> None:
        """Drop the rebuild generations of ``views`` (an abandoned rebuild)."""
        ...

    def checkpoints(self) -> dict[str, Checkpoint]:
        """Every stored checkpoint, by projection name."""
        ...

    def head(self) -> int:
        """The position of the newest committed event (0 for an empty store)."""
        ...

    def lease(self, name: str) -> Lease:
        """The lease called ``name``, not acquired yet."""
        ...

    def get(self, view: ViewSpec, key: Any) -> StoredRow | None:
        """The live row of ``key`` (None if absent or deleted)."""
        ...

    def select(self, view: ViewSpec, query: Query) -> list[StoredRow]:
        """The live rows ``query`` selects, in its order."""
        ...

    def count(self, view: ViewSpec, conditions: Sequence[Condition]) -> int:
        """How many live rows meet ``conditions``."""
        ...

    def changes(self, view: ViewSpec, after: int) -> list[StoredRow]:
        """Live rows and tombstones written above position ``after``, by position."""
        ...
