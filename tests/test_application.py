"""esf.Application: handle(), load(), unit_of_work(), conflicts and verify()."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import attrs
import pytest

import esframework as esf
from esframework.testing import FakeClock

# -- a bank ------------------------------------------------------------------------------


@esf.event
class AppOpened:
    owner: str


@esf.event
class AppDeposited:
    amount: Decimal


@esf.event
class AppWithdrawn:
    amount: Decimal


@esf.command(target="account_id")
class AppOpen:
    account_id: UUID
    owner: str
    initial: Decimal = Decimal(0)


@esf.command(target="account_id")
class AppDeposit:
    account_id: UUID
    amount: Decimal


@esf.command(target="account_id")
class AppWithdraw:
    account_id: UUID
    amount: Decimal


@esf.command(target="account_id")
class AppTouch:
    """A command whose handler records nothing."""

    account_id: UUID


@esf.command(target="account_id")
class AppRename:
    """A command whose target may be left out."""

    owner: str
    account_id: Any = None


@esf.command(target="account_id")
class AppUnrouted:
    account_id: UUID


class AppInsufficientFunds(esf.DomainError):
    pass


@esf.aggregate
class AppAccount(esf.Aggregate):
    owner: str = ""
    balance: Decimal = Decimal(0)

    @esf.handles(create=True)
    def open(self, cmd: AppOpen) -> None:
        self.record(AppOpened(owner=cmd.owner))
        if cmd.initial:
            self.record(AppDeposited(amount=cmd.initial))

    @esf.handles
    def deposit(self, cmd: AppDeposit) -> None:
        self.record(AppDeposited(amount=cmd.amount))

    @esf.handles
    def withdraw(self, cmd: AppWithdraw) -> None:
        if cmd.amount > self.balance:
            raise AppInsufficientFunds(f"{cmd.amount} is more than {self.balance}")
        self.record(AppWithdrawn(amount=cmd.amount))

    @esf.handles
    def touch(self, cmd: AppTouch) -> None:
        pass

    @esf.handles
    def rename(self, cmd: AppRename) -> None:
        self.record(AppOpened(owner=cmd.owner))

    @esf.applies
    def _opened(self, e: AppOpened) -> None:
        self.owner = e.owner

    @esf.applies
    def _deposited(self, e: AppDeposited) -> None:
        self.balance += e.amount

    @esf.applies
    def _withdrawn(self, e: AppWithdrawn) -> None:
        self.balance -= e.amount


# -- a counter that a rival writer races -------------------------------------------------


@esf.event
class AppCounted:
    by: str


@esf.command(target="counter_id")
class AppStartCounter:
    counter_id: UUID


@esf.command(target="counter_id")
class AppCount:
    counter_id: UUID
    by: str


@attrs.define
class Rival:
    """Appends to the counter's stream behind the handler's back, ``times`` times."""

    store: esf.EventStore | None = None
    times: int = 0
    runs: int = 0


RIVAL = Rival()


@esf.aggregate
class AppCounter(esf.Aggregate):
    counts: tuple[str, ...] = ()

    @esf.handles(create=True)
    def start(self, cmd: AppStartCounter) -> None:
        self.record(AppCounted(by="start"))

    @esf.handles
    def count(self, cmd: AppCount) -> None:
        RIVAL.runs += 1
        if RIVAL.times > 0:
            RIVAL.times -= 1
            assert RIVAL.store is not None
            RIVAL.store.append(self.id, [AppCounted(by="rival")], expected_version=esf.ANY)
        self.record(AppCounted(by=cmd.by))

    @esf.applies
    def _counted(self, e: AppCounted) -> None:
        self.counts += (e.by,)


@esf.aggregate(conflicts=esf.Reject())
class AppRejectingCounter(AppCounter):
    pass


@esf.aggregate(conflicts=esf.RetryCommand(attempts=2, backoff=0))
class AppTwiceCounter(AppCounter):
    pass


@pytest.fixture
def app() -> Iterator[esf.Application]:
    with esf.Application(esf.connect("memory://"), aggregates=[AppAccount]) as application:
        yield application


@pytest.fixture
def rival() -> Iterator[Rival]:
    RIVAL.store, RIVAL.times, RIVAL.runs = None, 0, 0
    yield RIVAL
    RIVAL.store, RIVAL.times, RIVAL.runs = None, 0, 0


def _open(app: esf.Application, initial: Decimal = Decimal(0)) -> UUID:
    account_id = uuid4()
    app.handle(AppOpen(account_id, "ann", initial))
    return account_id


def _counter_app(rival: Rival, cls: type[AppCounter], **options: Any) -> esf.Application:
    application = esf.Application(esf.connect("memory://"), aggregates=[cls], **options)
    rival.store = application.store
    return application


# -- handle() ----------------------------------------------------------------------------


def test_handle_routes_each_command_to_its_aggregate():
    """Commands of different aggregate types reach the handler that declares them."""
    application = esf.Application(esf.connect("memory://"), aggregates=[AppAccount, AppCounter])
    account_id, counter_id = uuid4(), uuid4()
    application.handle(AppOpen(account_id, "ann"))
    application.handle(AppStartCounter(counter_id))
    application.handle(AppCount(counter_id, "me"))
    assert application.load(AppAccount, account_id).owner == "ann"
    assert application.load(AppCounter, counter_id).counts == ("start", "me")


def test_command_result_describes_what_was_stored(app):
    """CommandResult has the aggregate id, new version, stored records and command id."""
    account_id = uuid4()
    result = app.handle(AppOpen(account_id, "ann", Decimal(10)))
    assert result.aggregate_id == account_id
    assert result.version == 2
    assert isinstance(result.command_id, UUID)
    assert all(isinstance(r, esf.RecordedEvent) for r in result.events)
    assert [r.event for r in result.events] == [AppOpened("ann"), AppDeposited(Decimal(10))]
    assert [(r.stream_id, r.version) for r in result.events] == [(account_id, 1), (account_id, 2)]
    assert list(result.events) == list(app.store.read_stream(account_id))

    result = app.handle(AppDeposit(account_id, Decimal(5)))
    assert (result.version, [r.version for r in result.events]) == (3, [3])


def test_command_that_records_nothing_stores_nothing(app):
    """A handler that records no event leaves the stream as it was."""
    account_id = _open(app)
    result = app.handle(AppTouch(account_id))
    assert (result.version, result.events) == (1, ())
    assert app.store.stream_version(account_id) == 1


def test_domain_error_reaches_the_caller_and_stores_nothing(app):
    """A DomainError from a handler is raised as is and no event is stored."""
    account_id = _open(app, Decimal(5))
    before = list(app.store.read_all())
    with pytest.raises(AppInsufficientFunds, match="more than 5"):
        app.handle(AppWithdraw(account_id, Decimal(6)))
    assert list(app.store.read_all()) == before
    assert app.load(AppAccount, account_id).balance == Decimal(5)


def test_non_creation_command_on_a_missing_aggregate(app):
    """A command without create=True for an unknown id is AggregateNotFound."""
    with pytest.raises(esf.AggregateNotFound, match="AppDeposit") as info:
        app.handle(AppDeposit(uuid4(), Decimal(1)))
    assert isinstance(info.value, LookupError)
    assert list(app.store.read_all()) == []


def test_creation_command_on_an_existing_aggregate(app):
    """A create=True command for an id that exists is AggregateAlreadyExists."""
    account_id = _open(app)
    with pytest.raises(esf.AggregateAlreadyExists):
        app.handle(AppOpen(account_id, "bob"))
    assert app.store.stream_version(account_id) == 1
    assert app.load(AppAccount, account_id).owner == "ann"


def test_unrouted_command_is_no_handler(app):
    """A command type no aggregate of the application handles is NoHandler."""
    with pytest.raises(esf.NoHandler, match="AppUnrouted"):
        app.handle(AppUnrouted(uuid4()))


def test_two_aggregates_handling_one_command_fail_at_build():
    """Application(...) refuses two aggregates that handle the same command type."""
    with pytest.raises(esf.DefinitionError, match="handled twice") as info:
        esf.Application(esf.connect("memory://"), aggregates=[AppCounter, AppRejectingCounter])
    assert "AppCounter" in str(info.value)
    assert "AppRejectingCounter" in str(info.value)


def test_undecorated_aggregate_fails_at_build():
    """Passing an esf.Aggregate subclass without @esf.aggregate is a DefinitionError."""

    class Undecorated(esf.Aggregate):
        pass

    with pytest.raises(esf.DefinitionError, match=r"@esf\.aggregate"):
        esf.Application(esf.connect("memory://"), aggregates=[Undecorated])


@pytest.mark.parametrize("target", [None, "not-a-uuid", 42, b"\x00" * 16])
def test_invalid_target_is_refused(app, target):
    """A target field that is None or not a UUID is InvalidTarget; nothing is stored."""
    with pytest.raises(esf.InvalidTarget) as info:
        app.handle(AppRename("bob", account_id=target))
    assert isinstance(info.value, ValueError)
    assert "account_id" in str(info.value)
    assert list(app.store.read_all()) == []


def test_missing_target_is_refused(app):
    """A command whose target field was left out is InvalidTarget."""
    with pytest.raises(esf.InvalidTarget):
        app.handle(AppRename("bob"))


def test_uuid_text_is_accepted_as_target(app):
    """A target holding a UUID's text reaches the aggregate with that id."""
    account_id = _open(app)
    result = app.handle(AppRename("bob", account_id=str(account_id)))
    assert result.aggregate_id == account_id
    assert app.load(AppAccount, account_id).owner == "bob"


# -- metadata ----------------------------------------------------------------------------


def test_every_event_carries_the_command_as_cause(app):
    """causation_id is the command id on every event; correlation defaults to it."""
    result = app.handle(AppOpen(uuid4(), "ann", Decimal(1)), user_id="clerk-7")
    assert len(result.events) == 2
    for record in result.events:
        assert record.causation_id == str(result.command_id)
        assert record.correlation_id == str(result.command_id)
        assert record.user_id == "clerk-7"


def test_correlation_id_and_user_id_are_kept(app):
    """A given correlation_id and user_id are stored (as text) on every event."""
    correlation = uuid4()
    account_id = uuid4()
    result = app.handle(AppOpen(account_id, "ann"), user_id=7, correlation_id=correlation)
    (stored,) = app.store.read_stream(account_id)
    assert stored.metadata == {
        "user_id": "7",
        "correlation_id": str(correlation),
        "causation_id": str(result.command_id),
        "command_id": str(result.command_id),
    }
    other = app.handle(AppDeposit(account_id, Decimal(1)), correlation_id=correlation)
    assert other.command_id != result.command_id
    assert other.events[0].correlation_id == str(correlation)
    assert other.events[0].user_id is None


# -- load() ------------------------------------------------------------------------------


def test_load_replays_to_the_current_state(app):
    """load() rebuilds the aggregate from its stream: state, id and version."""
    account_id = _open(app, Decimal(10))
    app.handle(AppWithdraw(account_id, Decimal(3)))
    account = app.load(AppAccount, account_id)
    assert (account.id, account.version, account.owner) == (account_id, 3, "ann")
    assert account.balance == Decimal(7)
    assert account.pending_events == ()


def test_load_at_version(app):
    """load(at_version=n) is the state after the first n events."""
    account_id = _open(app, Decimal(10))
    app.handle(AppDeposit(account_id, Decimal(5)))
    assert [app.load(AppAccount, account_id, at_version=v).balance for v in (1, 2, 3)] == [
        Decimal(0),
        Decimal(10),
        Decimal(15),
    ]
    assert app.load(AppAccount, account_id, at_version=2).version == 2


def test_load_beyond_the_stream_is_not_found(app):
    """A version the stream has not reached is AggregateNotFound, naming the real one."""
    account_id = _open(app)
    with pytest.raises(esf.AggregateNotFound, match="version 1"):
        app.load(AppAccount, account_id, at_version=2)


@pytest.mark.parametrize("version", [0, -1, True])
def test_load_at_an_invalid_version_is_refused(app, version):
    """at_version must be an int >= 1."""
    with pytest.raises(esf.DefinitionError):
        app.load(AppAccount, _open(app), at_version=version)


def test_load_of_a_missing_aggregate_is_not_found(app):
    """Loading an id with no events is AggregateNotFound."""
    with pytest.raises(esf.AggregateNotFound):
        app.load(AppAccount, uuid4())


def test_load_at_time_uses_the_recorded_times():
    """load(at_time=t) is the state from the events the store had recorded by t."""
    clock = FakeClock(datetime(2026, 5, 1, 9, 0, tzinfo=UTC))
    app = esf.Application(esf.connect("memory://", clock=clock), aggregates=[AppAccount])
    opened_at = clock.now()
    account_id = _open(app, Decimal(10))
    deposited_at = clock.advance(hours=1)
    app.handle(AppDeposit(account_id, Decimal(5)))

    assert app.load(AppAccount, account_id, at_time=opened_at).balance == Decimal(10)
    later = deposited_at - timedelta(microseconds=1)
    assert app.load(AppAccount, account_id, at_time=later).version == 2
    assert app.load(AppAccount, account_id, at_time=deposited_at).balance == Decimal(15)
    with pytest.raises(esf.AggregateNotFound, match="did not exist at"):
        app.load(AppAccount, account_id, at_time=opened_at - timedelta(seconds=1))
    with pytest.raises(esf.DefinitionError, match="timezone-aware"):
        app.load(AppAccount, account_id, at_time=datetime(2026, 5, 1, 12, 0))


# -- unit of work ------------------------------------------------------------------------


class CountingStore:
    """A store that counts the batches it is asked to append."""

    def __init__(self, inner: esf.EventStore) -> None:
        self.inner = inner
        self.batches: list[set[UUID]] = []

    def append_many(self, batch: Any, **options: Any) -> list[esf.RecordedEvent]:
        self.batches.append(set(batch))
        return self.inner.append_many(batch, **options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_transfer_commits_both_aggregates_in_one_batch():
    """uow.handle on two aggregates stores their events in one append_many, contiguously."""
    store = CountingStore(esf.connect("memory://"))
    app = esf.Application(store, aggregates=[AppAccount])  # type: ignore[arg-type]
    source, target = _open(app, Decimal(100)), _open(app)
    store.batches.clear()

    with app.unit_of_work(user_id="teller") as uow:
        uow.handle(AppWithdraw(source, Decimal(30)))
        uow.handle(AppDeposit(target, Decimal(30)))

    assert store.batches == [{source, target}]
    moved = list(app.store.read_all())[-2:]
    assert [r.event for r in moved] == [AppWithdrawn(Decimal(30)), AppDeposited(Decimal(30))]
    assert moved[1].position == moved[0].position + 1
    assert {r.causation_id for r in moved} == {str(uow.id)}
    assert {r.user_id for r in moved} == {"teller"}
    assert app.load(AppAccount, source).balance == Decimal(70)
    assert app.load(AppAccount, target).balance == Decimal(30)


def test_unit_of_work_stores_nothing_when_the_block_raises(app):
    """An exception in the with-block rolls back every aggregate's events."""
    source, target = _open(app, Decimal(100)), _open(app)
    before = list(app.store.read_all())
    uow = app.unit_of_work()
    uow.handle(AppWithdraw(source, Decimal(30)))
    uow.handle(AppDeposit(target, Decimal(30)))
    with pytest.raises(RuntimeError), uow:
        raise RuntimeError("changed my mind")
    assert list(app.store.read_all()) == before


def test_domain_error_in_a_unit_of_work_stores_nothing(app):
    """A refused step undoes the steps before it in the same unit of work."""
    source, target = _open(app, Decimal(10)), _open(app)

    def transfer() -> None:
        with app.unit_of_work() as uow:
            uow.handle(AppDeposit(target, Decimal(30)))
            uow.handle(AppWithdraw(source, Decimal(30)))

    with pytest.raises(AppInsufficientFunds):
        transfer()
    assert app.store.stream_version(target) == 1
    assert app.load(AppAccount, target).balance == Decimal(0)


def test_unit_of_work_load_and_create(app):
    """uow.load opens an existing aggregate once; uow.create a new one with a given id."""
    source = _open(app, Decimal(50))
    new_id = uuid4()
    with app.unit_of_work() as uow:
        loaded = uow.load(AppAccount, source)
        assert uow.load(AppAccount, source) is loaded
        loaded.withdraw(AppWithdraw(source, Decimal(20)))
        created = uow.create(AppAccount, new_id)
        assert created.id == new_id
        created.open(AppOpen(new_id, "bob", Decimal(20)))
    assert app.load(AppAccount, source).balance == Decimal(30)
    assert app.load(AppAccount, new_id) == AppAccount(
        id=new_id, version=2, owner="bob", balance=Decimal(20)
    )


def test_unit_of_work_refuses_to_create_an_existing_aggregate(app):
    """uow.create of an id that exists, or was created in the unit, is refused."""
    existing = _open(app)
    with app.unit_of_work() as uow:
        with pytest.raises(esf.AggregateAlreadyExists):
            uow.create(AppAccount, existing)
        fresh = uow.create(AppAccount)
        with pytest.raises(esf.AggregateAlreadyExists):
            uow.create(AppAccount, fresh.id)
        with pytest.raises(esf.AggregateNotFound):
            uow.load(AppAccount, uuid4())


def test_unit_of_work_is_atomic_under_a_conflict(app):
    """When one stream moved on, the commit stores nothing for any stream."""
    source, target = _open(app, Decimal(100)), _open(app)
    uow = app.unit_of_work()
    uow.handle(AppWithdraw(source, Decimal(30)))
    uow.handle(AppDeposit(target, Decimal(30)))
    app.handle(AppDeposit(target, Decimal(1)))  # another writer, outside the unit
    with pytest.raises(esf.ConcurrencyError), uow:
        pass  # leaving the block commits
    assert app.store.stream_version(source) == 2
    assert app.store.stream_version(target) == 2


def test_failed_commit_closes_the_unit_of_work(app):
    """After its commit failed on exit, the unit's aggregates refuse record()."""
    account_id = _open(app, Decimal(100))
    uow = app.unit_of_work()
    account = uow.load(AppAccount, account_id)
    account.withdraw(AppWithdraw(account_id, Decimal(30)))
    app.handle(AppDeposit(account_id, Decimal(1)))  # another writer, outside the unit
    with pytest.raises(esf.ConcurrencyError), uow:
        pass  # leaving the block commits
    with pytest.raises(esf.RecordOutsideHandler):
        account.record(AppWithdrawn(Decimal(1)))
    with pytest.raises(esf.DefinitionError, match="already committed or rolled back"):
        uow.load(AppAccount, account_id)


def test_closed_unit_of_work_refuses_more_work(app):
    """A committed unit of work cannot be used again."""
    account_id = _open(app)
    with app.unit_of_work() as uow:
        uow.handle(AppDeposit(account_id, Decimal(1)))
    with pytest.raises(esf.DefinitionError, match="already committed"):
        uow.handle(AppDeposit(account_id, Decimal(1)))
    assert app.store.stream_version(account_id) == 2


# -- conflicts ---------------------------------------------------------------------------


def test_reject_raises_when_another_writer_got_there_first(rival):
    """Under esf.Reject() a concurrent append is a ConcurrencyError; ours is not stored."""
    app = _counter_app(rival, AppRejectingCounter)
    counter_id = uuid4()
    app.handle(AppStartCounter(counter_id))
    rival.times = 1
    with pytest.raises(esf.ConcurrencyError) as info:
        app.handle(AppCount(counter_id, "me"))
    assert (info.value.stream_id, info.value.expected, info.value.actual) == (counter_id, 1, 2)
    assert rival.runs == 1
    assert [r.event.by for r in app.store.read_stream(counter_id)] == ["start", "rival"]


def test_default_strategy_retries_the_command(rival):
    """By default the command is run again on the reloaded aggregate and succeeds."""
    app = _counter_app(rival, AppCounter)
    counter_id = uuid4()
    app.handle(AppStartCounter(counter_id))
    rival.times = 1
    result = app.handle(AppCount(counter_id, "me"))
    assert rival.runs == 2
    assert result.version == 4
    note, mine = result.events
    assert (note.event.strategy, note.event.outcome) == ("RetryCommand", "retried")
    assert mine.event.by == "me"
    stored = list(app.store.read_stream(counter_id))
    assert [r.version for r in stored] == [1, 2, 3, 4]
    assert [r.event_type for r in stored][2] == "esf.ConflictResolved"
    assert [r.event.by for r in stored if r.event_type != "esf.ConflictResolved"] == [
        "start",
        "rival",
        "me",
    ]
    assert app.load(AppCounter, counter_id).counts == ("start", "rival", "me")
    assert app.verify().ok


def test_default_strategy_gives_up_after_three_runs(rival):
    """RetryCommand(attempts=3), the default, runs the command at most three times."""
    app = _counter_app(rival, AppCounter)
    counter_id = uuid4()
    app.handle(AppStartCounter(counter_id))
    rival.times = 10
    with pytest.raises(esf.ConcurrencyError):
        app.handle(AppCount(counter_id, "me"))
    assert rival.runs == 3
    assert [r.event.by for r in app.store.read_stream(counter_id)] == ["start"] + ["rival"] * 3


def test_a_single_attempt_raises(rival):
    """RetryCommand(attempts=1) runs once and raises on a conflict."""
    app = _counter_app(rival, AppCounter, conflicts=esf.RetryCommand(attempts=1))
    counter_id = uuid4()
    app.handle(AppStartCounter(counter_id))
    rival.times = 1
    with pytest.raises(esf.ConcurrencyError):
        app.handle(AppCount(counter_id, "me"))
    assert rival.runs == 1


def test_aggregate_strategy_wins_over_the_application_one(rival):
    """@esf.aggregate(conflicts=...) is used even when the application names another."""
    app = _counter_app(rival, AppTwiceCounter, conflicts=esf.Reject())
    counter_id = uuid4()
    app.handle(AppStartCounter(counter_id))
    rival.times = 1
    assert app.handle(AppCount(counter_id, "me")).version == 4  # with its ConflictResolved
    rival.runs, rival.times = 0, 2
    with pytest.raises(esf.ConcurrencyError):
        app.handle(AppCount(counter_id, "again"))
    assert rival.runs == 2


def test_application_strategy_applies_to_aggregates_without_one(rival):
    """Application(conflicts=...) decides for aggregates that name no strategy."""
    app = _counter_app(rival, AppCounter, conflicts=esf.Reject())
    counter_id = uuid4()
    app.handle(AppStartCounter(counter_id))
    rival.times = 1
    with pytest.raises(esf.ConcurrencyError):
        app.handle(AppCount(counter_id, "me"))
    assert rival.runs == 1


@pytest.mark.parametrize("attempts", [0, -1, True, 1.5])
def test_retry_needs_a_positive_attempt_count(attempts):
    """RetryCommand(attempts=n) requires an int >= 1."""
    with pytest.raises(esf.DefinitionError):
        esf.RetryCommand(attempts=attempts)


def test_strategies_read_well_and_satisfy_the_protocol():
    """The built-in strategies have a readable repr and are ConflictStrategy objects."""
    assert repr(esf.RetryCommand(attempts=3)) == "RetryCommand(attempts=3, backoff=0.002)"
    assert repr(esf.Reject()) == "Reject()"
    assert isinstance(esf.Reject(), esf.ConflictStrategy)
    assert isinstance(esf.RetryCommand(), esf.ConflictStrategy)


# -- verify and the upcaster chain -------------------------------------------------------


def test_verify_is_ok_on_a_clean_store(app):
    """app.verify() on events written only through the application finds no problem."""
    account_id = _open(app, Decimal(10))
    app.handle(AppWithdraw(account_id, Decimal(4)))
    _open(app)
    report = app.verify()
    assert report.ok
    assert (report.events, report.streams, report.problems) == (4, 2, ())


def test_missing_upcaster_step_fails_at_build():
    """A v2 event class without a v1 -> v2 upcaster is an UpcasterChainError naming it."""
    registry = esf.Registry()

    @esf.event(name="AppRenamed", version=2, registry=registry)
    class AppRenamedV2:
        owner: str

    def store() -> esf.EventStore:
        return esf.connect("memory://", codec=esf.EventCodec(registry))

    with pytest.raises(esf.UpcasterChainError, match="'AppRenamed' 1 -> 2") as info:
        esf.Application(store(), registry=registry)
    assert "@esf.upcaster" in str(info.value)

    esf.upcaster("AppRenamed", from_version=1, registry=registry)(lambda d: d)
    esf.Application(store(), registry=registry)


def test_application_closes_its_store():
    """Leaving `with Application(...)` closes the store."""
    with esf.Application(esf.connect("memory://"), aggregates=[AppAccount]) as app:
        _open(app)
    with pytest.raises(esf.StoreClosed):
        app.handle(AppOpen(uuid4(), "ann"))


def test_application_uses_its_stores_registry():
    """An application on a store with its own codec decodes with that codec's registry."""
    private = esf.Registry()
    store = esf.connect("memory://", codec=esf.EventCodec(private))
    assert esf.Application(store).registry is private
    with pytest.raises(esf.DefinitionError, match="registry"):
        esf.Application(store, registry=esf.Registry())


def test_the_same_aggregate_listed_twice_is_one_aggregate():
    """Application(aggregates=[X, X]) does not report X's commands as handled twice."""
    app = esf.Application(esf.connect("memory://"), aggregates=[AppAccount, AppAccount])
    assert app.aggregates == (AppAccount,)


def test_loading_a_stream_as_another_aggregate_class_is_refused(app):
    """A stream created by one aggregate class is not silently replayed into another."""

    @esf.aggregate(name="SomethingElse")
    class AppOther(esf.Aggregate):
        pass

    account_id = uuid4()
    app.handle(AppOpen(account_id, "ann"))
    with pytest.raises(esf.AggregateNotFound, match="holds a 'AppAccount'"):
        app.load(AppOther, account_id)


def test_failed_commit_closes_the_unit(app):
    """A unit of work whose commit() fails stores nothing and accepts no more changes."""
    account_id = uuid4()
    app.handle(AppOpen(account_id, "ann"))
    uow = esf.Application(app.store, aggregates=[AppAccount], conflicts=esf.Reject())
    unit = uow.unit_of_work()
    account = unit.load(AppAccount, account_id)
    account.deposit(AppDeposit(account_id, Decimal(1)))
    app.handle(AppDeposit(account_id, Decimal(2)))
    with pytest.raises(esf.ConcurrencyError):
        unit.commit()
    with pytest.raises(esf.RecordOutsideHandler):
        account.deposit(AppDeposit(account_id, Decimal(3)))
