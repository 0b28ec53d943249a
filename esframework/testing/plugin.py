"""The esframework pytest plugin: ``event_store`` and ``fake_clock`` fixtures.

Installed with esframework (entry point ``pytest11``), so any project's tests can ask
for these fixtures by name.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import esframework as esf
from esframework.adapters.base import EventStore
from esframework.testing.clock import FakeClock

__all__ = ["event_store", "fake_clock"]


@pytest.fixture
def fake_clock() -> FakeClock:
    """A ``FakeClock`` starting at 2026-01-01T00:00:00Z."""
    return FakeClock()


@pytest.fixture
def event_store(fake_clock: FakeClock) -> Iterator[EventStore]:
    """A fresh, empty event store on the fake clock, closed after the test."""
    with esf.connect("memory://", clock=fake_clock) as store:
        yield store
