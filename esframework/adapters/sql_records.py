"""Records read from SQL: each row kept as read, a column parsed on first access.

Reading the log is mostly building records, and most readers touch few of their
fields: a projection reads ``event`` and ``position``, rarely the ids, times or
metadata. ``StoredRecord`` therefore keeps the row's values as the driver returned them
(hex or bytes ids, JSON text, time text) and parses each one the first time it is
read, keeping the result. Building one costs a list and two slot writes instead of
fifteen attribute writes and every parse.

``StoredRecord`` is a ``RecordedEvent`` in every way a caller can see: the same
attributes with the same types and values, equality, ``hash``, ``repr``, and
immutability. It shadows the parent's slots with read-only properties, so
``attrs.evolve``, ``copy`` and ``pickle`` of one give a plain ``RecordedEvent`` with the
parsed values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

import attrs

from esframework.adapters._common import PreparedEvent
from esframework.adapters.sql_rows import offset_zone
from esframework.errors import DefinitionError, EsfError
from esframework.events import _UNDECODED, RecordedEvent
from esframework.serialization import EventCodec, load_stored, located

__all__ = ["Row", "RowParsers", "StoredRecord", "appended_records", "stored_records"]

Row = tuple[Any, ...]
"""An event row as the driver returned it, its columns in ``EVENT_COLUMNS`` order."""


@attrs.frozen
class RowParsers:
    """How one dialect's raw column values become a record's values."""

    decoder: EventCodec | None
    uuid: Callable[[Any], UUID]
    time: Callable[[Any], datetime]


_PENDING: Any = object()

_REPR_FIELDS = tuple(a for a in attrs.fields(RecordedEvent) if a.repr)

# Where each value sits in a record's row: first the columns in EVENT_COLUMNS order,
# then the decoded event and each parsed column, all _PENDING until first read, and
# last the page's RowParsers.
(
    _POSITION,
    _STREAM_ID,
    _STREAM_TYPE,
    _VERSION,
    _EVENT_ID,
    _EVENT_TYPE,
    _SCHEMA_VERSION,
    _DATA,
    _METADATA,
    _OCCURRED_AT,
    _OCCURRED_OFFSET,
    _RECORDED_AT,
    _PREV_HASH,
    _HASH,
    _EVENT,
    _STREAM_ID_VALUE,
    _EVENT_ID_VALUE,
    _DATA_VALUE,
    _METADATA_VALUE,
    _OCCURRED_AT_VALUE,
    _RECORDED_AT_VALUE,
    _PARSERS,
) = range(22)


class StoredRecord(RecordedEvent):
    """A ``RecordedEvent`` read from a SQL store, its columns parsed on first access."""

    __slots__ = ("_row",)

    _row: list[Any]

    def __new__(cls, *args: Any, **kwargs: Any) -> StoredRecord:
        # Only attrs.evolve (and the like) call the class: they get a plain record.
        return RecordedEvent(*args, **kwargs)  # type: ignore[return-value]

    def __reduce__(self) -> tuple[Any, ...]:
        return (RecordedEvent, (*self._key(), self._row[_PARSERS].decoder))

    def __repr__(self) -> str:
        shown = (f"{a.name}={getattr(self, a.name)!r}" for a in _REPR_FIELDS)
        return f"RecordedEvent({', '.join(shown)})"

    @property
    def position(self) -> int:
        return self._row[_POSITION]  # type: ignore[no-any-return]

    @property
    def stream_id(self) -> UUID:
        row = self._row
        value = row[_STREAM_ID_VALUE]
        if value is _PENDING:
            value = row[_STREAM_ID_VALUE] = row[_PARSERS].uuid(row[_STREAM_ID])
        return value  # type: ignore[no-any-return]

    @property
    def stream_type(self) -> str:
        return self._row[_STREAM_TYPE]  # type: ignore[no-any-return]

    @property
    def version(self) -> int:
        return self._row[_VERSION]  # type: ignore[no-any-return]

    @property
    def event_id(self) -> UUID:
        row = self._row
        value = row[_EVENT_ID_VALUE]
        if value is _PENDING:
            value = row[_EVENT_ID_VALUE] = row[_PARSERS].uuid(row[_EVENT_ID])
        return value  # type: ignore[no-any-return]

    @property
    def event_type(self) -> str:
        return self._row[_EVENT_TYPE]  # type: ignore[no-any-return]

    @property
    def schema_version(self) -> int:
        return self._row[_SCHEMA_VERSION]  # type: ignore[no-any-return]

    @property
    def data(self) -> Mapping[str, Any]:
        row = self._row
        value = row[_DATA_VALUE]
        if value is _PENDING:
            value = row[_DATA_VALUE] = load_stored(row[_DATA])
        return value  # type: ignore[no-any-return]

    @property
    def metadata(self) -> Mapping[str, Any]:
        row = self._row
        value = row[_METADATA_VALUE]
        if value is _PENDING:
            text = row[_METADATA]
            value = row[_METADATA_VALUE] = {} if text == "{}" else load_stored(text)
        return value  # type: ignore[no-any-return]

    @property
    def occurred_at(self) -> datetime:
        row = self._row
        value = row[_OCCURRED_AT_VALUE]
        if value is _PENDING:
            value = row[_PARSERS].time(row[_OCCURRED_AT])
            offset = row[_OCCURRED_OFFSET]
            if offset:
                value = value.astimezone(offset_zone(offset))
            row[_OCCURRED_AT_VALUE] = value
        return value  # type: ignore[no-any-return]

    @property
    def recorded_at(self) -> datetime:
        row = self._row
        value = row[_RECORDED_AT_VALUE]
        if value is _PENDING:
            value = row[_RECORDED_AT_VALUE] = row[_PARSERS].time(row[_RECORDED_AT])
        return value  # type: ignore[no-any-return]

    @property
    def prev_hash(self) -> str:
        return self._row[_PREV_HASH]  # type: ignore[no-any-return]

    @property
    def hash(self) -> str:
        return self._row[_HASH]  # type: ignore[no-any-return]

    @property
    def event(self) -> Any:
        """The payload as an instance of its current event class (upcast if older)."""
        row = self._row
        value = row[_EVENT]
        if value is _PENDING:
            codec = row[_PARSERS].decoder
            if codec is None:
                raise DefinitionError(
                    "this RecordedEvent was built without a decoder; read it from a store "
                    "to get .event, or use .data"
                )
            # codec.decode_record(self), without reading the fields through properties
            try:
                value = codec.decode(row[_EVENT_TYPE], row[_SCHEMA_VERSION], self.data)
            except EsfError as exc:
                raise located(exc, self) from exc
            row[_EVENT] = value
        return value

    # The parent's private fields, for attrs.evolve and attrs.asdict.

    @property
    def _decoder(self) -> EventCodec | None:
        return self._row[_PARSERS].decoder  # type: ignore[no-any-return]

    @property
    def _decoded(self) -> Any:
        value = self._row[_EVENT]
        return _UNDECODED if value is _PENDING else value


_SET_ROW = StoredRecord._row.__set__  # type: ignore[attr-defined]


def stored_records(rows: Iterable[Row], parsers: RowParsers) -> Iterator[RecordedEvent]:
    """Rows of ``EVENT_COLUMNS`` (as the driver returned them) as records, one by one.

    Built as the caller takes them, a record the caller drops is freed when the next is
    made: a page's records never all live at once, which spares the garbage collector
    from tracking (and promoting to older generations) a page of records, payloads and
    events.
    """
    new, set_row, cls, rest = object.__new__, _SET_ROW, StoredRecord, (_PENDING,) * 7 + (parsers,)
    for row in rows:
        record = new(cls)
        set_row(record, [*row, *rest])
        yield record


def appended_records(
    prepared: Iterable[PreparedEvent], last: int, recorded_at: datetime, decoder: EventCodec
) -> list[RecordedEvent]:
    """The records of events just stored after position ``last``, every value known.

    Built like records read back (a row and two slot writes), with each value already
    in its parsed place; the event instance is kept when reading it back would decode
    an equal one (it is of its type's current class).
    """
    parsers = RowParsers(decoder, _unused, _unused)
    new, set_row, cls, is_current = object.__new__, _SET_ROW, StoredRecord, decoder.is_current
    records: list[RecordedEvent] = []
    for position, p in enumerate(prepared, last + 1):
        d = p.draft
        record = new(cls)
        set_row(
            record,
            [
                position,
                p.stream_id,
                p.stream_type,
                p.version,
                d.event_id,
                d.event_type,
                d.schema_version,
                d.data_json,
                d.metadata_json,
                d.occurred_at,
                0,
                recorded_at,
                p.prev_hash,
                p.hash,
                d.event if is_current(d.event) else _PENDING,
                p.stream_id,
                d.event_id,
                d.data,
                d.metadata,
                d.occurred_at,
                recorded_at,
                parsers,
            ],
        )
        records.append(record)
    return records


def _unused(value: Any) -> Any:
    raise AssertionError("an appended record's values are parsed already")  # pragma: no cover
