"""The bank application: the store from BANK_STORE_URL, and transfers between accounts.

A transfer is a withdrawal from one account and a deposit into another, committed
together in one unit of work: both are stored or neither is.
"""

from __future__ import annotations

import os
from decimal import Decimal
from uuid import UUID

import esframework as esf

from .domain import Account, Deposit, Withdraw

__all__ = ["STORE_URL_VARIABLE", "make_app", "transfer"]

STORE_URL_VARIABLE = "BANK_STORE_URL"


def make_app(url: str | None = None) -> esf.Application:
    """The bank over the store at ``url``, else ``$BANK_STORE_URL``, else in memory."""
    url = url or os.environ.get(STORE_URL_VARIABLE) or "memory://"
    return esf.Application(esf.connect(url), aggregates=[Account])


def transfer(
    app: esf.Application, source: UUID, target: UUID, amount: Decimal, *, user_id: str
) -> None:
    """Move ``amount`` from ``source`` to ``target``, atomically.

    Runs as a function so that, if another writer changes either account meanwhile,
    the default conflict strategy (``RetryCommand``) reruns it on the fresh balances.
    """

    def move(uow: esf.UnitOfWork) -> None:
        uow.handle(Withdraw(source, amount))
        uow.handle(Deposit(target, amount))

    app.unit_of_work(move, user_id=user_id)
