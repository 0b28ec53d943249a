"""The audit trail: metadata everywhere, verify, seals and export."""

from __future__ import annotations

import csv
import io
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import attrs
import pytest

import esframework as esf
from esframework import audit
from esframework.adapters.base import EventStore
from esframework.export import CSV_COLUMNS, export_events
from esframework.testing import FakeClock
from esframework.testing.contract import Noted


@esf.event(name="audit.Logged")
class AuLogged:
    entry: str


@esf.command(target="id")
class AuStart:
    id: UUID


@esf.command(target="id")
class AuLog:
    id: UUID
    entry: str


@esf.aggregate
class AuDiary(esf.Aggregate):
    entries: tuple[str, ...] = ()

    @esf.handles(AuStart, create=True)
    def start(self, cmd: AuStart) -> None:
        self.record(AuLogged(entry="start"))

    @esf.handles
    def log(self, cmd: AuLog) -> None:
        self.record(AuLogged(entry=cmd.entry))

    @esf.applies
    def _logged(self, e: AuLogged) -> None:
        self.entries = (*self.entries, e.entry)


def _diary(store: EventStore, **kw: Any) -> tuple[esf.Application, UUID]:
    app = esf.Application(store, aggregates=[AuDiary], **kw)
    did = uuid4()
    app.handle(AuStart(did), user_id="setup")
    return app, did


# -- metadata --------------------------------------------------------------------------


def test_context_block_sets_metadata_and_explicit_arguments_win(store: EventStore) -> None:
    """esf.context(...) attributes every event in the block; handle() arguments win."""
    app, did = _diary(store)
    with esf.context(user_id="ann", tenant_id="acme", site="berlin"):
        app.handle(AuLog(did, "a"))
        app.handle(AuLog(did, "b"), user_id="bob")
        with esf.context(site="paris"):
            app.handle(AuLog(did, "c"))
    app.handle(AuLog(did, "d"))
    metas = [r.metadata for r in store.read_stream(did, from_version=2)]
    assert [(m["user_id"], m.get("tenant_id"), m.get("site")) for m in metas] == [
        ("ann", "acme", "berlin"),
        ("bob", "acme", "berlin"),
        ("ann", "acme", "paris"),
        (None, None, None),
    ]


def test_each_command_is_its_own_cause_and_conversation(store: EventStore) -> None:
    """causation_id = the command id; correlation_id defaults to it or is given."""
    app, did = _diary(store)
    first = app.handle(AuLog(did, "a"))
    corr = uuid4()
    second = app.handle(AuLog(did, "b"), correlation_id=corr)
    m1, m2 = first.events[0].metadata, second.events[0].metadata
    assert m1["causation_id"] == m1["correlation_id"] == str(first.command_id)
    assert m2["causation_id"] == str(second.command_id)
    assert m2["correlation_id"] == str(corr)


def test_reacting_to_an_event_carries_its_cause_and_conversation(store: EventStore) -> None:
    """Events recorded in reaction to a stored event are caused by it, in its conversation."""
    app, did = _diary(store)
    trigger = app.handle(AuLog(did, "order placed"), correlation_id="conv-1").events[0]
    with esf.reacting_to(trigger):
        reaction = app.handle(AuLog(did, "invoice sent")).events[0]
    assert reaction.causation_id == str(trigger.event_id)
    assert reaction.correlation_id == "conv-1"
    assert reaction.metadata["command_id"] != reaction.causation_id


def test_context_is_per_thread(store: EventStore) -> None:
    """A context block in one thread does not attribute another thread's events."""
    app, did = _diary(store)
    started, release = threading.Event(), threading.Event()

    def other() -> None:
        started.wait()
        app.handle(AuLog(did, "other"))
        release.set()

    thread = threading.Thread(target=other)
    thread.start()
    with esf.context(user_id="ann"):
        started.set()
        release.wait()
    thread.join()
    (rec,) = [r for r in store.read_stream(did) if r.event.entry == "other"]
    assert rec.user_id is None


def test_application_can_require_attribution(store: EventStore) -> None:
    """require_user=True refuses a change without user_id and stores nothing."""
    app, did = _diary(store, require_user=True)
    with pytest.raises(esf.AttributionRequired, match="user_id"):
        app.handle(AuLog(did, "anonymous"))
    with esf.context(user_id="ann"):
        app.handle(AuLog(did, "signed"))
    assert [r.event.entry for r in store.read_stream(did)] == ["start", "signed"]


def test_store_can_require_attribution() -> None:
    """A store opened with require_user=True refuses events without user_id."""
    store = esf.connect("memory://", require_user=True)
    with pytest.raises(esf.AttributionRequired):
        store.append(uuid4(), [Noted("x")])
    sid = uuid4()
    store.append(sid, [Noted("x")], metadata={"user_id": "ann"})
    assert store.stream_version(sid) == 1


# -- verify ----------------------------------------------------------------------------


@attrs.define
class _Tampered:
    """A store view over a list of records that a test has tampered with."""

    records: list[esf.RecordedEvent]
    store_id: str

    def read_all(
        self, after: int = 0, limit: int | None = None, types: Any = None
    ) -> Iterator[esf.RecordedEvent]:
        out = [r for r in self.records if r.position > after]
        return iter(out if limit is None else out[:limit])

    def read_stream(self, stream_id: UUID) -> Iterator[esf.RecordedEvent]:
        return iter(
            sorted((r for r in self.records if r.stream_id == stream_id), key=lambda r: r.version)
        )


def _filled() -> tuple[EventStore, list[UUID]]:
    store = esf.connect("memory://", clock=FakeClock())
    ids = [uuid4(), uuid4()]
    for i in range(3):
        for sid in ids:
            store.append(sid, [Noted(f"{sid.hex[:4]}-{i}")], metadata={"user_id": "u"})
    return store, ids


def _kinds(report: esf.AuditReport) -> set[str]:
    return {p.kind for p in report.problems}


def test_clean_store_verifies() -> None:
    """An untouched store verifies ok, with counts."""
    store, _ = _filled()
    report = audit.verify(store)
    assert report.ok
    assert (report.events, report.streams, report.last_position) == (6, 2, 6)
    assert "OK" in str(report)


@pytest.mark.parametrize(
    ("tamper", "kinds"),
    [
        ("payload", {"edited"}),
        ("metadata", {"edited"}),
        ("delete_middle", {"missing", "gap"}),
        ("swap", {"reordered", "missing"}),
        ("forge_chain", {"broken_link"}),
    ],
)
def test_tampering_is_detected(tamper: str, kinds: set[str]) -> None:
    """Each kind of edit to stored events is reported, naming stream, version, position."""
    store, ids = _filled()
    records = list(store.read_all())
    victim = next(i for i, r in enumerate(records) if r.stream_id == ids[0] and r.version == 2)
    rec = records[victim]
    if tamper == "payload":
        records[victim] = attrs.evolve(rec, data={"text": "forged"})
    elif tamper == "metadata":
        records[victim] = attrs.evolve(rec, metadata={"user_id": "mallory"})
    elif tamper == "delete_middle":
        del records[victim]
    elif tamper == "swap":
        nxt = next(i for i, r in enumerate(records) if r.stream_id == ids[0] and r.version == 3)
        records[victim] = attrs.evolve(records[victim], position=records[nxt].position)
        records[nxt] = attrs.evolve(records[nxt], position=rec.position)
        records.sort(key=lambda r: r.position)
    elif tamper == "forge_chain":
        # A whole forged event, hashed correctly but not linked to its predecessor.
        forged = attrs.evolve(rec, prev_hash="f" * 64, data={"text": "forged"})
        records[victim] = attrs.evolve(forged, hash=audit.record_hash(forged))
    report = audit.verify(_Tampered(records, str(store.store_id)))
    assert not report.ok
    assert kinds <= _kinds(report)
    problem = next(p for p in report.problems if p.kind in kinds - {"gap"})
    assert problem.stream_id == ids[0]
    assert problem.position is not None


def test_unknown_event_type_is_reported() -> None:
    """A stored type no class is registered for is reported once per type."""
    elsewhere = esf.Registry()

    @esf.event(name="nobody.Knows", registry=elsewhere)
    class Stranger:
        n: int

    store = esf.connect("memory://", codec=esf.EventCodec(elsewhere))
    store.append(uuid4(), [Stranger(1), Stranger(2)])
    report = audit.verify(store, registry=esf.default_registry)
    assert [p.kind for p in report.problems] == ["unknown_type"]
    assert "nobody.Knows" in report.problems[0].detail
    assert audit.verify(store).ok  # by its own registry it is known


def test_truncation_passes_without_a_seal_and_fails_with_one() -> None:
    """Deleting a stream's newest events or a whole stream is caught only by a seal."""
    store, ids = _filled()
    the_seal = store.seal()
    records = list(store.read_all())
    tail_cut = [r for r in records if r.position != 6]
    assert audit.verify(_Tampered(tail_cut, str(store.store_id))).ok
    report = audit.verify(_Tampered(tail_cut, str(store.store_id)), against=the_seal)
    assert "truncated" in _kinds(report)
    one_stream = [r for r in records if r.stream_id == ids[0]]
    renumbered = [attrs.evolve(r, position=i) for i, r in enumerate(one_stream, start=1)]
    assert audit.verify(_Tampered(renumbered, str(store.store_id))).ok
    report = audit.verify(_Tampered(renumbered, str(store.store_id)), against=the_seal)
    assert "truncated" in _kinds(report)


def test_store_that_grew_since_the_seal_still_verifies() -> None:
    """Appends after a seal are fine: the seal covers the store up to its position."""
    store, ids = _filled()
    the_seal = store.seal(hmac_key=b"k")
    store.append(ids[0], [Noted("later")])
    store.append(uuid4(), [Noted("new stream")])
    report = store.verify(against=the_seal, hmac_key=b"k")
    assert report.ok, report.problems
    assert report.sealed


def test_seal_from_another_store_is_reported() -> None:
    """A seal made on another store never passes."""
    store, _ = _filled()
    other, _ = _filled()
    report = store.verify(against=other.seal())
    assert [p.kind for p in report.problems] == ["seal"]
    assert "store" in report.problems[0].detail


def test_wrong_key_forged_or_unsigned_check_of_a_signed_seal_fails() -> None:
    """A wrong HMAC key, a forged digest, or a signed seal checked without key: reported."""
    store, _ = _filled()
    signed = store.seal(hmac_key=b"right")
    assert store.verify(against=signed, hmac_key=b"right").ok
    assert "seal" in _kinds(store.verify(against=signed, hmac_key=b"wrong"))
    assert "seal" in _kinds(store.verify(against=signed))
    forged = attrs.evolve(signed, events=signed.events - 1)
    kinds = _kinds(store.verify(against=forged, hmac_key=b"right"))
    assert "seal" in kinds


def test_seal_round_trips_through_json(tmp_path: Any) -> None:
    """A seal saved to a file reads back equal."""
    store, _ = _filled()
    the_seal = store.seal(hmac_key=b"k")
    path = tmp_path / "seal.json"
    the_seal.save(path)
    assert esf.Seal.load(path) == the_seal
    assert json.loads(path.read_text())["format"] == "esframework-seal/1"


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        '{"format": "something-else"}',
        '{"format": "esframework-seal/1", "store_id": "x"}',
        '{"format": "esframework-seal/1", "store_id": "x", "position": -1, "streams": 0, '
        '"events": 0, "digest": "' + "0" * 64 + '", "sealed_at": "2026-01-01T00:00:00+00:00"}',
        '{"format": "esframework-seal/1", "store_id": "x", "position": 1, "streams": 0, '
        '"events": 0, "digest": "xyz", "sealed_at": "2026-01-01T00:00:00+00:00"}',
    ],
)
def test_malformed_seal_is_a_typed_error(text: str) -> None:
    """Anything that is not a well-formed seal raises InvalidSeal."""
    with pytest.raises(esf.InvalidSeal):
        esf.Seal.from_json(text)


def test_verify_reports_progress_and_can_check_chosen_streams() -> None:
    """verify calls the progress callback with counts, and streams= limits the walk."""
    store, ids = _filled()
    seen: list[int] = []
    report = store.verify(progress=seen.append)
    assert seen[-1] == report.events == 6
    assert store.verify(streams=[ids[1]]).events == 3


def test_seal_reports_progress() -> None:
    """seal calls the progress callback with the count of events read, ending with all."""
    store, _ = _filled()
    seen: list[int] = []
    sealed = audit.seal(store, progress=seen.append)
    assert seen[-1] == sealed.events == 6


# -- export ----------------------------------------------------------------------------


def test_export_jsonl_has_every_envelope_field(store: EventStore) -> None:
    """JSON lines export: one object per event with payload, metadata and hashes."""
    app, did = _diary(store)
    app.handle(AuLog(did, "x"), user_id="ann")
    out = io.StringIO()
    assert export_events(store, out) == 2
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["data"] for r in rows] == [{"entry": "start"}, {"entry": "x"}]
    assert rows[1]["metadata"]["user_id"] == "ann"
    assert rows[1]["prev_hash"] == rows[0]["hash"]
    assert set(rows[0]) == {
        "position", "stream_id", "stream_type", "version", "event_id", "event_type",
        "schema_version", "occurred_at", "recorded_at", "metadata", "data", "prev_hash",
        "hash",
    }  # fmt: skip


def test_export_csv_flattens_metadata(store: EventStore) -> None:
    """CSV export has a column per standard metadata key and JSON for the rest."""
    app, did = _diary(store)
    with esf.context(tenant_id="acme", site="x"):
        app.handle(AuLog(did, "y"), user_id="ann")
    out = io.StringIO()
    export_events(store, out, format="csv")
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert (rows[1]["user_id"], rows[1]["tenant_id"]) == ("ann", "acme")
    assert json.loads(rows[1]["metadata"])["site"] == "x"
    assert json.loads(rows[1]["data"]) == {"entry": "y"}


def test_export_filters_by_stream_type_and_time() -> None:
    """--stream, --type, --since and --until select what is exported."""
    clock = FakeClock(datetime(2026, 1, 1, tzinfo=UTC))
    store = esf.connect("memory://", clock=clock)
    a, b = uuid4(), uuid4()
    store.append(a, [Noted("a1")])
    clock.advance(days=1)
    store.append(b, [AuLogged(entry="b1")])
    clock.advance(days=1)
    store.append(a, [Noted("a2")])

    def exported(**kw: Any) -> list[str]:
        out = io.StringIO()
        export_events(store, out, **kw)
        return [json.loads(x)["data"].get("text") or "b1" for x in out.getvalue().splitlines()]

    assert exported(stream=a) == ["a1", "a2"]
    assert exported(types=["audit.Logged"]) == ["b1"]
    assert exported(since=datetime(2026, 1, 2, tzinfo=UTC)) == ["b1", "a2"]
    assert exported(until=datetime(2026, 1, 2, tzinfo=UTC)) == ["a1"]
    with pytest.raises(esf.DefinitionError):
        exported(format="xml")
