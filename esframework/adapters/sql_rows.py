"""The events table as the SQL stores read and write it: columns, statements, offsets.

Statements are constant text built from the column list; every value is a bound
parameter. ``occurred_at`` is stored as a UTC instant plus its UTC offset in seconds,
so that it reads back with the offset its hash was computed over.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import NamedTuple, TypeVar

from esframework.errors import SerializationError

__all__ = [
    "EVENT_COLUMNS",
    "POSITION_COLUMN",
    "VERSION_COLUMN",
    "Head",
    "insert_events",
    "offset_zone",
    "select_events",
    "typed_page_sql",
    "utc_offset",
    "uuid_from_bytes",
    "uuid_from_hex",
]

T = TypeVar("T")

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
    """A stream's current state, as the streams table holds it."""

    stream_type: str
    version: int
    last_hash: str


def _hex_int(text: str) -> int:
    return int(text, 16)


def _bytes_int(data: bytes) -> int:
    return int.from_bytes(data, "big")


def _make_uuid_reader(
    to_int: Callable[[T], int], encode: Callable[[uuid.UUID], T]
) -> Callable[[T], uuid.UUID]:
    """The fastest exact way to turn a stored id into ``uuid.UUID`` on this Python.

    ``uuid.UUID(text)`` spends most of its time cleaning up text that is already clean
    (about 2 us; reading a page of events parses one id per event). Where ``UUID`` keeps
    its value in the ``int`` and ``is_safe`` slots, as CPython has since 3.7, the value
    is set directly (about 0.6 us), and the result is checked to be the same UUID;
    anywhere else the ordinary constructor is used.
    """

    def slow(raw: T) -> uuid.UUID:
        return uuid.UUID(int=to_int(raw))

    slots = getattr(uuid.UUID, "__slots__", ())
    if "int" not in slots or "is_safe" not in slots:
        return slow
    new, set_slot, cls, unknown = (
        object.__new__,
        object.__setattr__,
        uuid.UUID,
        uuid.SafeUUID.unknown,
    )

    def fast(raw: T) -> uuid.UUID:
        value = new(cls)
        set_slot(value, "int", to_int(raw))
        set_slot(value, "is_safe", unknown)
        return value

    probe = uuid.uuid4()
    made = fast(encode(probe))
    if made != probe or hash(made) != hash(probe) or str(made) != str(probe):
        return slow
    return fast


uuid_from_hex = _make_uuid_reader(_hex_int, lambda u: u.hex)
"""A ``uuid.UUID`` from its 32-digit hex text, as stored in SQLite."""

uuid_from_bytes = _make_uuid_reader(_bytes_int, lambda u: u.bytes)
"""A ``uuid.UUID`` from its 16 bytes, as PostgreSQL's ``uuid_send`` gives them."""
