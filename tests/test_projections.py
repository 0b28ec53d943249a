"""Projections: exactly-once views, inline and async modes, failures, status, rebuild."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

import esframework as esf
from esframework.adapters.base import EventStore
from esframework.testing import FakeClock

WAIT = 30.0


@esf.event(name="tests.projections.Opened")
class Opened:
    owner: str


@esf.event(name="tests.projections.Deposited")
class Deposited:
    amount: int


@esf.event(name="tests.projections.Closed")
class Closed:
    pass


@esf.view(key="account_id", indexes=("owner", "balance"), name="tests_projections_balance")
class Balance:
    account_id: UUID
    owner: str
    balance: int


@esf.view(key="owner", indexes=("accounts",), name="tests_projections_owner")
class Owner:
    owner: str
    accounts: int


@esf.projection(views=[Balance], name="tests.balances", batch_size=3)
class Balances:
    """Refuses negative deposits while ``strict``; scales amounts by ``factor``."""

    def __init__(self, strict: bool = True, factor: int = 1) -> None:
        self.strict = strict
        self.factor = factor

    @esf.on
    def opened(self, event: Opened, ctx: esf.ProjectionContext) -> None:
        ctx.view(Balance).put(Balance(ctx.stream_id, event.owner, 0))

    @esf.on
    def deposited(self, event: Deposited, ctx: esf.ProjectionContext) -> None:
        if self.strict and event.amount < 0:
            raise ValueError(f"negative deposit {event.amount}")
        current = ctx.view(Balance).get(ctx.stream_id)
        assert current is not None
        ctx.view(Balance).update(
            ctx.stream_id, balance=current.balance + self.factor * event.amount
        )

    @esf.on
    def closed(self, event: Closed, ctx: esf.ProjectionContext) -> None:
        ctx.view(Balance).delete(ctx.stream_id)


@esf.projection(views=[Owner], name="tests.owners")
class Owners:
    @esf.on
    def opened(self, event: Opened, ctx: esf.ProjectionContext) -> None:
        count = ctx.view(Owner).get(event.owner)
        ctx.view(Owner).put(Owner(event.owner, (count.accounts if count else 0) + 1))


@esf.view(key="account_id", indexes=("balance",), name="tests_projections_live")
class LiveBalance:
    account_id: UUID
    balance: int


@esf.projection(views=[LiveBalance], name="tests.live", mode="inline")
class LiveBalances:
    def __init__(self) -> None:
        self.strict = True

    @esf.on
    def opened(self, event: Opened, ctx: esf.ProjectionContext) -> None:
        ctx.view(LiveBalance).put(LiveBalance(ctx.stream_id, 0))

    @esf.on
    def deposited(self, event: Deposited, ctx: esf.ProjectionContext) -> None:
        if self.strict and event.amount < 0:
            raise ValueError("negative")
        row = ctx.view(LiveBalance).get(ctx.stream_id)
        assert row is not None
        ctx.view(LiveBalance).put(LiveBalance(ctx.stream_id, row.balance + event.amount))


def _open(store: EventStore, owner: str, *amounts: int) -> UUID:
    account = uuid4()
    store.append(account, [Opened(owner), *(Deposited(a) for a in amounts)])
    return account


@pytest.fixture
def app(store: EventStore) -> Iterator[esf.Application]:
    """An application with the async Balances and Owners projections."""
    application = esf.Application(store, projections=[Balances(), Owners])
    yield application
    application.projections.close()


# -- async projections ---------------------------------------------------------------


def test_catch_up_brings_views_to_the_head(app: esf.Application) -> None:
    """catch_up() runs every projection to the last event; the views show the result."""
    ann = _open(app.store, "ann", 5, 7, 11)
    bob = _open(app.store, "bob", 1)
    _open(app.store, "ann")
    assert app.view(Balance).get(ann) is None
    statuses = app.projections.catch_up()
    assert [(s.name, s.state, s.position) for s in statuses] == [
        ("tests.balances", "caught_up", 7),
        ("tests.owners", "caught_up", 7),
    ]
    assert app.view(Balance).get(ann) == Balance(ann, "ann", 23)
    assert app.view(Balance).get(bob) == Balance(bob, "bob", 1)
    assert app.view(Owner).get("ann") == Owner("ann", 2)
    assert [o.owner for o in app.view(Owner).order_by("-accounts").all()] == ["ann", "bob"]


def test_increments_are_exactly_once_across_batches(app: esf.Application) -> None:
    """Counting handlers stay right over many small transactions and repeated catch-ups."""
    account = _open(app.store, "ann")
    for n in range(1, 21):
        app.store.append(account, [Deposited(n)])
        if n % 7 == 0:
            app.projections.catch_up()
    app.projections.catch_up()
    app.projections.catch_up()
    assert app.view(Balance).get(account) == Balance(account, "ann", 210)


def test_a_deleted_row_stays_deleted(app: esf.Application) -> None:
    """delete() removes a row; queries and counts no longer see it."""
    account = _open(app.store, "ann", 3)
    app.store.append(account, [Closed()])
    app.projections.catch_up()
    assert app.view(Balance).get(account) is None
    assert app.view(Balance).count() == 0


def test_a_failing_handler_stops_only_its_projection(app: esf.Application) -> None:
    """A handler that raises stops its projection at that event; others go on."""
    account = _open(app.store, "ann", 5, -1, 7)
    _open(app.store, "bob")
    balances, owners = app.projections.catch_up()
    assert owners.state == "caught_up"
    assert owners.position == 5
    assert balances.state == "failed"
    assert balances.position == 2  # the deposit before the failing one is kept
    assert balances.failure is not None
    assert balances.failure.position == 3
    assert balances.failure.event_type == "tests.projections.Deposited"
    assert balances.failure.error == "ValueError"
    assert "negative deposit -1" in balances.failure.message
    assert app.view(Balance).get(account) == Balance(account, "ann", 5)
    with pytest.raises(esf.ProjectionFailed, match=r"'tests\.balances' stopped at position 3"):
        app.projections.wait_for(timeout=WAIT)


def test_resume_retries_the_failed_event(store: EventStore) -> None:
    """After the handler is fixed, resume() retries the event and the projection goes on."""
    balances = Balances()
    app = esf.Application(store, projections=[balances])
    account = _open(store, "ann", 5, -1, 7)
    app.projections.catch_up()
    assert app.projections.status("tests.balances").state == "failed"
    balances.strict = False
    assert app.projections.resume("tests.balances").state == "behind"
    (status,) = app.projections.catch_up()
    assert status.failure is None
    assert app.view(Balance).get(account) == Balance(account, "ann", 11)


def test_pause_holds_a_projection_until_resume(app: esf.Application) -> None:
    """A paused projection does not move; resume lets it catch up."""
    account = _open(app.store, "ann", 2)
    assert app.projections.pause("tests.balances").paused
    balances, owners = app.projections.catch_up()
    assert (balances.state, balances.position, owners.position) == ("paused", 0, 2)
    assert app.projections.wait_for(timeout=WAIT)  # paused projections are not waited for
    app.projections.resume("tests.balances")
    app.projections.catch_up()
    assert app.view(Balance).get(account) == Balance(account, "ann", 2)


def test_status_reports_lag_in_events_and_seconds() -> None:
    """status() gives how many events a projection is behind and how old the oldest is."""
    clock = FakeClock()
    with esf.connect("memory://", clock=clock) as store:
        app = esf.Application(store, projections=[Balances()])
        _open(store, "ann", 1, 2)
        clock.advance(seconds=90)
        behind = app.projections.status("tests.balances")
        assert (behind.state, behind.lag_events, behind.lag_seconds) == ("behind", 3, 90.0)
        assert behind.head == 3
        app.projections.catch_up()
        current = app.projections.status("tests.balances")
        assert (current.lag_events, current.lag_seconds) == (0, 0.0)
        assert current.updated_at == clock.now()


def test_unknown_names_are_refused_with_the_registered_ones(app: esf.Application) -> None:
    """Operations on a projection that is not registered say which ones are."""
    with pytest.raises(esf.ProjectionNotFound, match=r"'tests\.balances', 'tests\.owners'"):
        app.projections.pause("balances")


# -- inline projections --------------------------------------------------------------


def test_inline_views_are_updated_by_the_append_itself(store: EventStore) -> None:
    """An inline projection's view is current as soon as append() returns."""
    app = esf.Application(store, projections=[LiveBalances])
    account = _open(store, "ann", 4)
    assert app.view(LiveBalance).get(account) == LiveBalance(account, 4)
    store.append(account, [Deposited(6)])
    assert app.view(LiveBalance).get(account) == LiveBalance(account, 10)
    assert app.projections.status("tests.live").state == "caught_up"


def test_a_new_inline_projection_catches_up_when_the_application_starts(
    store: EventStore,
) -> None:
    """Events stored before an inline projection existed are applied when it is installed."""
    account = _open(store, "ann", 4, 5)
    app = esf.Application(store, projections=[LiveBalances])
    assert app.view(LiveBalance).get(account) == LiveBalance(account, 9)
    store.append(account, [Deposited(1)])
    assert app.view(LiveBalance).get(account) == LiveBalance(account, 10)


def test_a_failing_inline_handler_does_not_lose_the_append(store: EventStore) -> None:
    """The events are stored; the inline projection stops there until resumed."""
    live = LiveBalances()
    app = esf.Application(store, projections=[live, Owners])
    account = _open(store, "ann", 4)
    store.append(account, [Deposited(-1), Deposited(2)])
    assert store.stream_version(account) == 4
    status = app.projections.status("tests.live")
    assert (status.state, status.position) == ("failed", 2)
    assert status.failure is not None
    assert status.failure.position == 3
    store.append(account, [Deposited(3)])  # a stopped inline projection is skipped
    assert app.view(LiveBalance).get(account) == LiveBalance(account, 4)
    live.strict = False
    app.projections.resume("tests.live")
    app.projections.catch_up("tests.live")
    assert app.view(LiveBalance).get(account) == LiveBalance(account, 8)
    store.append(account, [Deposited(10)])  # inline again once caught up
    assert app.view(LiveBalance).get(account) == LiveBalance(account, 18)


def test_closing_the_projections_takes_inline_ones_out_of_appends(store: EventStore) -> None:
    """After projections.close(), appends no longer run the inline handlers."""
    app = esf.Application(store, projections=[LiveBalances])
    account = _open(store, "ann", 1)
    app.projections.close()
    store.append(account, [Deposited(1)])
    assert app.view(LiveBalance).get(account) == LiveBalance(account, 1)


# -- unknown event types -------------------------------------------------------------


@esf.event(name="tests.projections.Legacy")
class Legacy:
    note: str


def _without_legacy() -> esf.Registry:
    registry = esf.Registry()
    for cls in (Opened, Deposited, Closed):
        et = esf.registry.default_registry.type_of(cls)
        registry.register_event(cls, et.name, et.version)
    return registry


@esf.projection(name="tests.strict_owners", views=[Owner], on_unknown="stop")
class StrictOwners(Owners):
    pass


def test_unknown_event_types_are_skipped_with_a_warning(
    store: EventStore, caplog: pytest.LogCaptureFixture
) -> None:
    """An event of a type the projections' registry does not know is skipped and logged."""
    manager = esf.Projections(store, [Owners], registry=_without_legacy())
    store.append(uuid4(), [Opened("ann"), Legacy("old"), Legacy("older")])
    store.append(uuid4(), [Opened("ann")])
    with caplog.at_level(logging.WARNING, logger="esframework.projections"):
        (status,) = manager.catch_up()
    assert status.state == "caught_up"
    warnings = [r for r in caplog.records if "unknown type" in r.getMessage()]
    assert len(warnings) == 1
    assert "tests.projections.Legacy" in warnings[0].getMessage()
    assert manager.view(Owner).get("ann") == Owner("ann", 2)


def test_unknown_event_types_can_stop_a_projection(store: EventStore) -> None:
    """on_unknown='stop' stops at the first unknown event, with the reason in status."""
    manager = esf.Projections(store, [StrictOwners], registry=_without_legacy())
    store.append(uuid4(), [Opened("ann"), Legacy("old"), Opened("bob")])
    (status,) = manager.catch_up()
    assert (status.state, status.position) == ("failed", 1)
    assert status.failure is not None
    assert status.failure.error == "UnknownEventType"
    assert "tests.projections.Legacy" in status.failure.event_type


# -- rebuild -------------------------------------------------------------------------


def test_rebuild_swaps_in_a_complete_new_model(store: EventStore) -> None:
    """rebuild() builds fresh views from position 0; readers see the old until the swap."""
    balances = Balances()
    app = esf.Application(store, projections=[balances])
    accounts = [_open(store, f"o{i}", i, 10) for i in range(5)]
    app.projections.catch_up()
    old = app.view(Balance).order_by("owner").all()
    balances.factor = 100
    seen: list[esf.RebuildProgress] = []

    def progress(p: esf.RebuildProgress) -> None:
        seen.append(p)
        if not p.done:
            assert app.view(Balance).order_by("owner").all() == old  # never half-built

    status = app.projections.rebuild("tests.balances", progress=progress)
    assert status.state == "caught_up"
    assert status.position == 15
    assert [app.view(Balance).get(a).balance for a in accounts] == [  # type: ignore[union-attr]
        100 * (i + 10) for i in range(5)
    ]
    positions = [p.position for p in seen]
    assert positions == sorted(positions)
    assert seen[-1].done
    assert seen[-1].events == 15
    assert not any(p.done for p in seen[:-1])


def test_a_failing_rebuild_keeps_the_live_views(app: esf.Application) -> None:
    """A handler that raises during a rebuild abandons it; the old views stay."""
    account = _open(app.store, "ann", 5)
    app.projections.catch_up()
    app.store.append(account, [Deposited(-1)])
    with pytest.raises(esf.ProjectionFailed, match="position 3"):
        app.projections.rebuild("tests.balances")
    assert app.view(Balance).get(account) == Balance(account, "ann", 5)
    assert app.projections.status("tests.balances").position == 2


def test_rebuilding_an_inline_projection_while_appends_go_on(store: EventStore) -> None:
    """Appends during a rebuild are in the swapped-in model: nothing lost or doubled."""
    app = esf.Application(store, projections=[LiveBalances])
    accounts = [_open(store, "ann", 1) for _ in range(4)]
    started = threading.Event()

    def writer() -> None:
        started.wait(WAIT)
        for n in range(30):
            store.append(accounts[n % 4], [Deposited(1)])

    thread = threading.Thread(target=writer)
    thread.start()
    app.projections.rebuild("tests.live", progress=lambda _: started.set())
    thread.join(WAIT)
    store.append(accounts[0], [Deposited(100)])
    balances = [app.view(LiveBalance).get(a) for a in accounts]
    assert [b.balance for b in balances if b] == [1 + 8 + 100, 1 + 8, 1 + 7, 1 + 7]


# -- runners -------------------------------------------------------------------------


def test_a_background_runner_follows_new_events(app: esf.Application) -> None:
    """start() keeps projections current in threads; stop() ends every one of them."""
    before = set(threading.enumerate())
    app.projections.start(poll_interval=WAIT)
    assert app.projections.running
    account = _open(app.store, "ann", 3)
    assert app.projections.wait_for(timeout=WAIT)
    assert app.view(Balance).get(account) == Balance(account, "ann", 3)
    assert all(s.active for s in app.projections.status())
    app.store.append(account, [Deposited(4)])
    assert app.projections.wait_for(timeout=WAIT)
    assert app.view(Balance).get(account) == Balance(account, "ann", 7)
    app.projections.stop()
    assert not app.projections.running
    assert set(threading.enumerate()) <= before


def test_one_runner_is_active_per_projection_and_another_takes_over(store: EventStore) -> None:
    """Two runners on one store: each projection runs in one; stopping it hands over."""
    first = esf.Application(store, projections=[Balances(), Owners])
    second = esf.Application(store, projections=[Balances(), Owners])
    first.projections.start(poll_interval=0.05)
    deadline = time.monotonic() + WAIT
    while not all(s.active for s in first.projections.status()):  # its leases are taken
        assert time.monotonic() < deadline
        time.sleep(0.01)
    second.projections.start(poll_interval=0.05)
    account = _open(store, "ann", 1, 2)
    assert second.projections.wait_for(timeout=WAIT)
    assert [s.active for s in first.projections.status()] == [True, True]
    assert [s.active for s in second.projections.status()] == [False, False]
    first.projections.stop()
    store.append(account, [Deposited(4)])
    assert second.projections.wait_for(timeout=WAIT)
    assert second.view(Balance).get(account) == Balance(account, "ann", 7)
    assert [s.active for s in second.projections.status()] == [True, True]
    second.projections.stop()


def test_run_is_a_runner_until_stopped(store: EventStore) -> None:
    """run(store, projections, stop=event) keeps them current until the event is set."""
    stop = threading.Event()
    runner = threading.Thread(
        target=esf.projection_runner.run,
        args=(store, [Owners]),
        kwargs={"stop": stop, "poll_interval": 0.05},
    )
    runner.start()
    _open(store, "ann")
    reader = esf.Projections(store, [Owners])
    reader_status = reader.wait_for
    assert reader_status(timeout=WAIT)
    assert reader.view(Owner).get("ann") == Owner("ann", 1)
    stop.set()
    runner.join(WAIT)
    assert not runner.is_alive()


@pytest.mark.parametrize(
    ("target", "match"),
    [
        ("nope", "package.module:ClassName"),
        ("tests_nowhere:X", "cannot load"),
        ("os:nope", "cannot load"),
    ],
)
def test_projections_named_by_text_must_exist(target: str, match: str) -> None:
    """run() and load() take "package.module:Name"; a wrong one says what is wrong."""
    with pytest.raises(esf.DefinitionError, match=match):
        esf.projection_runner.load(target)


def test_projections_can_be_named_by_text() -> None:
    """load("module:Name") imports the module and returns the class."""
    assert esf.projection_runner.load(f"{__name__}:Owners") is Owners
    assert esf.projection_runner.load(Owners) is Owners


# -- at-least-once effects outside views ---------------------------------------------


class Mailer:
    """Sends one welcome per account, skipping positions it has handled."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.done = 0

    @esf.on
    def welcome(self, event: Opened, ctx: esf.ProjectionContext) -> None:
        if ctx.position <= self.done:
            return
        self.sent.append(event.owner)
        self.done = ctx.position


def test_a_projection_without_views_gets_positions(store: EventStore) -> None:
    """An undecorated class with handlers is a projection named after the class."""
    mailer = Mailer()
    app = esf.Application(store, projections=[mailer])
    _open(store, "ann", 1)
    _open(store, "bob")
    app.projections.catch_up()
    assert app.projections.names == ["Mailer"]
    assert mailer.sent == ["ann", "bob"]


# -- declarations --------------------------------------------------------------------


def test_handlers_are_found_bare_or_with_types() -> None:
    """@esf.on reads the annotation, or takes several types; ctx is optional."""

    @esf.projection(name="tests.declared")
    class Declared:
        @esf.on
        def one(self, event: Opened, ctx: esf.ProjectionContext) -> None: ...

        @esf.on(Deposited, Closed)
        def many(self, event: Any) -> None: ...

    spec = esf.projections.projection_spec(Declared)
    assert sorted(spec.handlers) == [
        "tests.projections.Closed",
        "tests.projections.Deposited",
        "tests.projections.Opened",
    ]
    assert spec.handlers["tests.projections.Opened"].takes_context
    assert not spec.handlers["tests.projections.Closed"].takes_context


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: esf.on(int), "event classes"),
        (lambda: esf.projection(mode="later")(type("P", (), {})), "mode"),
        (lambda: esf.projection(on_unknown="ignore")(type("P", (), {})), "on_unknown"),
        (lambda: esf.projection(batch_size=0)(type("P", (), {})), "batch_size"),
        (lambda: esf.projection(views=[Opened])(type("P", (), {})), "not a view"),
        (lambda: esf.projection(views=[Owner, Owner])(type("P", (), {})), "twice"),
        (lambda: esf.projections.projection_spec(type("Empty", (), {})), "no @esf.on"),
        (lambda: esf.projections.projection_spec(Owner), "not a projection"),
    ],
)
def test_bad_declarations_are_refused(make: Any, match: str) -> None:
    """Decorator options and projection classes are checked when declared."""
    with pytest.raises(esf.DefinitionError, match=match):
        make()


def test_a_handler_with_the_wrong_parameters_is_refused() -> None:
    """A handler must take (self, event) or (self, event, ctx)."""
    with pytest.raises(esf.DefinitionError, match="must take"):

        @esf.projection
        class Wrong:
            @esf.on(Opened)
            def handle(self) -> None: ...


def test_two_handlers_for_one_event_are_refused() -> None:
    """A class cannot handle one event type in two methods."""
    with pytest.raises(esf.DefinitionError, match="twice"):

        @esf.projection
        class Twice:
            @esf.on
            def a(self, event: Opened) -> None: ...

            @esf.on
            def b(self, event: Opened) -> None: ...


def test_registration_conflicts_are_refused(store: EventStore) -> None:
    """Two projections of one name, or two writing one view, cannot be registered."""
    with pytest.raises(esf.DefinitionError, match="two projections are named"):
        esf.Application(store, projections=[Owners, Owners])
    with pytest.raises(esf.DefinitionError, match="written by projections"):
        esf.Application(store, projections=[Owners, StrictOwners])


def test_writing_an_undeclared_view_stops_the_projection(store: EventStore) -> None:
    """A handler that writes a view it did not declare fails with a message saying how."""

    @esf.projection(name="tests.sneaky")
    class Sneaky:
        @esf.on
        def opened(self, event: Opened, ctx: esf.ProjectionContext) -> None:
            ctx.view(Owner).put(Owner(event.owner, 1))

    app = esf.Application(store, projections=[Sneaky])
    _open(store, "ann")
    (status,) = app.projections.catch_up()
    assert status.failure is not None
    assert "add it to @esf.projection(views=[...])" in status.failure.message


def test_stores_without_read_models_are_refused() -> None:
    """A store that keeps no read models cannot host projections; the error says why."""

    class Plain:
        def read_all(self, after: int = 0, limit: int | None = None, types: Any = None) -> Any:
            return iter(())

    with pytest.raises(esf.DefinitionError, match="keeps no read models"):
        esf.Projections(Plain(), [Owners])  # type: ignore[arg-type]


def test_inline_needs_a_store_with_inline_hooks() -> None:
    """An inline projection on a store without inline hooks is refused at registration."""
    with esf.connect("memory://") as memory:

        class NoHooks:
            codec = memory.codec

            def read_models(self) -> Any:
                return memory.read_models()  # type: ignore[attr-defined]

        with pytest.raises(esf.DefinitionError, match="cannot run inline"):
            esf.Projections(NoHooks(), [LiveBalances])  # type: ignore[arg-type]


def test_lag_seconds_use_the_store_clock() -> None:
    """Lag in seconds is measured with the store's clock, so tests can move it."""
    clock = FakeClock()
    with esf.connect("memory://", clock=clock) as store:
        app = esf.Application(store, projections=[Owners])
        _open(store, "ann")
        clock.advance(timedelta(minutes=2))
        assert app.projections.status("tests.owners").lag_seconds == 120.0
