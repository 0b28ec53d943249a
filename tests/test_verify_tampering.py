"""The hash chain: verify finds every edit, gap and reordering in the stored record."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID, uuid4

import attrs
import pytest

import esframework as esf
from esframework.audit import GENESIS_HASH, record_hash, verify_records


@esf.event
class AuditNoted:
    text: str


@pytest.fixture
def records() -> tuple[UUID, UUID, list[esf.RecordedEvent]]:
    """Two streams, a (3 events) and b (1 event), as read back in position order."""
    store = esf.connect("memory://")
    a, b = uuid4(), uuid4()
    store.append(a, [AuditNoted("a1"), AuditNoted("a2")], expected_version=0, stream_type="T")
    store.append(b, [AuditNoted("b1")], expected_version=0, metadata={"user_id": "ann"})
    store.append(a, [AuditNoted("a3")], expected_version=2)
    return a, b, list(store.read_all())


def _kinds(report: esf.AuditReport) -> set[tuple[str, UUID | None, int | None]]:
    return {(p.kind, p.stream_id, p.version) for p in report.problems}


def test_untouched_record_verifies(records):
    """The events as stored verify, with the counts of events and streams."""
    _, _, recs = records
    report = verify_records(recs)
    assert report.ok
    assert (report.events, report.streams) == (4, 2)


def test_each_stream_chains_from_genesis(records):
    """The first event of a stream links to the genesis hash, the others to their parent."""
    a, _, recs = records
    stream = [r for r in recs if r.stream_id == a]
    assert stream[0].prev_hash == GENESIS_HASH
    assert [r.prev_hash for r in stream[1:]] == [r.hash for r in stream[:-1]]
    assert all(r.hash == record_hash(r) for r in recs)


@pytest.mark.parametrize(
    "change",
    [
        {"data": {"text": "forged"}},
        {"metadata": {"user_id": "mallory"}},
        {"event_type": "SomethingElse"},
        {"schema_version": 2},
        {"stream_type": "Other"},
        {"event_id": UUID(int=1)},
    ],
    ids=["payload", "metadata", "type", "schema", "stream-type", "event-id"],
)
def test_an_edited_event_is_reported_as_edited(records, change):
    """Changing any hashed field of a stored event is an 'edited' problem at that event."""
    a, _, recs = records
    recs[1] = attrs.evolve(recs[1], **change)
    report = verify_records(recs)
    assert not report.ok
    assert _kinds(report) == {("edited", a, 2)}


def test_occurred_at_is_covered_by_the_hash(records):
    """Backdating when an event occurred is an edit."""
    a, _, recs = records
    recs[0] = attrs.evolve(recs[0], occurred_at=recs[0].occurred_at - timedelta(days=1))
    assert _kinds(verify_records(recs)) == {("edited", a, 1)}


def test_an_edit_with_a_recomputed_hash_breaks_the_next_link(records):
    """Rewriting an event and its hash still shows: the next event no longer links to it."""
    a, _, recs = records
    forged = attrs.evolve(recs[1], data={"text": "forged"})
    recs[1] = attrs.evolve(forged, hash=record_hash(forged))
    report = verify_records(recs)
    assert ("broken_link", a, 3) in _kinds(report)
    assert ("edited", a, 2) not in _kinds(report)


def test_a_deleted_event_is_reported_as_missing(records):
    """Removing an event from a stream is a 'missing' problem at the version after it."""
    a, _, recs = records
    del recs[1]
    assert ("missing", a, 3) in _kinds(verify_records(recs))


def test_swapped_events_are_reported_as_reordered():
    """Two events of a stream in the wrong order are reported as reordered."""
    a = uuid4()
    store = esf.connect("memory://")
    store.append(a, [AuditNoted("1"), AuditNoted("2"), AuditNoted("3")], expected_version=0)
    first, second, third = store.read_stream(a)
    report = verify_records([first, third, second])
    assert ("reordered", a, 2) in _kinds(report)
    assert any(p.kind == "position" for p in report.problems)


def test_a_position_out_of_order_is_reported(records):
    """Global positions must strictly increase."""
    _, _, recs = records
    recs[3] = attrs.evolve(recs[3], position=recs[2].position)
    report = verify_records(recs)
    assert [p.kind for p in report.problems] == ["position"]
    assert str(recs[2].position) in report.problems[0].detail


def test_store_assigned_fields_stay_outside_the_hash(records):
    """An event copied to another store (new positions and times) keeps its hash."""
    _, _, recs = records
    # Another store interleaves other streams differently: the same events get other
    # positions (still a gap-free 1..n there) and other commit times.
    reordered = sorted(recs, key=lambda r: (r.version, -r.position))
    copied = [
        attrs.evolve(r, position=i, recorded_at=r.recorded_at + timedelta(hours=1))
        for i, r in enumerate(reordered, start=1)
    ]
    assert [r.position for r in copied] != [r.position for r in reordered]
    assert verify_records(copied).ok


def test_progress_is_reported(records):
    """verify reports the number of events walked to a progress callback."""
    _, _, recs = records
    seen: list[int] = []
    verify_records(recs, progress=seen.append)
    assert seen[-1] == 4


def test_app_verify_walks_the_whole_store():
    """app.verify() reads every event of the store and reports on all of them."""
    app = esf.Application(esf.connect("memory://"))
    for n in range(3):
        app.store.append(uuid4(), [AuditNoted(str(n))], expected_version=0)
    seen: list[int] = []
    report = app.verify(progress=seen.append)
    assert report.ok
    assert (report.events, report.streams, seen[-1]) == (3, 3, 3)
