"""Upcasters in use: old payloads read as the current class, and the checking helpers."""

from __future__ import annotations

import decimal
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest

import esframework as esf
from esframework.testing import check_upcast_chain, check_upcaster

reg = esf.Registry()


@esf.event(name="Paid", version=1, registry=reg)
class PaidV1:
    cents: int


@esf.event(name="Paid", version=3, registry=reg)
class Paid:
    amount: Decimal
    currency: str
    memo: str = ""


EXACT = decimal.Context(prec=decimal.MAX_PREC)  # moving a decimal point must not round


@esf.upcaster("Paid", from_version=1, registry=reg)
def _paid_v1(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "currency": "EUR"}


@esf.upcaster("Paid", from_version=2, registry=reg)
def _paid_v2(data: dict[str, Any]) -> dict[str, Any]:
    cents = data.pop("cents")
    return {**data, "amount": str(Decimal(cents).scaleb(-2, EXACT))}


def test_old_events_are_read_as_the_current_class() -> None:
    """An event stored at version 1 is read through every step as the version-3 class."""
    store = esf.connect("memory://", codec=esf.EventCodec(reg))
    sid = uuid4()
    store.append(sid, [PaidV1(cents=1250)], expected_version=0)
    (rec,) = store.read_stream(sid)
    assert (rec.event_type, rec.schema_version) == ("Paid", 1)
    assert rec.event == Paid(amount=Decimal("12.5"), currency="EUR")
    assert rec.data == {"cents": 1250}  # stored events are never rewritten
    (again,) = store.read_all()
    assert again.event == rec.event


def test_check_upcaster_passes_a_step_that_keeps_fields() -> None:
    """check_upcaster returns the new payload of a step that keeps every old field."""
    assert check_upcaster("Paid", 1, {"cents": 5}, registry=reg) == {"cents": 5, "currency": "EUR"}


def test_check_upcaster_names_a_lost_field() -> None:
    """A step that drops a field fails the check, naming it, unless it is declared."""
    with pytest.raises(AssertionError, match=r"lost field\(s\) \['cents'\]"):
        check_upcaster("Paid", 2, {"cents": 5, "currency": "EUR"}, registry=reg)
    new = check_upcaster(
        "Paid", 2, {"cents": 5, "currency": "EUR"}, renames={"cents": "amount"}, registry=reg
    )
    assert new == {"amount": "0.05", "currency": "EUR"}


def test_check_upcast_chain_decodes_to_the_current_class() -> None:
    """The chain helper runs every step and decodes the result."""
    event = check_upcast_chain(
        "Paid", 1, {"cents": 199}, renames={"cents": "amount"}, registry=reg
    )
    assert event == Paid(amount=Decimal("1.99"), currency="EUR")


def test_upcaster_output_that_does_not_fit_names_the_event_and_step() -> None:
    """An upcast payload that cannot structure is an UpcastError naming type and version."""
    bad = esf.Registry()

    @esf.event(name="Late", version=2, registry=bad)
    class Late:
        when: int

    @esf.upcaster("Late", from_version=1, registry=bad)
    def _late(data: dict[str, Any]) -> dict[str, Any]:
        return {"when": "not a number"}

    with pytest.raises(esf.UpcastError, match=r"'Late' \(version 1\)"):
        esf.EventCodec(bad).decode("Late", 1, {"x": 1}, where="position 7: ")
