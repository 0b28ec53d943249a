"""The store contract: the tests every ``EventStore`` must pass.

Subclass :class:`EventStoreContract` in a test module and provide a ``store`` fixture
that yields a fresh, empty store (built with the default codec, and with
``clock=FakeClock()`` for the tests that move time; they skip otherwise)::

    import pytest
    from esframework.testing.contract import EventStoreContract

    @pytest.fixture
    def store(tmp_path):
        with MyStore(tmp_path / "events.db", clock=FakeClock()) as s:
            yield s

    class TestMyStore(EventStoreContract):
        pass

esframework runs this suite over memory, SQLite and PostgreSQL.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest

import esframework as esf
from esframework.adapters.base import EventStore
from esframework.audit import GENESIS_HASH, verify_records
from esframework.testing.clock import FakeClock
from esframework.testing.contract_concurrency import ConcurrencyContract
from esframework.testing.contract_events import (
    HOSTILE,
    Counted,
    Measured,
    Noted,
    Opaque,
    Unstorable,
)
from esframework.testing.contract_events import notes as _notes
from esframework.testing.contract_records import RecordContract

__all__ = ["HOSTILE", "Counted", "EventStoreContract", "Measured", "Noted", "Opaque"]


class EventStoreContract(RecordContract, ConcurrencyContract):
    """The behaviour every store shares. Needs a ``store`` fixture (fresh and empty)."""

    # -- append and read back ------------------------------------------------------

    def test_append_returns_records_with_versions_and_envelope(self, store: EventStore) -> None:
        """Appending to a new stream stores versions 1..n with the full envelope."""
        sid = uuid4()
        recs = store.append(sid, _notes("a", "b"), expected_version=0, stream_type="Doc")
        assert [r.version for r in recs] == [1, 2]
        assert recs[0].position < recs[1].position
        assert all(r.stream_id == sid and r.stream_type == "Doc" for r in recs)
        assert [r.event_type for r in recs] == ["esf.contract.Noted"] * 2
        assert [r.schema_version for r in recs] == [1, 1]
        assert [r.data for r in recs] == [{"text": "a"}, {"text": "b"}]
        assert [r.event for r in recs] == _notes("a", "b")
        assert len({r.event_id for r in recs}) == 2
        assert all(r.recorded_at.tzinfo is not None for r in recs)
        assert all(r.occurred_at.tzinfo is not None for r in recs)

    def test_read_stream_returns_what_was_appended(self, store: EventStore) -> None:
        """read_stream yields the stored records, equal to those append returned."""
        sid = uuid4()
        recs = store.append(sid, _notes("a", "b", "c"), expected_version=0)
        read = list(store.read_stream(sid))
        assert read == recs
        assert [r.event for r in read] == _notes("a", "b", "c")

    def test_read_stream_slices_by_version(self, store: EventStore) -> None:
        """from_version and to_version are inclusive bounds."""
        sid = uuid4()
        store.append(sid, _notes("1", "2", "3", "4", "5"), expected_version=0)
        assert [r.version for r in store.read_stream(sid, from_version=2)] == [2, 3, 4, 5]
        assert [r.version for r in store.read_stream(sid, to_version=3)] == [1, 2, 3]
        assert [r.version for r in store.read_stream(sid, 2, 4)] == [2, 3, 4]
        assert list(store.read_stream(sid, from_version=6)) == []

    def test_unknown_stream_is_empty_at_version_zero(self, store: EventStore) -> None:
        """A stream nobody wrote to reads empty and is at version 0."""
        sid = uuid4()
        assert list(store.read_stream(sid)) == []
        assert store.stream_version(sid) == 0

    def test_stream_version_counts_events(self, store: EventStore) -> None:
        """stream_version is the version of the stream's last event."""
        sid = uuid4()
        store.append(sid, _notes("a"), expected_version=0)
        store.append(sid, _notes("b", "c"), expected_version=1)
        assert store.stream_version(sid) == 3

    def test_exact_types_survive_the_round_trip(self, store: EventStore) -> None:
        """Decimals keep their digits and datetimes their offsets."""
        sid = uuid4()
        at = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=timezone(timedelta(hours=-5)))
        ev = Counted(n=2**53 + 1, amount=Decimal("1234567890.123456789010"), at=at)
        store.append(sid, [ev], expected_version=0)
        (rec,) = store.read_stream(sid)
        assert rec.event == ev
        assert rec.event.amount.as_tuple() == ev.amount.as_tuple()
        assert rec.event.at.utcoffset() == timedelta(hours=-5)

    def test_floats_read_back_equal_and_still_verify(self, store: EventStore) -> None:
        """Floats (integral, huge, tiny, negative zero) survive and keep the hash valid."""
        sid = uuid4()
        values = [1.0, 1e16, -0.0, 0.1, 2.5e-7, 123456789.0, -3.75]
        # In free-form JSON (typed Any), PostgreSQL's JSONB may return an integral float
        # as an int; typed float fields come back as floats. The hash holds either way.
        extra = {"n": 2.5, "text": "1.0e5", "nested": [{"x": 1.5e-300}]}
        store.append(sid, [Measured(values=values, extra=extra)], expected_version=0)
        (rec,) = store.read_stream(sid)
        assert rec.event.values == values
        assert rec.event.extra == extra
        report = verify_records(store.read_all())
        assert report.ok, report.problems

    def test_hostile_strings_are_stored_as_data(self, store: EventStore) -> None:
        """Quotes, SQL and control characters in payload, metadata and type are data."""
        sid = uuid4()
        store.append(
            sid,
            [Noted(text=HOSTILE)],
            expected_version=0,
            stream_type=HOSTILE,
            metadata={"user_id": HOSTILE, HOSTILE: HOSTILE},
        )
        (rec,) = store.read_stream(sid)
        assert rec.event.text == HOSTILE
        assert rec.stream_type == HOSTILE
        assert rec.metadata["user_id"] == HOSTILE
        assert rec.metadata[HOSTILE] == HOSTILE
        assert [r.event.text for r in store.read_all()] == [HOSTILE]

    def test_empty_append_stores_nothing(self, store: EventStore) -> None:
        """Appending no events returns nothing and creates no stream."""
        sid = uuid4()
        assert store.append(sid, [], expected_version=0) == []
        assert store.stream_version(sid) == 0
        assert list(store.read_all()) == []

    # -- optimistic concurrency ----------------------------------------------------

    def test_wrong_expected_version_raises_and_stores_nothing(self, store: EventStore) -> None:
        """A stale expected version is a ConcurrencyError naming both versions."""
        sid = uuid4()
        store.append(sid, _notes("a", "b"), expected_version=0)
        with pytest.raises(esf.ConcurrencyError) as info:
            store.append(sid, _notes("c"), expected_version=1)
        assert (info.value.stream_id, info.value.expected, info.value.actual) == (sid, 1, 2)
        assert str(sid) in str(info.value)
        assert [r.event.text for r in store.read_stream(sid)] == ["a", "b"]

    def test_expected_zero_refuses_an_existing_stream(self, store: EventStore) -> None:
        """expected_version=0 means the stream must not exist yet."""
        sid = uuid4()
        store.append(sid, _notes("a"), expected_version=0)
        with pytest.raises(esf.ConcurrencyError):
            store.append(sid, _notes("b"), expected_version=0)
        assert store.stream_version(sid) == 1

    def test_any_appends_without_a_check(self, store: EventStore) -> None:
        """expected_version=ANY appends at whatever version the stream is."""
        sid = uuid4()
        store.append(sid, _notes("a"), expected_version=esf.ANY)
        recs = store.append(sid, _notes("b"), expected_version=esf.ANY)
        assert [r.version for r in recs] == [2]

    @pytest.mark.parametrize("bad", [-1, "1", 1.0, True, None])
    def test_invalid_expected_version_is_refused(self, store: EventStore, bad: Any) -> None:
        """An expected version that is not an int >= 0 or ANY is a typed error."""
        with pytest.raises(esf.InvalidExpectedVersion):
            store.append(uuid4(), _notes("a"), expected_version=bad)
        assert list(store.read_all()) == []

    def test_concurrent_writers_never_lose_or_duplicate(self, store: EventStore) -> None:
        """Writers racing on one stream: every success is stored once, versions 1..n."""
        sid = uuid4()
        successes: list[str] = []
        lock = threading.Lock()

        def writer(name: str) -> None:
            for i in range(10):
                while True:
                    version = store.stream_version(sid)
                    try:
                        store.append(sid, [Noted(f"{name}-{i}")], expected_version=version)
                    except esf.ConcurrencyError:
                        continue
                    with lock:
                        successes.append(f"{name}-{i}")
                    break

        threads = [threading.Thread(target=writer, args=(f"w{n}",)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stored = list(store.read_stream(sid))
        assert [r.version for r in stored] == list(range(1, 41))
        assert sorted(r.event.text for r in stored) == sorted(successes)
        assert verify_records(store.read_all()).ok

    # -- the global order ----------------------------------------------------------

    def test_read_all_is_in_position_order_without_gaps(self, store: EventStore) -> None:
        """read_all yields every event once, positions strictly increasing from 1."""
        a, b = uuid4(), uuid4()
        store.append(a, _notes("a1"), expected_version=0)
        store.append(b, _notes("b1", "b2"), expected_version=0)
        store.append(a, _notes("a2"), expected_version=1)
        recs = list(store.read_all())
        assert [r.event.text for r in recs] == ["a1", "b1", "b2", "a2"]
        positions = [r.position for r in recs]
        assert positions == list(range(positions[0], positions[0] + 4))

    def test_read_all_after_and_limit(self, store: EventStore) -> None:
        """after skips positions up to and including it; limit caps the count."""
        store.append(uuid4(), _notes("1", "2", "3", "4"), expected_version=0)
        positions = [r.position for r in store.read_all()]
        assert [r.position for r in store.read_all(after=positions[1])] == positions[2:]
        assert [r.position for r in store.read_all(limit=2)] == positions[:2]
        assert [r.position for r in store.read_all(after=positions[0], limit=2)] == positions[1:3]
        assert list(store.read_all(after=positions[-1])) == []

    def test_read_all_filters_by_type(self, store: EventStore) -> None:
        """types= keeps only events of the named types, still in order."""
        store.append(uuid4(), [Noted("x"), Counted(n=1), Noted("y")], expected_version=0)
        got = list(store.read_all(types=["esf.contract.Counted"]))
        assert [r.event for r in got] == [Counted(n=1)]
        assert [r.event.text for r in store.read_all(types=["esf.contract.Noted"])] == ["x", "y"]

    def test_read_all_merges_several_types_in_position_order(self, store: EventStore) -> None:
        """types= with several names interleaves them by position, with after and limit."""
        a, b = uuid4(), uuid4()
        store.append(a, [Noted("1"), Counted(n=2), Noted("3")], expected_version=0)
        store.append(b, [Counted(n=4), Measured([5.0]), Noted("6")], expected_version=0)
        wanted = ["esf.contract.Noted", "esf.contract.Counted", "esf.contract.Noted"]
        expected = [r for r in store.read_all() if r.event_type != "esf.contract.Measured"]
        assert [r.event.n if isinstance(r.event, Counted) else r.event.text for r in expected] == [
            "1",
            2,
            "3",
            4,
            "6",
        ]
        assert list(store.read_all(types=wanted)) == expected
        assert (
            list(store.read_all(after=expected[1].position, limit=2, types=wanted))
            == (expected[2:4])
        )
        assert list(store.read_all(types=[])) == []

    def test_recorded_at_never_decreases_along_positions(self, store: EventStore) -> None:
        """A clock stepping back does not make a later position look recorded earlier."""
        clock = getattr(store, "clock", None)
        if not isinstance(clock, FakeClock):
            pytest.skip("needs a store built with clock=FakeClock()")
        clock.set(datetime(2030, 1, 1, tzinfo=UTC))
        (first,) = store.append(uuid4(), _notes("a"), expected_version=0)
        clock.set(datetime(2029, 1, 1, tzinfo=UTC))
        (second,) = store.append(uuid4(), _notes("b"), expected_version=0)
        assert second.recorded_at == first.recorded_at
        assert [r.recorded_at for r in store.read_all()] == [first.recorded_at] * 2
        clock.set(datetime(2031, 1, 1, tzinfo=UTC))
        (third,) = store.append(uuid4(), _notes("c"), expected_version=0)
        assert third.recorded_at == datetime(2031, 1, 1, tzinfo=UTC)

    # -- batches -------------------------------------------------------------------

    def test_append_many_stores_every_stream(self, store: EventStore) -> None:
        """append_many writes to several streams in one call."""
        a, b = uuid4(), uuid4()
        recs = store.append_many({a: (0, _notes("a1", "a2")), b: (0, _notes("b1"))})
        assert len(recs) == 3
        assert [r.event.text for r in store.read_stream(a)] == ["a1", "a2"]
        assert [r.event.text for r in store.read_stream(b)] == ["b1"]

    def test_append_many_is_all_or_nothing(self, store: EventStore) -> None:
        """One stale stream in a batch stores nothing for any stream of it."""
        a, b = uuid4(), uuid4()
        store.append(b, _notes("b1"), expected_version=0)
        with pytest.raises(esf.ConcurrencyError):
            store.append_many({a: (0, _notes("a1")), b: (0, _notes("b2"))})
        assert store.stream_version(a) == 0
        assert [r.event.text for r in store.read_all()] == ["b1"]

    # -- idempotency ---------------------------------------------------------------

    def test_identical_retry_is_a_no_op(self, store: EventStore) -> None:
        """Re-appending stored event ids with identical content returns the stored records."""
        sid = uuid4()
        batch = [esf.NewEvent(Noted("a")), esf.NewEvent(Noted("b"))]
        first = store.append(sid, batch, expected_version=0)
        again = store.append(sid, batch, expected_version=0)
        assert again == first
        assert store.stream_version(sid) == 2
        assert len(list(store.read_all())) == 2

    def test_retry_after_the_stream_moved_on_is_a_no_op(self, store: EventStore) -> None:
        """A stored append retried later, on a stream that has grown since, is a no-op."""
        sid = uuid4()
        store.append(sid, [Noted("a")], expected_version=0)
        batch = [esf.NewEvent(Noted("b")), esf.NewEvent(Noted("c"))]
        first = store.append(sid, batch, expected_version=1)
        store.append(sid, [Noted("d")], expected_version=3)
        assert store.append(sid, batch, expected_version=1) == first
        assert store.append(sid, batch, expected_version=esf.ANY) == first
        with pytest.raises(esf.ConcurrencyError):
            store.append(sid, [Noted("e")], expected_version=1)
        assert [r.event.text for r in store.read_stream(sid)] == ["a", "b", "c", "d"]

    def test_reused_event_id_with_other_content_is_refused(self, store: EventStore) -> None:
        """An event id may not carry different content: DuplicateEventId, nothing stored."""
        sid = uuid4()
        eid = uuid4()
        store.append(sid, [esf.NewEvent(Noted("a"), event_id=eid)], expected_version=0)
        with pytest.raises(esf.DuplicateEventId):
            store.append(sid, [esf.NewEvent(Noted("B"), event_id=eid)], expected_version=1)
        with pytest.raises(esf.DuplicateEventId):
            store.append(uuid4(), [esf.NewEvent(Noted("a"), event_id=eid)], expected_version=0)
        assert [r.event.text for r in store.read_all()] == ["a"]

    def test_one_event_id_twice_in_a_batch_is_refused(self, store: EventStore) -> None:
        """A batch that carries an event id twice is DuplicateEventId; nothing is stored."""
        eid = uuid4()
        twice = [esf.NewEvent(Noted("a"), event_id=eid), esf.NewEvent(Noted("b"), event_id=eid)]
        with pytest.raises(esf.DuplicateEventId):
            store.append(uuid4(), twice, expected_version=0)
        with pytest.raises(esf.DuplicateEventId):
            store.append_many({uuid4(): (0, twice[:1]), uuid4(): (0, twice[1:])})
        assert list(store.read_all()) == []

    def test_partly_stored_batch_is_refused(self, store: EventStore) -> None:
        """A batch of which only some ids are stored is refused whole."""
        sid = uuid4()
        first = esf.NewEvent(Noted("a"))
        store.append(sid, [first], expected_version=0)
        with pytest.raises(esf.DuplicateEventId):
            store.append(sid, [first, esf.NewEvent(Noted("b"))], expected_version=esf.ANY)
        assert store.stream_version(sid) == 1

    # -- metadata and the hash chain -----------------------------------------------

    def test_metadata_is_stored_and_merged(self, store: EventStore) -> None:
        """Call metadata applies to every event; NewEvent metadata adds to it."""
        sid, corr = uuid4(), uuid4()
        occurred = datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)
        store.append(
            sid,
            [Noted("a"), esf.NewEvent(Noted("b"), metadata={"k": 1}, occurred_at=occurred)],
            expected_version=0,
            metadata={"user_id": "u1", "correlation_id": corr},
        )
        a, b = store.read_stream(sid)
        assert a.metadata == {"user_id": "u1", "correlation_id": str(corr)}
        assert b.metadata == {"user_id": "u1", "correlation_id": str(corr), "k": 1}
        assert b.occurred_at == occurred
        assert a.user_id == "u1"

    def test_non_utc_offsets_keep_their_hash(self, store: EventStore) -> None:
        """occurred_at comes back with its offset, so the chain verifies after a round trip."""
        sid = uuid4()
        tz = timezone(timedelta(hours=5, minutes=30))
        store.append(
            sid,
            [
                esf.NewEvent(Noted("a"), occurred_at=datetime(2021, 6, 1, 12, 0, tzinfo=tz)),
                esf.NewEvent(Noted("b"), occurred_at=datetime(1999, 12, 31, 23, 59, 59, 1, UTC)),
            ],
            expected_version=0,
        )
        a, b = store.read_stream(sid)
        assert a.occurred_at.isoformat() == "2021-06-01T12:00:00+05:30"
        assert b.occurred_at.isoformat() == "1999-12-31T23:59:59.000001+00:00"
        assert verify_records(store.read_all()).ok

    def test_one_instant_in_two_offsets_keeps_each_offset(self, store: EventStore) -> None:
        """Equal instants written in different offsets each keep theirs, and verify."""
        sid = uuid4()
        utc = datetime(2021, 6, 1, 12, 0, tzinfo=UTC)
        india = utc.astimezone(timezone(timedelta(hours=5, minutes=30)))
        assert utc == india
        store.append(
            sid,
            [
                esf.NewEvent(Noted("a"), occurred_at=utc),
                esf.NewEvent(Noted("b"), occurred_at=india),
            ],
            expected_version=0,
        )
        a, b = store.read_stream(sid)
        assert a.occurred_at.isoformat() == "2021-06-01T12:00:00+00:00"
        assert b.occurred_at.isoformat() == "2021-06-01T17:30:00+05:30"
        assert verify_records(store.read_all()).ok

    def test_floats_verify_and_retry_after_the_round_trip(self, store: EventStore) -> None:
        """Floats of any size keep the chain valid, and their retry stays a no-op."""
        sid = uuid4()
        event = esf.NewEvent(Measured([0.1, -0.0, 1.0, 1e16, 2.0**60, 1e300, 1.5e-300]))
        first = store.append(sid, [event], expected_version=0)
        (rec,) = store.read_stream(sid)
        assert rec.event.values == [0.1, 0.0, 1.0, 1e16, 2.0**60, 1e300, 1.5e-300]
        assert verify_records(store.read_all()).ok
        again = store.append(sid, [event], expected_version=0)
        assert again == [rec]
        assert [(r.event_id, r.position, r.hash) for r in again] == [
            (r.event_id, r.position, r.hash) for r in first
        ]

    def test_hash_chain_links_every_stream(self, store: EventStore) -> None:
        """Each event's prev_hash is the hash before it; the first chains from genesis."""
        a, b = uuid4(), uuid4()
        store.append(a, _notes("1", "2"), expected_version=0)
        store.append(b, _notes("x"), expected_version=0)
        store.append(a, _notes("3"), expected_version=2)
        chain = list(store.read_stream(a))
        assert chain[0].prev_hash == GENESIS_HASH
        assert [r.prev_hash for r in chain[1:]] == [r.hash for r in chain[:-1]]
        assert len({r.hash for r in store.read_all()}) == 4
        report = verify_records(store.read_all())
        assert report.ok, report.problems
        assert (report.events, report.streams) == (4, 2)

    # -- bad input -----------------------------------------------------------------

    @pytest.mark.parametrize("bad", ["3f2a", 42, None, b"\x00" * 16])
    def test_stream_id_must_be_a_uuid(self, store: EventStore, bad: Any) -> None:
        """A stream id of another type is InvalidStreamId; the store stays usable."""
        with pytest.raises(esf.InvalidStreamId):
            store.append(bad, _notes("a"), expected_version=0)
        with pytest.raises(esf.InvalidStreamId):
            list(store.read_stream(bad))
        sid = uuid4()
        store.append(sid, _notes("ok"), expected_version=0)
        assert [r.event.text for r in store.read_all()] == ["ok"]

    def test_unserializable_payload_is_refused(self, store: EventStore) -> None:
        """A payload that cannot become JSON is a SerializationError; nothing is stored."""
        sid = uuid4()
        with pytest.raises(esf.SerializationError):
            store.append(sid, [Noted("fine"), Unstorable(thing=Opaque())], expected_version=0)
        with pytest.raises(esf.SerializationError):
            store.append(sid, [Counted(n=1)], metadata={"x": Opaque()})
        assert store.stream_version(sid) == 0
        store.append(sid, _notes("after"), expected_version=0)
        assert [r.event.text for r in store.read_all()] == ["after"]

    def test_naive_occurred_at_is_refused(self, store: EventStore) -> None:
        """An occurred_at without a timezone is a SerializationError; nothing is stored."""
        naive = esf.NewEvent(Noted("a"), occurred_at=datetime(2020, 1, 1))
        with pytest.raises(esf.SerializationError):
            store.append(uuid4(), [naive], expected_version=0)
        assert list(store.read_all()) == []

    def test_text_that_is_not_unicode_is_refused(self, store: EventStore) -> None:
        """A lone surrogate in a payload is a SerializationError; the store stays usable."""
        sid = uuid4()
        with pytest.raises(esf.SerializationError):
            store.append(sid, [Noted("ok"), Noted("bad \ud800")], expected_version=0)
        assert store.stream_version(sid) == 0
        store.append(sid, _notes("after"), expected_version=0)
        assert [r.event.text for r in store.read_all()] == ["after"]

    def test_unregistered_event_class_is_refused(self, store: EventStore) -> None:
        """Appending an instance of an undeclared class is a typed error."""

        class NotAnEvent:
            pass

        with pytest.raises(esf.UnknownEventType):
            store.append(uuid4(), [NotAnEvent()], expected_version=0)
        assert list(store.read_all()) == []

    def test_stream_type_cannot_change(self, store: EventStore) -> None:
        """A stream keeps the type it was created with."""
        sid = uuid4()
        store.append(sid, _notes("a"), expected_version=0, stream_type="Doc")
        with pytest.raises(esf.StoreError):
            store.append(sid, _notes("b"), expected_version=1, stream_type="Other")
        assert store.append(sid, _notes("b"), expected_version=1)[0].stream_type == "Doc"

    def test_closed_store_refuses_use(self, store: EventStore) -> None:
        """After close(), every call raises StoreClosed."""
        store.close()
        with pytest.raises(esf.StoreClosed):
            store.append(uuid4(), _notes("a"))
        with pytest.raises(esf.StoreClosed):
            list(store.read_all())
        with pytest.raises(esf.StoreClosed):
            store.stream_version(uuid4())

    def test_stream_ids_are_uuids_on_read(self, store: EventStore) -> None:
        """Records carry stream and event ids as UUID objects."""
        sid = uuid4()
        store.append(sid, _notes("a"), expected_version=0)
        (rec,) = store.read_all()
        assert isinstance(rec.stream_id, UUID)
        assert isinstance(rec.event_id, UUID)
