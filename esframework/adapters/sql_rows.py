"""The events table as the SQL stores read and write it: columns, statements, offsets.

Statements are constant text built from the column list; every value is a bound
parameter. ``occurred_at`` is stored as a UTC instant plus its UTC offset in seconds,
so that it reads back with the offset its hash was computed over.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, NamedTuple
from uuid import UUID

from esframework.adapters.base import ANY
from esframework.errors import SerializationError
from esframework.ids import uuid_from_bytes, uuid_from_hex

if TYPE_CHECKING:
    from esframework.adapters._common import PreparedEvent

__all__ = [
    "EVENT_COLUMNS",
    "POSITION_COLUMN",
    "VERSION_COLUMN",
    "Head",
    "HeadCache",
    "insert_events",
    "offset_zone",
    "select_events",
    "typed_page_sql",
    "utc_offset",
    "uuid_from_bytes",
    "uuid_from_hex",
]

EVENT_COLUMNS = (
    "position, stream_id, stream_type, version, event_id, event_type, schema_version, "
    "data, metadata, occurred_at, occurred_offset, recorded_at, prev_hash, hash"
)
"""The columns every read selects, in the order the dialects' row readers expect."""

POSITION_COLUMN = 0
"""Where ``position`` is in a row of ``EVENT_COLUMNS``."""

VERSION_COLUMN = 3
"""Where ``version`` is in a row of ``EVENT_COLUMNS``."""


def select_events(where: str, columns: str = EVENT_COLUMNS) -> str:
    """``SELECT`` of every event column with a constant condition (values are bound).

    ``columns`` is ``EVENT_COLUMNS`` or a dialect's expressions of them, in that order.
    """
    return f"SELECT {columns} FROM events WHERE {where}"  # noqa: S608 - constant SQL


def insert_events(values: str) -> str:
    """``INSERT`` of every event column from a constant source (values are bound)."""
    return f"INSERT INTO events ({EVENT_COLUMNS}) {values}"


@functools.lru_cache(maxsize=64)
def typed_page_sql(count: int, mark: str, columns: str = EVENT_COLUMNS) -> str:
    """A page of events of ``count`` types, each read in order from its own index range.

    ``event_type IN (...) ORDER BY position`` would collect and sort every later event
    of those types for each page; one ordered, limited scan of the (event_type,
    position) index per type keeps a page's cost bounded by ``count * limit`` rows.
    Parameters: (type, after, limit) for each type, then the limit again.
    """
    one = select_events(
        f"event_type = {mark} AND position > {mark} ORDER BY position LIMIT {mark}", columns
    )
    union = " UNION ALL ".join(f"SELECT * FROM ({one}) AS t{i}" for i in range(count))  # noqa: S608
    return f"SELECT * FROM ({union}) AS page ORDER BY position LIMIT {mark}"  # noqa: S608


@functools.lru_cache(maxsize=256)
def offset_zone(seconds: int) -> timezone:
    """The fixed-offset zone an ``occurred_at`` was recorded in."""
    return UTC if seconds == 0 else timezone(timedelta(seconds=seconds))


def utc_offset(when: datetime, event_type: str) -> int:
    """``when``'s UTC offset in whole seconds, which the ``occurred_offset`` column keeps."""
    offset = when.utcoffset()
    assert offset is not None  # draft_events refuses naive times
    if offset.microseconds:
        raise SerializationError(
            f"event {event_type} occurred at {when.isoformat()}, whose UTC offset has "
            "fractions of a second that SQL stores cannot keep: use a whole-second offset"
        )
    return offset.days * 86400 + offset.seconds


class Head(NamedTuple):
    """A stream's current state: its type, and the version and hash of its newest event."""

    stream_type: str
    version: int
    last_hash: str


class HeadCache:
    """The heads of the streams this store appended to last, so as not to read them again.

    Only ever a hint. An append built on a stale head (another process appended since)
    inserts a version the stream already has; the unique ``(stream_id, version)`` index
    refuses it, and the append runs again under the lock on heads read from the
    database. A head is kept only after its append committed.
    """

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._heads: dict[UUID, Head] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<HeadCache {len(self._heads)}/{self.size}>"

    def known(self, plan: Mapping[UUID, tuple[object, object]]) -> dict[UUID, Head] | None:
        """The heads of a batch's streams, or None if any must be read.

        A stream expected not to exist (0) and not cached has no head; a cached one is
        used when the batch expects its version or ``ANY``. Anything else is read.
        """
        heads = {}
        for stream_id, (expected, _) in plan.items():
            head = self._heads.get(stream_id)
            if head is None:
                if expected != 0:
                    return None
            elif expected is ANY or expected == head.version:
                heads[stream_id] = head
            else:
                return None
        return heads

    def keep(self, prepared: Sequence[PreparedEvent]) -> None:
        """Remember the heads an append committed (its last event of each stream)."""
        with self._lock:
            heads = self._heads
            for p in prepared:
                heads.pop(p.stream_id, None)  # re-inserted: the newest at the end
                heads[p.stream_id] = Head(p.stream_type, p.version, p.hash)
            while len(heads) > self.size:
                del heads[next(iter(heads))]

    def forget(self, stream_ids: Iterable[UUID]) -> None:
        """Drop heads that may be stale (an append on them failed)."""
        with self._lock:
            for stream_id in stream_ids:
                self._heads.pop(stream_id, None)
