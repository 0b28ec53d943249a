"""Conflict strategies: what happens when a second writer appends between load and save."""

from __future__ import annotations

from typing import Any, ClassVar
from uuid import UUID, uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import esframework as esf
from esframework.adapters.base import EventStore

# A second writer interferes from inside the first writer's handler, on its first run
# only: a deterministic "load, then someone else appends, then save".
_interfered: set[UUID] = set()


@esf.event(name="cf.Added")
class CfAdded:
    n: int


@esf.event(name="cf.Tagged")
class CfTagged:
    tag: str


@esf.command(target="id")
class CfCreate:
    id: UUID


@esf.command(target="id")
class CfAdd:
    id: UUID
    n: int
    interfere: int | None = None
    token: UUID | None = None


@esf.command(target="id")
class CfTag:
    id: UUID
    tag: str
    interfere: int | None = None
    token: UUID | None = None


@esf.aggregate
class CfCounter(esf.Aggregate):
    total: int = 0
    tags: tuple[str, ...] = ()

    app: ClassVar[Any] = None

    @esf.handles(CfCreate, create=True)
    def create(self, cmd: CfCreate) -> None:
        self.record(CfAdded(n=0))

    def _interfere(self, amount: int | None, token: UUID | None) -> None:
        if amount is not None and token is not None and token not in _interfered:
            _interfered.add(token)
            type(self).app.handle(CfAdd(self.id, amount))

    @esf.handles
    def add(self, cmd: CfAdd) -> None:
        self._interfere(cmd.interfere, cmd.token)
        self.record(CfAdded(n=cmd.n))

    @esf.handles
    def tag(self, cmd: CfTag) -> None:
        self._interfere(cmd.interfere, cmd.token)
        self.record(CfTagged(tag=cmd.tag))

    @esf.applies
    def _added(self, e: CfAdded) -> None:
        self.total += e.n

    @esf.applies
    def _tagged(self, e: CfTagged) -> None:
        self.tags = (*self.tags, e.tag)


def _app(store: EventStore, strategy: Any, **kw: Any) -> esf.Application:
    app = esf.Application(store, aggregates=[CfCounter], conflicts=strategy, **kw)
    CfCounter.app = app
    return app


def _new(app: esf.Application) -> UUID:
    cid = uuid4()
    app.handle(CfCreate(cid))
    return cid


def _types(store: EventStore, cid: UUID) -> list[str]:
    return [r.event_type for r in store.read_stream(cid)]


def _assert_replay_consistent(app: esf.Application, cid: UUID) -> None:
    stored = list(app.store.read_stream(cid))
    assert [r.version for r in stored] == list(range(1, len(stored) + 1))
    expected_total = sum(r.event.n for r in stored if r.event_type == "cf.Added")
    assert app.load(CfCounter, cid).total == expected_total


def test_reject_raises_and_keeps_only_their_events(store: EventStore) -> None:
    """Reject(): the late writer gets ConcurrencyError; the first writer's event stays."""
    app = _app(store, esf.Reject())
    cid = _new(app)
    with pytest.raises(esf.ConcurrencyError) as info:
        app.handle(CfAdd(cid, 5, interfere=7, token=uuid4()))
    assert (info.value.expected, info.value.actual) == (1, 2)
    assert app.load(CfCounter, cid).total == 7
    assert _types(store, cid) == ["cf.Added", "cf.Added"]


def test_retry_runs_the_command_again_and_records_why(store: EventStore) -> None:
    """RetryCommand(): the command reruns on the new state; ConflictResolved says so."""
    app = _app(store, esf.RetryCommand(attempts=3, backoff=0))
    cid = _new(app)
    result = app.handle(CfAdd(cid, 5, interfere=7, token=uuid4()))
    assert app.load(CfCounter, cid).total == 12
    assert _types(store, cid) == ["cf.Added", "cf.Added", "esf.ConflictResolved", "cf.Added"]
    note = result.events[0].event
    assert isinstance(note, esf.ConflictResolved)
    assert (note.strategy, note.outcome) == ("RetryCommand", "retried")
    assert (note.expected_version, note.actual_version) == (1, 2)
    (theirs,) = store.read_stream(cid, 2, 2)
    assert note.concurrent_event_ids == (theirs.event_id,)
    assert result.version == 4


def test_retry_gives_up_after_its_attempts(store: EventStore) -> None:
    """RetryCommand(attempts=1) runs once and then rejects."""
    app = _app(store, esf.RetryCommand(attempts=1))
    cid = _new(app)
    with pytest.raises(esf.ConcurrencyError):
        app.handle(CfAdd(cid, 5, interfere=7, token=uuid4()))
    assert app.load(CfCounter, cid).total == 7


def test_last_write_wins_appends_after_theirs(store: EventStore) -> None:
    """LastWriteWins(): our events follow theirs as they are, after a ConflictResolved."""
    app = _app(store, esf.LastWriteWins())
    cid = _new(app)
    result = app.handle(CfAdd(cid, 5, interfere=7, token=uuid4()), user_id="u9")
    assert _types(store, cid) == ["cf.Added", "cf.Added", "esf.ConflictResolved", "cf.Added"]
    assert result.version == 4
    assert [r.version for r in result.events] == [3, 4]
    note = result.events[0].event
    assert (note.strategy, note.outcome) == ("LastWriteWins", "appended")
    assert result.events[1].user_id == "u9"
    _assert_replay_consistent(app, cid)


def test_merge_accepts_events_that_do_not_clash(store: EventStore) -> None:
    """Merge(): a Tagged of ours against an Added of theirs is appended."""
    app = _app(store, esf.Merge())
    cid = _new(app)
    app.handle(CfTag(cid, "vip", interfere=3, token=uuid4()))
    assert _types(store, cid)[-2:] == ["esf.ConflictResolved", "cf.Tagged"]
    state = app.load(CfCounter, cid)
    assert (state.total, state.tags) == (3, ("vip",))


def test_merge_rejects_events_of_the_same_type(store: EventStore) -> None:
    """Merge(): by default two events of one type clash, and the write is rejected."""
    app = _app(store, esf.Merge())
    cid = _new(app)
    with pytest.raises(esf.ConcurrencyError):
        app.handle(CfAdd(cid, 5, interfere=7, token=uuid4()))
    assert _types(store, cid) == ["cf.Added", "cf.Added"]


def test_merge_takes_a_custom_clash_rule(store: EventStore) -> None:
    """Merge(clash=fn) decides with fn(ours, theirs)."""
    seen: list[tuple[object, object]] = []

    def never(ours: object, theirs: object) -> bool:
        seen.append((ours, theirs))
        return False

    app = _app(store, esf.Merge(clash=never))
    cid = _new(app)
    app.handle(CfAdd(cid, 5, interfere=7, token=uuid4()))
    assert seen == [(CfAdded(n=5), CfAdded(n=7))]
    assert app.load(CfCounter, cid).total == 12


def test_manual_parks_then_accept_appends(store: EventStore) -> None:
    """Manual(): our events wait in app.conflicts(); accepting appends them, attributed."""
    notified: list[esf.OpenConflict] = []
    app = _app(store, esf.Manual(), on_conflict=notified.append)
    cid = _new(app)
    result = app.handle(CfAdd(cid, 5, interfere=7, token=uuid4()), user_id="ann")
    assert result.conflict_id is not None
    assert result.events == ()
    assert app.load(CfCounter, cid).total == 7
    (open_,) = app.conflicts()
    assert notified == [open_]
    assert open_.id == result.conflict_id
    assert open_.stream_id == cid
    assert open_.ours == (CfAdded(n=5),)
    assert [r.event for r in open_.theirs] == [CfAdded(n=7)]
    assert open_.user_id == "ann"
    settled = app.resolve(open_.id, accept=True, user_id="supervisor")
    assert app.conflicts() == []
    assert app.load(CfCounter, cid).total == 12
    note = settled.events[0].event
    assert (note.outcome, note.decided_by, note.conflict_id) == (
        "accepted",
        "supervisor",
        open_.id,
    )
    assert settled.events[0].user_id == "supervisor"
    _assert_replay_consistent(app, cid)


def test_manual_discard_keeps_the_events_in_the_record(store: EventStore) -> None:
    """Discarding a parked conflict stores the discarded payloads in ConflictResolved."""
    app = _app(store, esf.Manual())
    cid = _new(app)
    result = app.handle(CfAdd(cid, 5, interfere=7, token=uuid4()))
    assert result.conflict_id is not None
    settled = app.resolve(result.conflict_id, accept=False, user_id="sup")
    assert app.load(CfCounter, cid).total == 7
    note = settled.events[0].event
    assert note.outcome == "discarded"
    assert [dict(d)["data"] for d in note.discarded] == [{"n": 5}]
    assert _types(store, cid)[-1] == "esf.ConflictResolved"


def test_resolve_unknown_or_settled_conflict_is_an_error(store: EventStore) -> None:
    """resolve() on an unknown or already-resolved conflict raises ConflictNotFound."""
    app = _app(store, esf.Manual())
    cid = _new(app)
    with pytest.raises(esf.ConflictNotFound):
        app.resolve(uuid4(), accept=True)
    result = app.handle(CfAdd(cid, 5, interfere=7, token=uuid4()))
    assert result.conflict_id is not None
    app.resolve(result.conflict_id, accept=False)
    before = store.stream_version(cid)
    with pytest.raises(esf.ConflictNotFound):
        app.resolve(result.conflict_id, accept=True)
    assert store.stream_version(cid) == before


class _Broken:
    def resolve(self, conflict: esf.Conflict) -> object:
        return "append please"


def test_strategy_returning_no_resolution_is_an_error(store: EventStore) -> None:
    """A custom strategy must return a Resolution; anything else stores nothing of ours."""
    app = _app(store, _Broken())
    cid = _new(app)
    with pytest.raises(esf.InvalidResolution, match="Resolution"):
        app.handle(CfAdd(cid, 5, interfere=7, token=uuid4()))
    assert app.load(CfCounter, cid).total == 7


class _AppendIfSmall:
    def resolve(self, conflict: esf.Conflict) -> esf.Resolution:
        if all(e.n < 10 for e in conflict.ours):
            return esf.Resolution.append("small amounts merge")
        return esf.Resolution.reject("too big")


def test_custom_strategy_decides(store: EventStore) -> None:
    """Any object with resolve(conflict) -> Resolution is a strategy."""
    app = _app(store, _AppendIfSmall())
    cid = _new(app)
    app.handle(CfAdd(cid, 5, interfere=7, token=uuid4()))
    with pytest.raises(esf.ConcurrencyError):
        app.handle(CfAdd(cid, 50, interfere=1, token=uuid4()))
    assert app.load(CfCounter, cid).total == 13
    note = next(r.event for r in store.read_stream(cid) if r.event_type == "esf.ConflictResolved")
    assert (note.strategy, note.reason) == ("_AppendIfSmall", "small amounts merge")


def test_object_without_resolve_is_refused_at_build(store: EventStore) -> None:
    """An object that is not a strategy is refused when the application is built."""
    with pytest.raises(esf.DefinitionError, match="resolve"):
        esf.Application(store, aggregates=[CfCounter], conflicts=object())  # type: ignore[arg-type]


def test_aggregate_strategy_overrides_the_application_default(store: EventStore) -> None:
    """@esf.aggregate(conflicts=...) wins over Application(conflicts=...)."""

    @esf.aggregate(conflicts=esf.LastWriteWins())
    class CfStrict(CfCounter):
        pass

    app = esf.Application(store, aggregates=[CfStrict], conflicts=esf.Reject())
    CfCounter.app = app
    cid = uuid4()
    app.handle(CfCreate(cid))
    app.handle(CfAdd(cid, 5, interfere=7, token=uuid4()))
    assert app.load(CfStrict, cid).total == 12


def test_unit_of_work_function_is_rerun_on_conflict(store: EventStore) -> None:
    """app.unit_of_work(fn) runs fn again under RetryCommand; both writes survive."""
    app = _app(store, esf.RetryCommand(attempts=3, backoff=0))
    cid = _new(app)
    runs: list[int] = []

    def work(uow: esf.UnitOfWork) -> str:
        counter = uow.load(CfCounter, cid)
        if not runs:
            app.handle(CfAdd(cid, 7))
        runs.append(counter.version)
        counter.add(CfAdd(cid, 5))
        return "done"

    assert app.unit_of_work(work) == "done"
    assert runs == [1, 2]
    assert app.load(CfCounter, cid).total == 12


def test_unit_of_work_block_without_function_rejects_a_retry(store: EventStore) -> None:
    """A with-block has nothing to rerun: RetryCommand rejects its conflicting commit."""
    app = _app(store, esf.RetryCommand(attempts=3, backoff=0))
    cid = _new(app)
    uow = app.unit_of_work()
    uow.load(CfCounter, cid).add(CfAdd(cid, 5))
    app.handle(CfAdd(cid, 7))
    with pytest.raises(esf.ConcurrencyError):
        uow.commit()
    assert app.load(CfCounter, cid).total == 7


def test_unit_of_work_honours_appending_strategies(store: EventStore) -> None:
    """A with-block commit under LastWriteWins appends after the concurrent events."""
    app = _app(store, esf.LastWriteWins())
    cid = _new(app)
    with app.unit_of_work() as uow:
        uow.load(CfCounter, cid).add(CfAdd(cid, 5))
        app.handle(CfAdd(cid, 7))
    assert app.load(CfCounter, cid).total == 12
    assert _types(store, cid)[-2:] == ["esf.ConflictResolved", "cf.Added"]


_STRATEGIES = {
    "reject": esf.Reject(),
    "retry": esf.RetryCommand(attempts=3, backoff=0),
    "lww": esf.LastWriteWins(),
    "merge": esf.Merge(),
    "manual": esf.Manual(),
}

_steps = st.lists(
    st.tuples(
        st.sampled_from(["add", "tag"]),
        st.integers(1, 9),
        st.none() | st.integers(1, 9),
        st.booleans(),
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(sorted(_STRATEGIES)), steps=_steps)
def test_random_interleavings_keep_the_invariants(name: str, steps: list[Any]) -> None:
    """Two writers, random interleavings, each strategy: versions contiguous, nothing lost,
    state equals a replay of the stored stream."""
    app = _app(esf.connect("memory://"), _STRATEGIES[name])
    cid = _new(app)
    expected_adds = [0]
    expected_tags: list[str] = []
    for kind, n, interfere, accept in steps:
        cmd: Any = (
            CfAdd(cid, n, interfere=interfere, token=uuid4())
            if kind == "add"
            else CfTag(cid, f"t{n}", interfere=interfere, token=uuid4())
        )
        if interfere is not None:
            expected_adds.append(interfere)  # the other writer always succeeds
        try:
            result = app.handle(cmd)
        except esf.ConcurrencyError:
            assert interfere is not None
            continue
        ours_kept = True
        if result.conflict_id is not None:
            app.resolve(result.conflict_id, accept=accept)
            ours_kept = accept
        if ours_kept:
            if kind == "add":
                expected_adds.append(n)
            else:
                expected_tags.append(f"t{n}")
    stored = list(app.store.read_stream(cid))
    assert [r.version for r in stored] == list(range(1, len(stored) + 1))
    assert sorted(r.event.n for r in stored if r.event_type == "cf.Added") == sorted(expected_adds)
    assert sorted(r.event.tag for r in stored if r.event_type == "cf.Tagged") == sorted(
        expected_tags
    )
    state = app.load(CfCounter, cid)
    assert state.total == sum(expected_adds)
    assert sorted(state.tags) == sorted(expected_tags)
    assert app.verify().ok
    assert app.conflicts() == []


def test_manual_parks_a_one_stream_unit_of_work(store: EventStore) -> None:
    """A with-block writing one stream under Manual() is parked, not rejected."""
    app = _app(store, esf.Manual())
    cid = _new(app)
    with app.unit_of_work(user_id="ann") as uow:
        uow.load(CfCounter, cid).add(CfAdd(cid, 5))
        app.handle(CfAdd(cid, 7))
    assert uow.conflict_id is not None
    assert [c.id for c in app.conflicts()] == [uow.conflict_id]
    assert app.load(CfCounter, cid).total == 7


def test_manual_rejects_a_unit_of_work_across_streams(store: EventStore) -> None:
    """A person cannot accept half of an atomic batch: several streams are rejected."""
    app = _app(store, esf.Manual())
    first, second = _new(app), _new(app)
    uow = app.unit_of_work()
    uow.load(CfCounter, first).add(CfAdd(first, 5))
    uow.load(CfCounter, second).add(CfAdd(second, 5))
    app.handle(CfAdd(first, 7))
    with pytest.raises(esf.ConcurrencyError):
        uow.commit()
    assert app.conflicts() == []
    assert (app.load(CfCounter, first).total, app.load(CfCounter, second).total) == (7, 0)
