"""Upcasting across a real restart: v1 code writes a SQLite file, v2 code reads it."""

from __future__ import annotations

import decimal
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

from hypothesis import given, settings

import esframework as esf
from esframework.testing import check_upcaster
from esframework.testing.strategies import payloads

# The code as it is now: the event is at version 2, with an upcaster from version 1.
registry = esf.Registry()


@esf.event(name="restart.Deposited", version=2, registry=registry)
class Deposited:
    amount: Decimal
    currency: str


EXACT = decimal.Context(prec=decimal.MAX_PREC)  # moving a decimal point must not round


@esf.upcaster("restart.Deposited", from_version=1, registry=registry)
def _v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    cents = data.pop("cents")
    return {**data, "amount": str(Decimal(cents).scaleb(-2, EXACT)), "currency": "EUR"}


@esf.command(target="id")
class Deposit:
    id: UUID
    amount: Decimal


@esf.aggregate(name="restart.Account")
class Account(esf.Aggregate):
    balance: Decimal = Decimal(0)

    @esf.handles
    def deposit(self, cmd: Deposit) -> None:
        self.record(Deposited(amount=cmd.amount, currency="EUR"))

    @esf.applies
    def _deposited(self, e: Deposited) -> None:
        self.balance += e.amount


OLD_CODE = """
import sys, uuid
import esframework as esf

@esf.event(name="restart.Deposited", version=1)
class Deposited:
    cents: int

store = esf.connect(sys.argv[1])
account = uuid.UUID(sys.argv[2])
store.append(account, [Deposited(cents=1250), Deposited(cents=99)], expected_version=0,
             stream_type="restart.Account")
store.close()
"""


def test_events_written_by_old_code_are_read_loaded_and_extended(tmp_path: Path) -> None:
    """A subprocess with the v1 class writes; this process reads v2, loads and appends."""
    url = f"sqlite:///{tmp_path / 'restart.db'}"
    account = UUID(int=42)
    subprocess.run(
        [sys.executable, "-c", textwrap.dedent(OLD_CODE), url, str(account)],
        check=True,
        capture_output=True,
    )
    with esf.connect(url, codec=esf.EventCodec(registry)) as store:
        first, _ = store.read_stream(account)
        assert (first.schema_version, first.data) == (1, {"cents": 1250})
        assert first.event == Deposited(amount=Decimal("12.5"), currency="EUR")
        app = esf.Application(store, aggregates=[Account])
        assert app.load(Account, account).balance == Decimal("13.49")
        app.handle(Deposit(account, Decimal("0.51")))
        assert app.load(Account, account).balance == Decimal("14.00")
        assert [r.schema_version for r in store.read_stream(account)] == [1, 1, 2]
        assert app.verify().ok


@settings(max_examples=50, deadline=None)
@given(old=payloads({"cents": int}))
def test_the_upcaster_keeps_every_old_field(old: dict[str, Any]) -> None:
    """For any stored v1 payload, the step keeps its amount (renamed) and adds currency."""
    new = check_upcaster(
        "restart.Deposited", 1, old, renames={"cents": "amount"}, registry=registry
    )
    assert Decimal(new["amount"]).scaleb(2, EXACT) == old["cents"]
    assert new["currency"] == "EUR"
