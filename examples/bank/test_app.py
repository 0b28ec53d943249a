"""The bank example: rules given-when-then, and transfers through a store."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from uuid import UUID, uuid4

import pytest

import esframework as esf
from esframework.testing import given

from .app import make_app, transfer
from .domain import (
    Account,
    AccountOpened,
    Deposit,
    InsufficientFunds,
    InvalidAmount,
    MoneyDeposited,
    MoneyWithdrawn,
    OpenAccount,
    Withdraw,
)


def test_withdrawal_within_the_balance_is_recorded() -> None:
    """Money within the balance can be withdrawn."""
    given(Account, AccountOpened(owner="ann"), MoneyDeposited(amount=Decimal(10))).when(
        Withdraw(uuid4(), Decimal(4))
    ).then(MoneyWithdrawn(amount=Decimal(4))).then_state(lambda a: a.balance == 6)


def test_overdraft_is_refused() -> None:
    """A withdrawal larger than the balance is a domain error."""
    given(Account, AccountOpened(owner="ann"), MoneyDeposited(amount=Decimal(10))).when(
        Withdraw(uuid4(), Decimal(11))
    ).then_raises(InsufficientFunds)


@pytest.mark.parametrize("amount", [Decimal(0), Decimal(-5)])
def test_amounts_must_be_positive(amount: Decimal) -> None:
    """Zero and negative deposits are refused."""
    given(Account, AccountOpened(owner="ann")).when(Deposit(uuid4(), amount)).then_raises(
        InvalidAmount
    )


@pytest.fixture
def app() -> Iterator[esf.Application]:
    """The bank over its configured store (in memory unless BANK_STORE_URL says else)."""
    with make_app() as application:
        yield application


def _open(app: esf.Application, owner: str, deposit: Decimal) -> UUID:
    account = uuid4()
    app.handle(OpenAccount(account, owner), user_id="clerk")
    app.handle(Deposit(account, deposit), user_id="clerk")
    return account


def test_transfer_moves_money_in_one_commit(app: esf.Application) -> None:
    """A transfer stores the withdrawal and the deposit together, under one command."""
    ann, bob = _open(app, "ann", Decimal(100)), _open(app, "bob", Decimal(5))
    transfer(app, ann, bob, Decimal(30), user_id="ann")
    assert app.load(Account, ann).balance == 70
    assert app.load(Account, bob).balance == 35
    withdrawal = list(app.store.read_stream(ann))[-1]
    deposit = list(app.store.read_stream(bob))[-1]
    assert withdrawal.metadata["command_id"] == deposit.metadata["command_id"]
    assert deposit.position == withdrawal.position + 1
    assert app.verify().ok


def test_refused_transfer_changes_neither_account(app: esf.Application) -> None:
    """When the withdrawal is refused, the deposit is not stored either."""
    ann, bob = _open(app, "ann", Decimal(10)), _open(app, "bob", Decimal(1))
    with pytest.raises(InsufficientFunds):
        transfer(app, ann, bob, Decimal(50), user_id="ann")
    assert app.store.stream_version(ann) == 2
    assert app.store.stream_version(bob) == 2
    assert app.load(Account, bob).balance == 1


def test_past_balances_stay_readable(app: esf.Application) -> None:
    """Every earlier state of an account can be loaded by version."""
    ann, bob = _open(app, "ann", Decimal(100)), _open(app, "bob", Decimal(1))
    transfer(app, ann, bob, Decimal(60), user_id="ann")
    assert [app.load(Account, ann, at_version=v).balance for v in (1, 2, 3)] == [0, 100, 40]
