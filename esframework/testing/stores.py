"""Fresh, empty stores for tests, on any URL ``esf.connect`` takes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit
from uuid import uuid4

import esframework as esf
from esframework.adapters.base import EventStore

__all__ = ["fresh_store", "is_postgres_url"]


def is_postgres_url(url: str) -> bool:
    """Whether ``url`` names a PostgreSQL database."""
    return urlsplit(url).scheme.split("+", 1)[0].lower() in ("postgresql", "postgres")


@contextmanager
def fresh_store(url: str, **options: Any) -> Iterator[EventStore]:
    """A new, empty store at ``url``, closed (and, in PostgreSQL, dropped) afterwards.

    A PostgreSQL URL gets a schema of its own, ``esf_test_<random>``, dropped with
    everything in it on exit, so that tests can share one database. ``memory://`` and
    ``sqlite://`` are new by nature; an SQLite file URL is used as given, so point it
    at a new file (e.g. in pytest's ``tmp_path``).
    """
    if not is_postgres_url(url):
        with esf.connect(url, **options) as store:
            yield store
        return
    from esframework.adapters.postgres import PostgresStore

    schema = f"esf_test_{uuid4().hex[:16]}"
    store = esf.connect(url, schema=schema, **options)
    assert isinstance(store, PostgresStore)
    try:
        yield store
    finally:
        store.close()
        try:
            with store.engine.begin() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            store.engine.dispose()
