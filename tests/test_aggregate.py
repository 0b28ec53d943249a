"""Aggregates: @esf.aggregate, @esf.handles, @esf.applies and record()."""

from __future__ import annotations

from uuid import UUID, uuid4

import attrs
import pytest

import esframework as esf
from esframework.testing import given


@esf.event
class AggOpened:
    owner: str


@esf.event
class AggDeposited:
    amount: int


@esf.event
class AggNoted:
    """An event no aggregate here has an applier for."""

    text: str


@esf.command(target="account_id")
class AggOpen:
    account_id: UUID
    owner: str


@esf.command(target="account_id")
class AggDeposit:
    account_id: UUID
    amount: int


@esf.command(target="account_id")
class AggNote:
    account_id: UUID
    text: str


@esf.command(target="ledger_id")
class AggStartLedger:
    ledger_id: UUID


class AggTooMuch(esf.DomainError):
    pass


@esf.aggregate
class AggAccount(esf.Aggregate):
    owner: str = ""
    balance: int = 0

    @esf.handles(AggOpen, create=True)
    def open(self, cmd: AggOpen) -> None:
        self.record(AggOpened(owner=cmd.owner))

    @esf.handles
    def deposit(self, cmd: AggDeposit) -> None:
        self.record(AggDeposited(amount=cmd.amount))

    @esf.handles
    def note(self, cmd: AggNote) -> None:
        self.record(AggNoted(text=cmd.text))

    @esf.applies(AggOpened)
    def _opened(self, e: AggOpened) -> None:
        self.owner = e.owner

    @esf.applies
    def _deposited(self, e: AggDeposited) -> None:
        self.balance += e.amount


@esf.aggregate(name="test_aggregate.Ledger", snapshot_every=50)
class AggLedger(esf.Aggregate):
    started: bool = False

    @esf.handles(create=True)
    def start(self, cmd: AggStartLedger) -> None:
        self.record(AggOpened(owner="ledger"))

    @esf.applies
    def _started(self, e: AggOpened) -> None:
        self.started = True


@esf.aggregate
class AggDoubleAccount(AggAccount):
    """Overrides an inherited applier by defining a method of the same name."""

    def _deposited(self, e: AggDeposited) -> None:
        self.balance += 2 * e.amount


@esf.aggregate
class AggCappedAccount(AggAccount):
    """Adds state, and replaces an inherited handler and applier by decorating others."""

    deposits: int = 0

    @esf.handles
    def capped_deposit(self, cmd: AggDeposit) -> None:
        if cmd.amount > 100:
            raise AggTooMuch(f"{cmd.amount} is over the cap")
        self.record(AggDeposited(amount=cmd.amount))

    @esf.applies(AggDeposited)
    def _counted(self, e: AggDeposited) -> None:
        self.balance += e.amount
        self.deposits += 1


def _app(*aggregates: type[esf.Aggregate]) -> esf.Application:
    return esf.Application(esf.connect("memory://"), aggregates=aggregates)


def _opened_account(app: esf.Application) -> UUID:
    account_id = uuid4()
    app.handle(AggOpen(account_id, "ann"))
    return account_id


# -- handlers and appliers, explicit and bare ------------------------------------------


def test_explicit_create_handler_and_explicit_applier():
    """@esf.handles(Cmd, create=True) runs on a new aggregate; @esf.applies(Ev) applies."""
    account_id = uuid4()
    given(AggAccount).when(AggOpen(account_id, "ann")).then(AggOpened("ann")).then_state(
        lambda a: a.owner == "ann" and a.id == account_id and a.version == 1
    )


def test_bare_handler_and_bare_applier_read_the_annotation():
    """Bare @esf.handles and @esf.applies take the type from the parameter annotation."""
    given(AggAccount, AggOpened("ann")).when(AggDeposit(uuid4(), 7)).then(
        AggDeposited(7)
    ).then_state(lambda a: a.balance == 7)


def test_bare_handler_with_create():
    """@esf.handles(create=True) reads the command type from the annotation too."""
    app = _app(AggLedger)
    ledger_id = uuid4()
    result = app.handle(AggStartLedger(ledger_id))
    assert result.version == 1
    assert app.load(AggLedger, ledger_id).started is True


def test_aggregate_name_option_is_the_stream_type():
    """@esf.aggregate(name=...) is what the store records as the stream type."""
    app = _app(AggLedger, AggAccount)
    ledger = app.handle(AggStartLedger(uuid4()))
    account = app.handle(AggOpen(uuid4(), "ann"))
    assert [r.stream_type for r in ledger.events] == ["test_aggregate.Ledger"]
    assert [r.stream_type for r in account.events] == ["AggAccount"]


# -- record() ---------------------------------------------------------------------------


def test_record_applies_at_once_and_queues():
    """record() changes the state immediately, queues the event and bumps the version."""
    app = _app(AggAccount)
    with app.unit_of_work() as uow:
        account = uow.create(AggAccount)
        account.record(AggOpened("ann"))
        assert (account.owner, account.version) == ("ann", 1)
        account.record(AggDeposited(5))
        account.record(AggDeposited(6))
        assert (account.balance, account.version) == (11, 3)
        assert account.pending_events == (AggOpened("ann"), AggDeposited(5), AggDeposited(6))
    assert account.pending_events == ()
    assert account.version == 3
    assert app.store.stream_version(account.id) == 3


def test_record_without_an_applier_names_aggregate_event_and_fix():
    """Recording an event the aggregate cannot apply is MissingApplier saying what to add."""
    app = _app(AggAccount)
    with app.unit_of_work() as uow:
        account = uow.create(AggAccount)
        with pytest.raises(esf.MissingApplier) as info:
            account.record(AggNoted("x"))
        assert account.pending_events == ()
        assert account.version == 0
    message = str(info.value)
    assert "AggAccount" in message
    assert "AggNoted" in message
    assert "@esf.applies(AggNoted)" in message


def test_handler_recording_an_unappliable_event_stores_nothing():
    """MissingApplier from a handler reaches the caller and stores no event."""
    app = _app(AggAccount)
    account_id = _opened_account(app)
    with pytest.raises(esf.MissingApplier):
        app.handle(AggNote(account_id, "x"))
    assert app.store.stream_version(account_id) == 1


def test_recording_a_non_event_says_so():
    """Recording an object that is not an @esf.event names the problem."""
    app = _app(AggAccount)
    with app.unit_of_work() as uow:
        account = uow.create(AggAccount)
        with pytest.raises(esf.MissingApplier, match="not an event"):
            account.record({"owner": "ann"})


def test_record_on_a_loaded_aggregate_is_refused():
    """An aggregate from app.load() is read-only: record() raises RecordOutsideHandler."""
    app = _app(AggAccount)
    account = app.load(AggAccount, _opened_account(app))
    with pytest.raises(esf.RecordOutsideHandler, match=r"app\.handle\(\)"):
        account.record(AggDeposited(1))
    assert (account.balance, account.version, account.pending_events) == (0, 1, ())


def test_record_on_a_constructed_aggregate_is_refused():
    """An aggregate built directly is not being changed: record() is refused."""
    account = AggAccount()
    with pytest.raises(esf.RecordOutsideHandler):
        account.record(AggOpened("ann"))
    assert account.owner == ""


def test_record_after_the_unit_of_work_ends_is_refused():
    """Once its unit of work commits, an aggregate no longer accepts record()."""
    app = _app(AggAccount)
    with app.unit_of_work() as uow:
        account = uow.create(AggAccount)
        account.record(AggOpened("ann"))
    with pytest.raises(esf.RecordOutsideHandler):
        account.record(AggDeposited(1))
    assert app.store.stream_version(account.id) == 1


# -- state ------------------------------------------------------------------------------


def test_state_is_attrs_fields_with_id_and_version():
    """An aggregate is an attrs class: equal state, id and version make equal aggregates."""
    account_id = uuid4()
    assert AggAccount(id=account_id, owner="ann") == AggAccount(id=account_id, owner="ann")
    assert AggAccount(id=account_id) != AggAccount(id=account_id, version=1)
    assert AggAccount().id != AggAccount().id
    assert [f.name for f in attrs.fields(AggAccount)][:2] == ["id", "version"]
    assert "owner='ann'" in repr(AggAccount(owner="ann"))


# -- inheritance ------------------------------------------------------------------------


def test_subclass_inherits_handlers_and_appliers():
    """A decorated subclass handles its parent's commands with the parent's methods."""
    app = _app(AggCappedAccount)
    account_id = _opened_account(app)
    account = app.load(AggCappedAccount, account_id)
    assert (account.owner, account.version) == ("ann", 1)


def test_subclass_overrides_an_applier_by_method_name():
    """Redefining an applier method (undecorated) in a subclass replaces the parent's."""
    app = _app(AggDoubleAccount)
    account_id = _opened_account(app)
    app.handle(AggDeposit(account_id, 5))
    assert app.load(AggDoubleAccount, account_id).balance == 10


def test_subclass_overrides_by_decorating_other_methods():
    """A subclass method decorated for the same command or event type takes over."""
    app = _app(AggCappedAccount)
    account_id = _opened_account(app)
    app.handle(AggDeposit(account_id, 5))
    with pytest.raises(AggTooMuch):
        app.handle(AggDeposit(account_id, 500))
    account = app.load(AggCappedAccount, account_id)
    assert (account.balance, account.deposits, account.version) == (5, 1, 2)


def test_overriding_in_a_subclass_leaves_the_parent_alone():
    """The parent keeps its own handlers and appliers after subclasses override them."""
    app = _app(AggAccount)
    account_id = _opened_account(app)
    app.handle(AggDeposit(account_id, 500))
    assert app.load(AggAccount, account_id).balance == 500


# -- declaration errors -----------------------------------------------------------------


def test_unknown_aggregate_option_is_a_definition_error():
    """@esf.aggregate(unknown=1) is refused, naming the option and the valid ones."""
    with pytest.raises(esf.DefinitionError) as info:
        esf.aggregate(unknown=1)  # type: ignore[call-overload]
    assert "unknown" in str(info.value)
    assert "snapshot_every" in str(info.value)


@pytest.mark.parametrize("every", [0, -5, True, 2.5])
def test_invalid_snapshot_every_is_a_definition_error(every):
    """snapshot_every must be an int >= 1."""
    with pytest.raises(esf.DefinitionError, match="snapshot_every"):
        esf.aggregate(snapshot_every=every)


def test_state_field_without_default_is_a_definition_error():
    """Every state field needs a default: an aggregate starts empty."""
    with pytest.raises(esf.DefinitionError, match="needs a default"):

        @esf.aggregate
        class NoDefault(esf.Aggregate):
            owner: str


def test_decorating_a_non_aggregate_is_a_definition_error():
    """@esf.aggregate only decorates subclasses of esf.Aggregate."""
    with pytest.raises(esf.DefinitionError, match=r"subclass of esf\.Aggregate"):

        @esf.aggregate  # type: ignore[type-var]
        class NotAnAggregate:
            owner: str = ""


def test_handling_one_command_twice_in_a_class_is_a_definition_error():
    """One class may not have two handlers for one command type."""
    with pytest.raises(esf.DefinitionError, match="twice"):

        @esf.aggregate
        class Twice(esf.Aggregate):
            @esf.handles(AggDeposit)
            def one(self, cmd: AggDeposit) -> None:
                pass

            @esf.handles(AggDeposit)
            def two(self, cmd: AggDeposit) -> None:
                pass


def test_applier_for_a_non_event_is_a_definition_error():
    """@esf.applies of a class that is not an @esf.event is refused."""

    class NotAnEvent:
        pass

    with pytest.raises(esf.DefinitionError, match="not an event"):

        @esf.aggregate
        class AppliesNothing(esf.Aggregate):
            @esf.applies(NotAnEvent)
            def _applied(self, e: NotAnEvent) -> None:
                pass


def test_bare_decorator_without_a_usable_annotation_is_a_definition_error():
    """A bare @esf.applies needs an annotated parameter, and says how to name the type."""
    with pytest.raises(esf.DefinitionError, match=r"@esf\.applies\(TheType\)"):

        @esf.aggregate
        class Unannotated(esf.Aggregate):
            @esf.applies
            def _applied(self, e):  # type: ignore[no-untyped-def]
                pass

    with pytest.raises(esf.DefinitionError, match="no event or command parameter"):

        @esf.aggregate
        class NoParameter(esf.Aggregate):
            @esf.handles
            def handle(self) -> None:
                pass


def test_decorators_refuse_what_they_cannot_take():
    """@esf.applies and @esf.handles given neither a class nor a method are refused."""
    with pytest.raises(esf.DefinitionError):
        esf.applies(42)  # type: ignore[call-overload]
    with pytest.raises(esf.DefinitionError):
        esf.handles(42)  # type: ignore[call-overload]
