"""The bank account of the README, run against a real store: what ``esf demo`` shows.

Two accounts are opened, money is deposited and transferred (a withdrawal and a
deposit in one unit of work), a command is refused by a business rule, an account is
loaded as it was at an earlier version, and the stored events are printed with their
metadata and hashes before the audit chain is verified. Every run uses new account
ids, so the demo can run again on the same database.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from uuid import UUID, uuid4

import esframework as esf
from esframework.events import RecordedEvent

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
    "run",
]


@esf.event(name="esf.demo.AccountOpened")
class AccountOpened:
    """An account was opened for an owner."""

    owner: str


@esf.event(name="esf.demo.MoneyDeposited")
class MoneyDeposited:
    """Money was paid into an account."""

    amount: Decimal


@esf.event(name="esf.demo.MoneyWithdrawn")
class MoneyWithdrawn:
    """Money was taken out of an account."""

    amount: Decimal


@esf.command(target="account_id")
class OpenAccount:
    """Open a new account."""

    account_id: UUID
    owner: str


@esf.command(target="account_id")
class Deposit:
    """Pay money into an account."""

    account_id: UUID
    amount: Decimal


@esf.command(target="account_id")
class Withdraw:
    """Take money out of an account."""

    account_id: UUID
    amount: Decimal


class InvalidAmount(esf.DomainError):
    """Amounts must be positive."""


class InsufficientFunds(esf.DomainError):
    """An account cannot go below zero."""


@esf.aggregate(name="BankAccount")
class Account(esf.Aggregate):
    """A bank account that never goes below zero."""

    owner: str = ""
    balance: Decimal = Decimal(0)

    @esf.handles(OpenAccount, create=True)
    def open(self, cmd: OpenAccount) -> None:
        self.record(AccountOpened(owner=cmd.owner))

    @esf.handles
    def deposit(self, cmd: Deposit) -> None:
        if cmd.amount <= 0:
            raise InvalidAmount(f"cannot deposit {cmd.amount}: amounts must be positive")
        self.record(MoneyDeposited(amount=cmd.amount))

    @esf.handles
    def withdraw(self, cmd: Withdraw) -> None:
        if cmd.amount <= 0:
            raise InvalidAmount(f"cannot withdraw {cmd.amount}: amounts must be positive")
        if cmd.amount > self.balance:
            raise InsufficientFunds(
                f"{self.owner} cannot withdraw {cmd.amount}: the balance is {self.balance}"
            )
        self.record(MoneyWithdrawn(amount=cmd.amount))

    @esf.applies
    def _opened(self, e: AccountOpened) -> None:
        self.owner = e.owner

    @esf.applies
    def _deposited(self, e: MoneyDeposited) -> None:
        self.balance += e.amount

    @esf.applies
    def _withdrawn(self, e: MoneyWithdrawn) -> None:
        self.balance -= e.amount


def run(url: str, say: Callable[[str], object] = print) -> None:
    """Run the demo on the store at ``url``, telling what happens through ``say``."""
    with esf.connect(url) as store:
        app = esf.Application(store, aggregates=[Account])
        say(f"esframework demo on {store!r}")
        ann, bob = uuid4(), uuid4()
        names = {ann: "Ann", bob: "Bob"}
        app.handle(OpenAccount(ann, "Ann"), user_id="clerk-7")
        app.handle(OpenAccount(bob, "Bob"), user_id="clerk-7")
        say(f"Opened accounts for Ann ({ann}) and Bob ({bob})")
        app.handle(Deposit(ann, Decimal("100.00")), user_id="clerk-7")
        say("Deposited 100.00 into Ann's account")

        with app.unit_of_work(user_id="clerk-7") as uow:
            uow.handle(Withdraw(ann, Decimal("30.00")))
            uow.handle(Deposit(bob, Decimal("30.00")))
        say("Transferred 30.00 from Ann to Bob in one unit of work: both events or neither")

        try:
            app.handle(Withdraw(bob, Decimal("500.00")), user_id="clerk-9")
        except InsufficientFunds as refused:
            say(f"Refused: {refused} (nothing was stored)")

        now = app.load(Account, ann)
        then = app.load(Account, ann, at_version=2)
        say(
            f"Ann's balance is {now.balance} at version {now.version}; "
            f"at version {then.version} it was {then.balance}"
        )

        say("\nThe stored events of this run:")
        records = sorted(
            [*store.read_stream(ann), *store.read_stream(bob)], key=lambda r: r.position
        )
        for rec in records:
            say(_describe(rec, names))

        report = app.verify()
        verdict = "intact" if report.ok else f"BROKEN: {report.problems}"
        say(
            f"\nAudit of the whole store: {report.events} events in {report.streams} "
            f"streams, hash chains {verdict}"
        )


def _describe(rec: RecordedEvent, names: dict[UUID, str]) -> str:
    name = rec.event_type.removeprefix("esf.demo.")
    meta = ", ".join(f"{k}={v}" for k, v in rec.metadata.items())
    data = json.dumps(rec.data, sort_keys=True)
    return (
        f"  #{rec.position} {names[rec.stream_id]} v{rec.version} {name} {data}\n"
        f"      recorded {rec.recorded_at:%Y-%m-%d %H:%M:%S} UTC; {meta}\n"
        f"      hash {rec.hash[:16]}... chained to {rec.prev_hash[:16]}..."
    )
