"""Replay equals live state: the property event sourcing rests on.

Random sequences of deposits and withdrawals (some refused) run on the README's bank
account. The state the handlers built as they ran, the state app.load() replays from
the store, the state given(...) replays from the stored events, and a plain model of
the account must all agree, now and at every past version.
"""

from __future__ import annotations

import contextlib
from decimal import Decimal
from uuid import UUID, uuid4

from hypothesis import given, settings
from hypothesis import strategies as st

import esframework as esf
from esframework import testing


@esf.event
class ReplayOpened:
    owner: str


@esf.event
class ReplayDeposited:
    amount: Decimal


@esf.event
class ReplayWithdrawn:
    amount: Decimal


@esf.command(target="account_id")
class ReplayOpen:
    account_id: UUID
    owner: str


@esf.command(target="account_id")
class ReplayDeposit:
    account_id: UUID
    amount: Decimal


@esf.command(target="account_id")
class ReplayWithdraw:
    account_id: UUID
    amount: Decimal


@esf.command(target="account_id")
class ReplayInspect:
    """Records nothing: lets given(...) replay a history without changing it."""

    account_id: UUID


class ReplayInvalidAmount(esf.DomainError):
    pass


class ReplayInsufficientFunds(esf.DomainError):
    pass


REFUSALS = (ReplayInvalidAmount, ReplayInsufficientFunds)


@esf.aggregate
class ReplayAccount(esf.Aggregate):
    owner: str = ""
    balance: Decimal = Decimal(0)
    movements: int = 0

    @esf.handles(create=True)
    def open(self, cmd: ReplayOpen) -> None:
        self.record(ReplayOpened(owner=cmd.owner))

    @esf.handles
    def deposit(self, cmd: ReplayDeposit) -> None:
        if cmd.amount <= 0:
            raise ReplayInvalidAmount(f"cannot deposit {cmd.amount}")
        self.record(ReplayDeposited(amount=cmd.amount))

    @esf.handles
    def withdraw(self, cmd: ReplayWithdraw) -> None:
        if cmd.amount <= 0:
            raise ReplayInvalidAmount(f"cannot withdraw {cmd.amount}")
        if cmd.amount > self.balance:
            raise ReplayInsufficientFunds(f"{cmd.amount} is more than {self.balance}")
        self.record(ReplayWithdrawn(amount=cmd.amount))

    @esf.handles
    def inspect(self, cmd: ReplayInspect) -> None:
        pass

    @esf.applies
    def _opened(self, e: ReplayOpened) -> None:
        self.owner = e.owner

    @esf.applies
    def _deposited(self, e: ReplayDeposited) -> None:
        self.balance += e.amount
        self.movements += 1

    @esf.applies
    def _withdrawn(self, e: ReplayWithdrawn) -> None:
        self.balance -= e.amount
        self.movements += 1


AMOUNTS = st.decimals(min_value=-20, max_value=150, places=2)
STEPS = st.lists(st.tuples(st.sampled_from([ReplayDeposit, ReplayWithdraw]), AMOUNTS), max_size=25)


def _model(steps: list[tuple[type, Decimal]]) -> list[Decimal]:
    """The balance after each accepted movement, computed without esframework."""
    balances = [Decimal(0)]
    for kind, amount in steps:
        if amount <= 0 or (kind is ReplayWithdraw and amount > balances[-1]):
            continue
        balances.append(balances[-1] + (amount if kind is ReplayDeposit else -amount))
    return balances


def _app() -> esf.Application:
    return esf.Application(esf.connect("memory://"), aggregates=[ReplayAccount])


def _handle_each(app: esf.Application, account_id: UUID, steps) -> None:
    """Open the account, then send every step as its own command; refusals store nothing."""
    app.handle(ReplayOpen(account_id, "ann"))
    for kind, amount in steps:
        with contextlib.suppress(*REFUSALS):
            app.handle(kind(account_id, amount))


def _replayed_by_given(app: esf.Application, account_id: UUID) -> ReplayAccount:
    history = [r.event for r in app.store.read_stream(account_id)]
    scenario = testing.given(ReplayAccount, *history, aggregate_id=account_id)
    scenario.when(ReplayInspect(account_id)).then_nothing()
    assert scenario.aggregate is not None
    return scenario.aggregate


@settings(max_examples=60, deadline=None)
@given(STEPS)
def test_replay_equals_live_state(steps):
    """Live state, app.load(), given(...) replay and the model agree after any commands."""
    account_id = uuid4()

    # Through app.handle: every command in its own commit.
    handled = _app()
    _handle_each(handled, account_id, steps)

    # Live: one aggregate in memory takes every command, then commits once.
    live_app = _app()
    with live_app.unit_of_work() as uow:
        live = uow.handle(ReplayOpen(account_id, "ann"))
        for kind, amount in steps:
            with contextlib.suppress(*REFUSALS):
                uow.handle(kind(account_id, amount))

    balances = _model(steps)
    assert isinstance(live, ReplayAccount)
    assert (live.balance, live.movements, live.version) == (
        balances[-1],
        len(balances) - 1,
        len(balances),
    )
    assert live.pending_events == ()
    assert live_app.load(ReplayAccount, account_id) == live
    assert handled.load(ReplayAccount, account_id) == live
    assert _replayed_by_given(handled, account_id) == live
    assert [r.event for r in handled.store.read_stream(account_id)] == [
        r.event for r in live_app.store.read_stream(account_id)
    ]
    assert handled.verify().ok


@settings(max_examples=40, deadline=None)
@given(STEPS)
def test_past_versions_replay_the_model_history(steps):
    """load(at_version=v) gives the balance the model had after its v-th event."""
    app = _app()
    account_id = uuid4()
    _handle_each(app, account_id, steps)
    balances = _model(steps)
    assert app.store.stream_version(account_id) == len(balances)
    past = [app.load(ReplayAccount, account_id, at_version=v) for v in range(1, len(balances) + 1)]
    assert [a.balance for a in past] == balances
    assert [a.version for a in past] == list(range(1, len(balances) + 1))
