"""Bank accounts: open, deposit, withdraw; money never goes below zero.

Events are stored under explicit names ("bank.MoneyDeposited"), so renaming a class
never changes what is stored.
"""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID

import esframework as esf

__all__ = [
    "Account",
    "AccountOpened",
    "Deposit",
    "InsufficientFunds",
    "InvalidAmount",
    "MoneyDeposited",
    "MoneyWithdrawn",
    "OpenAccount",
    "Withdraw",
]


class InvalidAmount(esf.DomainError):
    """Amounts moved in or out of an account must be positive."""


class InsufficientFunds(esf.DomainError):
    """A withdrawal larger than the balance."""


@esf.event(name="bank.AccountOpened")
class AccountOpened:
    owner: str


@esf.event(name="bank.MoneyDeposited")
class MoneyDeposited:
    amount: Decimal


@esf.event(name="bank.MoneyWithdrawn")
class MoneyWithdrawn:
    amount: Decimal


@esf.command(target="account_id")
class OpenAccount:
    account_id: UUID
    owner: str


@esf.command(target="account_id")
class Deposit:
    account_id: UUID
    amount: Decimal


@esf.command(target="account_id")
class Withdraw:
    account_id: UUID
    amount: Decimal


def _positive(amount: Decimal) -> Decimal:
    if amount <= 0:
        raise InvalidAmount(f"amounts must be positive, got {amount}")
    return amount


@esf.aggregate
class Account(esf.Aggregate):
    owner: str = ""
    balance: Decimal = Decimal(0)

    @esf.handles(OpenAccount, create=True)
    def open(self, cmd: OpenAccount) -> None:
        self.record(AccountOpened(owner=cmd.owner))

    @esf.handles
    def deposit(self, cmd: Deposit) -> None:
        self.record(MoneyDeposited(amount=_positive(cmd.amount)))

    @esf.handles
    def withdraw(self, cmd: Withdraw) -> None:
        amount = _positive(cmd.amount)
        if amount > self.balance:
            raise InsufficientFunds(
                f"account {self.id} holds {self.balance}, cannot withdraw {amount}"
            )
        self.record(MoneyWithdrawn(amount=amount))

    @esf.applies
    def _opened(self, e: AccountOpened) -> None:
        self.owner = e.owner

    @esf.applies
    def _deposited(self, e: MoneyDeposited) -> None:
        self.balance += e.amount

    @esf.applies
    def _withdrawn(self, e: MoneyWithdrawn) -> None:
        self.balance -= e.amount
