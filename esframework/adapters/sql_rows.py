"""The events table as the SQL stores read and write it: columns, statements, offsets.

Statements are constant text built from the column list; every value is a bound
parameter. ``occurred_at`` is stored as a UTC instant plus its UTC offset in seconds,
so that it reads back with the offset its hash was computed over.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta, timezone
from typing import NamedTuple

from esframework.errors import SerializationError
from esframework.ids import uuid_from_hex

__all__ = [
    "EVENT_COLUMNS",
    "Head",
    "insert_events",
    "offset_zone",
    "select_events",
    "typed_page_sql",
    "utc_offset",
    "uuid_from_hex",
]

EVENT_COLUMNS = (
    "position, stream_id, stream_type, version, event_id, event_type, schema_version, "
    "data, metadata, occurred_at, occurred_offset, recorded_at, prev_hash, hash"
)
"""The columns every read selects, in the order the dialects' row readers expect."""


def select_events(where: str) -> str:
    """``SELECT`` of every event column with a constant condition (values are bound)."""
    return f"SELECT {EVENT_COLUMNS} FROM events WHERE {where}"  # noqa: S608 - constant SQL


def insert_events(values: str) -> str:
    """``INSERT`` of every event column from a constant source (values are bound)."""
    return f"INSERT INTO events ({EVENT_COLUMNS}) {values}"


@functools.lru_cache(maxsize=64)
def typed_page_sql(count: int, mark: str) -> str:
    """A page of events of ``count`` types, each read in order from its own index range.

    ``event_type IN (...) ORDER BY position`` would collect and sort every later event
    of those types for each page; one ordered, limited scan of the (event_type,
    position) index per type keeps a page's cost bounded by ``count * limit`` rows.
    Parameters: (type, after, limit) for each type, then the limit again.
    """
    one = select_events(
        f"event_type = {mark} AND position > {mark} ORDER BY position LIMIT {mark}"
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
