"""Fixtures shared by the test suite: the store contract runs over every store here.

PostgreSQL tests use ``ESF_TEST_POSTGRES_URL`` (default: the local server's ``test``
database), each in a schema of its own. Without a server they skip, saying why;
with ``CI=true`` a missing server fails them instead, so CI cannot pass by skipping.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import esframework as esf
from esframework.adapters import redact
from esframework.adapters.base import EventStore
from esframework.testing.clock import FakeClock
from esframework.testing.stores import fresh_store

POSTGRES_URL = os.environ.get("ESF_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")

STORES = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
SQL_STORES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The test server's URL, once it answered; skip (fail on CI) when it does not."""
    try:
        with fresh_store(POSTGRES_URL, connect_timeout=5):
            pass
    except esf.StoreUnavailable as exc:
        reason = (
            f"PostgreSQL at {redact(POSTGRES_URL)} is unavailable ({exc}); start it or set "
            "ESF_TEST_POSTGRES_URL"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and {reason}")
        pytest.skip(reason)
    return POSTGRES_URL


def store_url(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a new database of ``kind`` (memory, sqlite or postgres)."""
    if kind == "memory":
        return "memory://"
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'events.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EventStore]:
    """A fresh, empty store of each kind (SQLite on a file, PostgreSQL in its own schema).

    Its clock is a FakeClock, so that tests can move time, even backwards.
    """
    with fresh_store(store_url(request.param, request, tmp_path), clock=FakeClock()) as s:
        yield s


@pytest.fixture(params=SQL_STORES)
def sql_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a new SQL database of each kind (PostgreSQL: pass a schema of your own)."""
    return store_url(request.param, request, tmp_path)
