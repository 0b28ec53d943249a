"""Fixtures shared by the test suite: the store contract runs over every store here."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import esframework as esf
from esframework.adapters.base import EventStore

STORES = ["memory"]


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest) -> Iterator[EventStore]:
    """A fresh, empty store of each kind."""
    with esf.connect("memory://") as s:
        yield s
