"""The events the store contract appends: plain, exact, floating, hostile, unstorable."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs

import esframework as esf

__all__ = ["HOSTILE", "Counted", "Measured", "Noted", "Opaque", "Unstorable", "notes"]


@esf.event(name="esf.contract.Noted")
class Noted:
    """A plain event for the contract tests."""

    text: str


@esf.event(name="esf.contract.Counted")
class Counted:
    """An event with exact numbers and times."""

    n: int
    amount: Decimal = Decimal(0)
    at: datetime | None = None


@esf.event(name="esf.contract.Measured")
class Measured:
    """An event with floats and free-form JSON, whose stored form stores may normalise."""

    values: list[float]
    extra: dict[str, Any] = attrs.field(factory=dict)


class Opaque:
    """An object no converter knows how to store."""

    def __repr__(self) -> str:
        return "<Opaque>"


@esf.event(name="esf.contract.Unstorable")
class Unstorable:
    """An event whose payload cannot become JSON."""

    thing: Any


HOSTILE = "'; DROP TABLE events; -- \" \\ \x01 é 𝄞 %s {} $1"


def notes(*texts: str) -> list[Noted]:
    """One ``Noted`` per text."""
    return [Noted(text=t) for t in texts]
