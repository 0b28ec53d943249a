"""The esframework pytest plugin: ``event_store``, ``esf_store_url`` and ``fake_clock``.

Installed with esframework (entry point ``pytest11``), so any project's tests can ask
for these fixtures by name. ``event_store`` is an in-memory store unless told
otherwise, either on the command line::

    pytest --esf-store=sqlite                                  # a new SQLite file per test
    pytest --esf-store=postgresql://user@localhost/test        # a new schema per test

or by overriding ``esf_store_url`` in a ``conftest.py``::

    @pytest.fixture(params=["memory://", "postgresql://user@localhost/test"])
    def esf_store_url(request):
        return request.param
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from esframework.adapters.base import EventStore
from esframework.testing.clock import FakeClock
from esframework.testing.stores import fresh_store

__all__ = ["esf_store_url", "event_store", "fake_clock"]


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--esf-store``: the store the ``event_store`` fixture opens."""
    parser.getgroup("esframework").addoption(
        "--esf-store",
        default="memory",
        metavar="STORE",
        help="store for the event_store fixture: memory (default), sqlite (a new file per "
        "test) or a store URL (postgresql://...: a new schema per test)",
    )


@pytest.fixture
def fake_clock() -> FakeClock:
    """A ``FakeClock`` starting at 2026-01-01T00:00:00Z."""
    return FakeClock()


@pytest.fixture
def esf_store_url(request: pytest.FixtureRequest) -> str:
    """The URL ``event_store`` connects to: ``--esf-store``, memory:// by default.

    Override it to run your tests on another store. PostgreSQL URLs get a schema of
    their own per test, dropped afterwards; give SQLite a new file per test.
    """
    choice = str(request.config.getoption("esf_store"))
    if choice == "memory":
        return "memory://"
    if choice == "sqlite":
        tmp_path: Path = request.getfixturevalue("tmp_path")
        return f"sqlite:///{tmp_path / 'events.db'}"
    return choice


@pytest.fixture
def event_store(esf_store_url: str, fake_clock: FakeClock) -> Iterator[EventStore]:
    """A fresh, empty event store on the fake clock, closed after the test."""
    with fresh_store(esf_store_url, clock=fake_clock) as store:
        yield store
