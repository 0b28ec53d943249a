"""Fixtures shared by the test suite: the store contract runs over every store here.

PostgreSQL tests use ``ESF_TEST_POSTGRES_URL`` (default: the local server's ``test``
database), each in a schema of its own. Without a server they skip, saying why;
with ``CI=true`` a missing server fails them instead, so CI cannot pass by skipping.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import attrs
import pytest
import sqlalchemy as sa

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
            f"PostgreSQL at {redact(POSTGRES_URL)} is unavailable; start it or set "
            f"ESF_TEST_POSTGRES_URL ({' '.join(str(exc).split())})"
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


@attrs.frozen
class Database:
    """A new SQL database for one test: connect to it as often as the test needs."""

    kind: str
    url: str
    options: dict[str, Any]

    def connect(self, **options: Any) -> EventStore:
        """A store on this database (close it, or use it in a with block)."""
        return esf.connect(self.url, **{**self.options, **options})


@pytest.fixture(params=SQL_STORES)
def sql_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A new SQLite file, or a new PostgreSQL schema (dropped afterwards)."""
    url = store_url(request.param, request, tmp_path)
    if request.param == "sqlite":
        yield Database("sqlite", url, {})
        return
    schema = f"esf_test_{uuid4().hex[:16]}"
    yield Database("postgres", url, {"schema": schema})
    _drop_schema(url, schema)


@pytest.fixture(params=SQL_STORES)
def sql_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a new SQL store, its PostgreSQL schema included, for tools given only a URL."""
    url = store_url(request.param, request, tmp_path)
    if request.param == "sqlite":
        yield url
        return
    schema = f"esf_test_{uuid4().hex[:16]}"
    yield f"{url}?schema={schema}"
    _drop_schema(url, schema)


def _drop_schema(url: str, schema: str) -> None:
    engine = sa.create_engine(sa.make_url(url).set(drivername="postgresql+psycopg"))
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        engine.dispose()


@attrs.frozen
class Bank:
    """A store holding the demo's bank: Ann opened, paid in 100.00, took out 30.00
    (positions 1, 3, 4); Bob opened and paid in 30.00 (positions 2, 5)."""

    url: str
    ann: UUID
    bob: UUID


@pytest.fixture
def bank(sql_url: str) -> Bank:
    """The demo bank in a new SQLite file or PostgreSQL schema, every event by clerk-7."""
    from esframework.demo import Account, Deposit, OpenAccount, Withdraw

    ann, bob = uuid4(), uuid4()
    with esf.Application(esf.connect(sql_url), aggregates=[Account]) as app:
        for cmd in (
            OpenAccount(ann, "Ann"),
            OpenAccount(bob, "Bob"),
            Deposit(ann, Decimal("100.00")),
            Withdraw(ann, Decimal("30.00")),
            Deposit(bob, Decimal("30.00")),
        ):
            app.handle(cmd, user_id="clerk-7")
    return Bank(sql_url, ann, bob)
