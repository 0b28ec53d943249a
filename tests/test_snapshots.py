"""Snapshots and time travel: loads that skip replay, and state at a version or a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import esframework as esf
from esframework.adapters.base import EventStore, SnapshotStore
from esframework.snapshots import fingerprint
from esframework.testing import FakeClock


@esf.event(name="snap.Opened")
class SnOpened:
    owner: str


@esf.event(name="snap.Moved")
class SnMoved:
    amount: int


@esf.command(target="id")
class SnOpen:
    id: UUID
    owner: str


@esf.command(target="id")
class SnMove:
    id: UUID
    amounts: tuple[int, ...]


@esf.aggregate(snapshot_every=5)
class SnAccount(esf.Aggregate):
    owner: str = ""
    balance: int = 0
    moves: list[int] = attrs.field(factory=list)

    @esf.handles(SnOpen, create=True)
    def open(self, cmd: SnOpen) -> None:
        self.record(SnOpened(owner=cmd.owner))

    @esf.handles
    def move(self, cmd: SnMove) -> None:
        for amount in cmd.amounts:
            self.record(SnMoved(amount=amount))

    @esf.applies
    def _opened(self, e: SnOpened) -> None:
        self.owner = e.owner

    @esf.applies
    def _moved(self, e: SnMoved) -> None:
        self.balance += e.amount
        self.moves.append(e.amount)


def _open(app: esf.Application, owner: str = "ann") -> UUID:
    aid = uuid4()
    app.handle(SnOpen(aid, owner))
    return aid


def _snapshots(store: EventStore) -> SnapshotStore:
    assert isinstance(store, SnapshotStore)
    return store


def test_snapshot_every_takes_one_when_a_save_crosses_a_multiple(store: EventStore) -> None:
    """snapshot_every=5: saving versions 4 -> 7 crosses 5 and snapshots version 7."""
    app = esf.Application(store, aggregates=[SnAccount])
    aid = _open(app)
    app.handle(SnMove(aid, (1, 2)))
    assert _snapshots(store).load_snapshot(aid) is None
    app.handle(SnMove(aid, (3, 4, 5, 6)))
    snap = _snapshots(store).load_snapshot(aid)
    assert snap is not None
    assert snap.version == 7
    assert snap.aggregate_type == "SnAccount"
    assert snap.state == {"owner": "ann", "balance": 21, "moves": [1, 2, 3, 4, 5, 6]}


def test_load_uses_the_snapshot_then_newer_events(store: EventStore) -> None:
    """A load starts from the newest snapshot and replays only the events after it."""
    app = esf.Application(store, aggregates=[SnAccount])
    aid = _open(app)
    app.handle(SnMove(aid, (1, 2, 3, 4, 5)))
    snap = _snapshots(store).load_snapshot(aid)
    assert snap is not None
    # A snapshot with a telling owner proves the load read it instead of replaying.
    _snapshots(store).save_snapshot(attrs.evolve(snap, state={**snap.state, "owner": "snap"}))
    app.handle(SnMove(aid, (10,)))
    loaded = app.load(SnAccount, aid)
    assert (loaded.owner, loaded.balance, loaded.version) == ("snap", 25, 7)
    replayed = app.repository.load(SnAccount, aid, use_snapshots=False)
    assert (replayed.owner, replayed.balance) == ("ann", 25)


def test_snapshot_of_another_class_shape_is_ignored(store: EventStore) -> None:
    """A snapshot whose fingerprint does not match the class is ignored, not misread."""
    app = esf.Application(store, aggregates=[SnAccount])
    aid = _open(app)
    app.handle(SnMove(aid, (1, 2)))
    _snapshots(store).save_snapshot(
        esf.Snapshot(
            stream_id=aid,
            version=3,
            aggregate_type="SnAccount",
            fingerprint="an older shape",
            state={"owner": "x", "balance": "not even a number"},
            taken_at=datetime.now(UTC),
        )
    )
    loaded = app.load(SnAccount, aid)
    assert (loaded.owner, loaded.balance, loaded.moves) == ("ann", 3, [1, 2])


def test_fingerprint_changes_with_fields_and_event_versions() -> None:
    """The fingerprint covers field names/types and the applied events' versions."""

    @esf.aggregate
    class SnOther(esf.Aggregate):
        owner: str = ""
        balance: str = "0"

        @esf.applies
        def _opened(self, e: SnOpened) -> None:
            self.owner = e.owner

    assert fingerprint(SnOther) != fingerprint(SnAccount)
    assert fingerprint(SnAccount) == fingerprint(SnAccount)


def test_snapshot_on_demand(store: EventStore) -> None:
    """app.snapshot() takes one now, whatever snapshot_every says."""
    app = esf.Application(store, aggregates=[SnAccount])
    aid = _open(app)
    app.handle(SnMove(aid, (4,)))
    assert app.snapshot(SnAccount, aid) == 2
    snap = _snapshots(store).load_snapshot(aid)
    assert snap is not None
    assert snap.version == 2


def test_at_version_uses_a_snapshot_at_or_below_it(store: EventStore) -> None:
    """A past version loads from a snapshot no newer than it, never a later one."""
    app = esf.Application(store, aggregates=[SnAccount])
    aid = _open(app)
    app.handle(SnMove(aid, tuple(range(1, 12))))  # versions 2..12, snapshot at 12
    app.snapshot(SnAccount, aid)
    past = app.load(SnAccount, aid, at_version=4)
    assert (past.version, past.balance, past.moves) == (4, 6, [1, 2, 3])


def test_at_version_beyond_the_stream_is_not_found(store: EventStore) -> None:
    """Asking for a version the stream has not reached is AggregateNotFound."""
    app = esf.Application(store, aggregates=[SnAccount])
    aid = _open(app)
    with pytest.raises(esf.AggregateNotFound, match="no version 9"):
        app.load(SnAccount, aid, at_version=9)


def test_at_time_loads_the_state_recorded_then() -> None:
    """at_time returns the state as recorded at that moment (by recorded_at)."""
    clock = FakeClock(datetime(2026, 5, 1, tzinfo=UTC))
    app = esf.Application(esf.connect("memory://", clock=clock), aggregates=[SnAccount])
    aid = _open(app)
    clock.advance(hours=1)
    app.handle(SnMove(aid, (5,)))
    clock.advance(hours=1)
    app.handle(SnMove(aid, (7,)))
    at = app.load(SnAccount, aid, at_time=datetime(2026, 5, 1, 1, 30, tzinfo=UTC))
    assert (at.version, at.balance) == (2, 5)
    assert app.load(SnAccount, aid, at_time=clock.now()).balance == 12
    with pytest.raises(esf.AggregateNotFound, match="did not exist"):
        app.load(SnAccount, aid, at_time=datetime(2026, 4, 30, tzinfo=UTC))


def test_at_time_must_be_timezone_aware(store: EventStore) -> None:
    """A naive at_time is refused: stored times are aware."""
    app = esf.Application(store, aggregates=[SnAccount])
    aid = _open(app)
    with pytest.raises(esf.DefinitionError, match="timezone-aware"):
        app.load(SnAccount, aid, at_time=datetime(2026, 1, 1) + timedelta(days=1))


def test_history_yields_each_event_with_the_state_after_it(store: EventStore) -> None:
    """app.history pairs every stored event with the state right after it."""
    app = esf.Application(store, aggregates=[SnAccount])
    aid = _open(app)
    app.handle(SnMove(aid, (5, -2)))
    steps = list(app.history(SnAccount, aid))
    assert [type(r.event).__name__ for r, _ in steps] == ["SnOpened", "SnMoved", "SnMoved"]
    assert [s.balance for _, s in steps] == [0, 5, 3]
    assert [s.version for _, s in steps] == [1, 2, 3]


@settings(max_examples=30, deadline=None)
@given(
    batches=st.lists(st.lists(st.integers(-50, 50), min_size=1, max_size=7), max_size=8),
    every=st.integers(1, 6),
    probe=st.integers(1, 60),
)
def test_loading_with_snapshots_equals_loading_without(
    batches: list[list[int]], every: int, probe: int
) -> None:
    """For random histories, a snapshot-assisted load equals a full replay, now and past."""

    @esf.aggregate(snapshot_every=every)
    class SnProp(SnAccount):
        pass

    app = esf.Application(esf.connect("memory://"), aggregates=[SnProp])
    aid = uuid4()
    app.handle(SnOpen(aid, "p"))
    for batch in batches:
        app.handle(SnMove(aid, tuple(batch)))
    version = app.store.stream_version(aid)
    assert app.load(SnProp, aid) == app.repository.load(SnProp, aid, use_snapshots=False)
    at = min(probe, version)
    assert app.load(SnProp, aid, at_version=at) == app.repository.load(
        SnProp, aid, at_version=at, use_snapshots=False
    )
