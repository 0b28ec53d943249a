"""esframework.testing.given: given-when-then checks and the messages they fail with."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

import esframework as esf
from esframework.testing import given


@esf.event
class GwtOpened:
    owner: str


@esf.event
class GwtDeposited:
    amount: int


@esf.event
class GwtFlagged:
    reason: str


@esf.command(target="account_id")
class GwtOpen:
    account_id: UUID
    owner: str


@esf.command(target="account_id")
class GwtDeposit:
    account_id: UUID
    amount: int


@esf.command(target="account_id")
class GwtInspect:
    account_id: UUID


@esf.command(target="account_id")
class GwtElsewhere:
    account_id: UUID


class GwtRefused(esf.DomainError):
    pass


@esf.aggregate
class GwtAccount(esf.Aggregate):
    owner: str = ""
    balance: int = 0

    @esf.handles(create=True)
    def open(self, cmd: GwtOpen) -> None:
        self.record(GwtOpened(cmd.owner))

    @esf.handles
    def deposit(self, cmd: GwtDeposit) -> None:
        if cmd.amount <= 0:
            raise GwtRefused(f"cannot deposit {cmd.amount}")
        self.record(GwtDeposited(cmd.amount))
        if cmd.amount >= 1000:
            self.record(GwtFlagged("large deposit"))

    @esf.handles
    def inspect(self, cmd: GwtInspect) -> None:
        pass

    @esf.applies
    def _opened(self, e: GwtOpened) -> None:
        self.owner = e.owner

    @esf.applies
    def _deposited(self, e: GwtDeposited) -> None:
        self.balance += e.amount

    @esf.applies
    def _flagged(self, e: GwtFlagged) -> None:
        pass


OPENED = GwtOpened("ann")


def _failure(check) -> str:
    with pytest.raises(AssertionError) as info:
        check()
    return str(info.value)


def _line(message: str, start: str) -> str:
    (line,) = [line for line in message.splitlines() if line.strip().startswith(start)]
    return line


# -- passing checks ----------------------------------------------------------------------


def test_then_passes_on_the_recorded_events_and_chains():
    """then() with exactly the recorded events passes and returns the scenario."""
    scenario = given(GwtAccount, OPENED).when(GwtDeposit(uuid4(), 1500))
    assert scenario.then(GwtDeposited(1500), GwtFlagged("large deposit")) is scenario
    scenario.then_state(lambda a: a.balance == 1500 and a.owner == "ann")


def test_history_is_applied_before_the_command():
    """The given events build the state the handler sees."""
    given(GwtAccount, OPENED, GwtDeposited(5), GwtDeposited(6)).when(
        GwtDeposit(uuid4(), 1)
    ).then_state(lambda a: (a.balance, a.version) == (12, 4))


def test_creation_command_on_no_history():
    """A create=True command runs on an empty aggregate with the command's target id."""
    account_id = uuid4()
    scenario = given(GwtAccount).when(GwtOpen(account_id, "ann")).then(OPENED)
    assert scenario.aggregate is not None
    assert scenario.aggregate.id == account_id


def test_given_aggregate_id_is_used():
    """given(..., aggregate_id=...) fixes the aggregate's id."""
    account_id = uuid4()
    given(GwtAccount, OPENED, aggregate_id=account_id).when(GwtInspect(uuid4())).then_state(
        lambda a: a.id == account_id
    )


def test_then_nothing_passes_when_nothing_was_recorded():
    """then_nothing() passes for a command that succeeded and recorded no event."""
    given(GwtAccount, OPENED).when(GwtInspect(uuid4())).then_nothing()


def test_then_raises_passes_on_the_raised_type_and_message():
    """then_raises(Type, match=...) passes when the handler raised that, saying that."""
    given(GwtAccount, OPENED).when(GwtDeposit(uuid4(), 0)).then_raises(
        GwtRefused, match="cannot deposit 0"
    ).then_raises(esf.DomainError)


# -- failing checks and their messages ---------------------------------------------------


def test_then_failure_names_the_first_mismatched_index():
    """then() fails at the first differing index, showing expected and actual there."""
    scenario = given(GwtAccount, OPENED).when(GwtDeposit(uuid4(), 1500))
    message = _failure(lambda: scenario.then(GwtDeposited(1500), GwtFlagged("big")))
    assert "differ at index 1" in message
    assert f"expected [1]: {GwtFlagged('big')!r}" in message
    assert f"actual   [1]: {GwtFlagged('large deposit')!r}" in message
    assert f"[0] {GwtDeposited(1500)!r}" in message


def test_then_failure_on_a_missing_event():
    """Fewer recorded events than expected points at the first missing one."""
    scenario = given(GwtAccount, OPENED).when(GwtDeposit(uuid4(), 5))
    message = _failure(lambda: scenario.then(GwtDeposited(5), GwtFlagged("large deposit")))
    assert "differ at index 1" in message
    assert "(no event)" in _line(message, "actual   [1]:")
    assert "actual: 1 event(s)" in message


def test_then_failure_on_an_extra_event():
    """More recorded events than expected points at the first extra one."""
    scenario = given(GwtAccount, OPENED).when(GwtDeposit(uuid4(), 1500))
    message = _failure(lambda: scenario.then(GwtDeposited(1500)))
    assert "differ at index 1" in message
    assert "(no event)" in _line(message, "expected [1]:")
    assert f"actual   [1]: {GwtFlagged('large deposit')!r}" in message


def test_then_failure_when_the_command_raised():
    """then() after a refused command fails saying what was raised."""
    scenario = given(GwtAccount, OPENED).when(GwtDeposit(uuid4(), -1))
    message = _failure(lambda: scenario.then(GwtDeposited(-1)))
    assert "expected the command to succeed" in message
    assert "GwtRefused: cannot deposit -1" in message


def test_then_nothing_fails_when_events_were_recorded():
    """then_nothing() fails when the command recorded events, showing them."""
    scenario = given(GwtAccount, OPENED).when(GwtDeposit(uuid4(), 5))
    message = _failure(scenario.then_nothing)
    assert f"actual   [0]: {GwtDeposited(5)!r}" in message


def test_then_raises_fails_on_another_error_type():
    """then_raises with the wrong type fails naming both the expected and the raised one."""
    scenario = given(GwtAccount, OPENED).when(GwtDeposit(uuid4(), 0))
    message = _failure(lambda: scenario.then_raises(esf.AggregateNotFound))
    assert "expected AggregateNotFound" in message
    assert "raised GwtRefused: cannot deposit 0" in message


def test_then_raises_fails_when_the_command_succeeded():
    """then_raises after a successful command fails and lists what was recorded."""
    scenario = given(GwtAccount, OPENED).when(GwtDeposit(uuid4(), 5))
    message = _failure(lambda: scenario.then_raises(GwtRefused))
    assert "expected GwtRefused, but the command succeeded" in message
    assert repr(GwtDeposited(5)) in message


def test_then_raises_fails_on_another_message():
    """then_raises(match=...) fails when the error does not mention the text."""
    scenario = given(GwtAccount, OPENED).when(GwtDeposit(uuid4(), 0))
    message = _failure(lambda: scenario.then_raises(GwtRefused, match="overdrawn"))
    assert "'overdrawn'" in message
    assert "cannot deposit 0" in message


def test_then_state_fails_naming_the_check_and_showing_the_state():
    """then_state fails when the predicate is false, naming it and showing the aggregate."""

    def is_rich(account: GwtAccount) -> bool:
        return account.balance > 100

    scenario = given(GwtAccount, OPENED).when(GwtDeposit(uuid4(), 5))
    message = _failure(lambda: scenario.then_state(is_rich))
    assert "'is_rich' failed" in message
    assert "balance=5" in message


# -- existence rules and misuse ----------------------------------------------------------


def test_creation_command_with_history_is_already_exists():
    """A create=True command given a history raises AggregateAlreadyExists."""
    given(GwtAccount, OPENED).when(GwtOpen(uuid4(), "bob")).then_raises(esf.AggregateAlreadyExists)


def test_non_creation_command_without_history_is_not_found():
    """A command for an existing aggregate given no history raises AggregateNotFound."""
    given(GwtAccount).when(GwtDeposit(uuid4(), 5)).then_raises(esf.AggregateNotFound)


def test_unhandled_command_is_no_handler_at_once():
    """when() with a command the aggregate does not handle raises NoHandler immediately."""
    with pytest.raises(esf.NoHandler, match="GwtElsewhere"):
        given(GwtAccount, OPENED).when(GwtElsewhere(uuid4()))


def test_checks_before_when_are_a_definition_error():
    """then*() before when() is a mistake in the test, reported as such."""
    scenario = given(GwtAccount, OPENED)
    with pytest.raises(esf.DefinitionError, match=r"\.when\(command\)"):
        scenario.then()
    with pytest.raises(esf.DefinitionError):
        scenario.then_raises(GwtRefused)


def test_given_needs_a_declared_aggregate():
    """given() of an undecorated aggregate class is a DefinitionError."""

    class Undecorated(esf.Aggregate):
        pass

    with pytest.raises(esf.DefinitionError):
        given(Undecorated)


def test_scenario_aggregate_is_closed_after_when():
    """The aggregate a scenario ran on refuses record() afterwards, like a stored one."""
    scenario = given(GwtAccount, OPENED).when(GwtDeposit(uuid4(), 5))
    assert scenario.aggregate is not None
    with pytest.raises(esf.RecordOutsideHandler):
        scenario.aggregate.record(GwtDeposited(1))


def test_a_command_without_a_valid_target_is_captured_for_then_raises():
    """A command whose target is not an id fails in then_raises, not in when()."""
    bad = GwtDeposit("not-an-id", 1)  # type: ignore[arg-type]
    given(GwtAccount, GwtOpened(owner="ann")).when(bad).then_raises(esf.InvalidTarget)
