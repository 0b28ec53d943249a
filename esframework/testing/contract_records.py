"""The store contract's tests of the records a store reads back.

Stores may build records lazily (SQL stores parse a column when it is first read);
whatever they do, a record read back must be indistinguishable from the one ``append``
returned. Part of :class:`esframework.testing.contract.EventStoreContract`.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID, uuid4

import attrs
import pytest

import esframework as esf
from esframework.adapters.base import EventStore
from esframework.events import RecordedEvent
from esframework.testing.contract_events import Measured, Noted

__all__ = ["RecordContract"]

FIELDS = (
    "position",
    "stream_id",
    "stream_type",
    "version",
    "event_id",
    "event_type",
    "schema_version",
    "data",
    "metadata",
    "occurred_at",
    "recorded_at",
    "prev_hash",
    "hash",
)
"""The stored fields of a ``RecordedEvent``."""


def _appended(store: EventStore) -> list[RecordedEvent]:
    sid = uuid4()
    tz = timezone(timedelta(hours=-3, minutes=-30))
    return store.append(
        sid,
        [
            esf.NewEvent(
                Noted("a"),
                metadata={"k": [1, 2**70], "note": "é\u2028"},
                occurred_at=datetime(2021, 6, 1, 12, 0, 0, 5, tzinfo=tz),
            ),
            Measured([0.5, 2.0], {"big": 2**80, "nested": {"x": None}}),
        ],
        expected_version=0,
        stream_type="Doc",
        metadata={"user_id": "u1", "correlation_id": uuid4()},
    )


def _read_back(store: EventStore) -> tuple[list[RecordedEvent], list[RecordedEvent]]:
    recs = _appended(store)
    read = [r for r in store.read_all() if r.stream_id == recs[0].stream_id]
    assert len(read) == len(recs)
    return recs, read


class RecordContract:
    """What every store guarantees about the records it reads back."""

    @pytest.mark.parametrize("reader", ["read_stream", "read_all"])
    def test_read_fields_equal_the_appended_ones(self, store: EventStore, reader: str) -> None:
        """Every stored field reads back equal to, and of the type of, what append returned."""
        recs = _appended(store)
        sid = recs[0].stream_id
        if reader == "read_stream":
            read = list(store.read_stream(sid))
        else:
            read = [r for r in store.read_all() if r.stream_id == sid]
        for ours, theirs in zip(recs, read, strict=True):
            for name in FIELDS:
                mine, stored = getattr(ours, name), getattr(theirs, name)
                assert stored == mine, name
                assert isinstance(stored, type(mine) if name != "data" else dict), name
            assert theirs.occurred_at.utcoffset() == ours.occurred_at.utcoffset()
            assert isinstance(theirs.stream_id, UUID)
            assert theirs.recorded_at.utcoffset() is not None
            assert theirs.event == ours.event
            assert theirs.user_id == "u1"
            assert theirs == ours
            assert hash(theirs) == hash(ours)

    def test_read_records_are_immutable(self, store: EventStore) -> None:
        """Assigning a field of a read record fails, before and after it was first read."""
        _, read = _read_back(store)
        rec = read[0]
        for name in (*FIELDS, "event"):
            with pytest.raises(AttributeError):
                setattr(rec, name, None)
            getattr(rec, name)
            with pytest.raises(AttributeError):
                setattr(rec, name, None)
        assert rec == _read_back_again(store, rec)

    def test_read_records_evolve_copy_and_show_like_appended_ones(self, store: EventStore) -> None:
        """attrs.evolve, attrs.asdict, copy and repr work on read records as on any record."""
        _, read = _read_back(store)
        rec = read[1]
        changed = attrs.evolve(rec, data={"values": [], "extra": {}})
        assert isinstance(changed, RecordedEvent)
        assert changed.data == {"values": [], "extra": {}}
        assert changed.event == Measured([], {})
        assert [getattr(changed, n) for n in FIELDS if n != "data"] == [
            getattr(rec, n) for n in FIELDS if n != "data"
        ]
        assert attrs.evolve(rec) == rec
        assert copy.copy(rec) == rec
        assert set(attrs.asdict(rec, recurse=False)) >= set(FIELDS)
        assert repr(rec) == repr(attrs.evolve(rec))
        assert repr(rec).startswith(f"RecordedEvent(position={rec.position}, ")
        assert attrs.evolve(rec, decoder=None).data == rec.data

    def test_recorded_at_is_utc_aware(self, store: EventStore) -> None:
        """recorded_at reads back as an aware time at the instant the store recorded."""
        recs, read = _read_back(store)
        assert [r.recorded_at.astimezone(UTC) for r in read] == [
            r.recorded_at.astimezone(UTC) for r in recs
        ]


def _read_back_again(store: EventStore, rec: RecordedEvent) -> Any:
    (again,) = store.read_all(after=rec.position - 1, limit=1)
    return again
