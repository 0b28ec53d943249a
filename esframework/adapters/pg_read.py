"""The read side on PostgreSQL: its SQL dialect, LISTEN/NOTIFY wake-ups, advisory leases.

- Every append sends ``NOTIFY`` on the store's channel inside its transaction (so it
  is delivered at commit, with the new head as payload). One listening connection per
  store serves all its waiters; it is opened with the first waiter and closed with
  the last. When it drops, it reconnects with backoff, and waiters fall back to
  reading the head once per wait: a lost notification costs latency, never an event.
- A projection runner's lease is ``pg_try_advisory_lock`` on a connection of its own:
  held while the runner lives, released by PostgreSQL when its connection goes, so a
  waiting runner in another process can take over.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

import psycopg
import sqlalchemy as sa

from esframework.adapters.read_base import Lease
from esframework.adapters.sql_read import SqlWaiter
from esframework.adapters.sql_view_sql import Dialect
from esframework.errors import StoreUnavailable
from esframework.views import Column

if TYPE_CHECKING:
    from esframework.adapters.memory_views import LocalLeases
    from esframework.adapters.postgres import PostgresStore
    from esframework.adapters.sql import SqlStore

__all__ = ["PgDialect", "PgLease", "PgListener", "channel_name"]

log = logging.getLogger("esframework.adapters.postgres")


def _key(purpose: str, scope: str) -> int:
    digest = hashlib.sha256(f"esframework:{purpose}:{scope}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def channel_name(schema: str) -> str:
    """The NOTIFY channel of the store in ``schema`` (an identifier, 63 bytes at most)."""
    return f"esf_events_{hashlib.sha256(schema.encode()).hexdigest()[:16]}"


def _detached(store: SqlStore) -> psycopg.Connection[Any]:
    """A connection of the store's own set-up (schema, time zone), out of its pool for good.

    Closing it closes it: the pool neither counts nor reuses it.
    """
    try:
        raw = store.engine.raw_connection()
    except sa.exc.DBAPIError as exc:
        raise store._translate(exc.orig or exc) from exc
    db: psycopg.Connection[Any] = raw.driver_connection  # type: ignore[assignment]
    raw.detach()
    db.autocommit = True
    return db


class PgLease:
    """A session advisory lock on a connection kept for it; see the module docs.

    A runner waiting for the lease asks again on the same connection, and a held
    lease checks its connection at most once a second.
    """

    CHECK_EVERY = 1.0

    def __init__(self, store: SqlStore, key: int) -> None:
        self._store = store
        self._key = key
        self._db: psycopg.Connection[Any] | None = None
        self._checked = 0.0
        self._held = False

    def acquire(self) -> bool:
        if self.held():
            return True
        try:
            if self._db is None:
                self._db = _detached(self._store)
            got = self._db.execute(
                "SELECT pg_try_advisory_lock(%(key)s)", {"key": self._key}
            ).fetchone()
        except psycopg.Error as exc:
            self._close()
            raise self._store._translate(exc) from exc
        self._held = bool(got and got[0])
        self._checked = time.monotonic()
        return self._held

    def held(self) -> bool:
        if not self._held or self._db is None:
            return False
        if time.monotonic() - self._checked >= self.CHECK_EVERY:
            self._checked = time.monotonic()
            try:
                self._db.execute("SELECT 1")
            except psycopg.Error:
                self._close()
        return self._held

    def _close(self) -> None:
        self._held = False
        if self._db is not None:
            with contextlib.suppress(psycopg.Error):
                self._db.close()
            self._db = None

    def release(self) -> None:
        if self._held and self._db is not None:
            with contextlib.suppress(psycopg.Error):
                self._db.execute("SELECT pg_advisory_unlock(%(key)s)", {"key": self._key})
        self._close()


class PgListener:
    """One LISTEN connection per store, shared by its waiters, reconnecting with backoff."""

    def __init__(self, store: PostgresStore) -> None:
        self._store = store
        self._users = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self) -> None:
        with self._lock:
            self._users += 1
            if self._thread is None:
                self._stop.clear()
                self._thread = threading.Thread(
                    target=self._run, name="esf-pg-listener", daemon=True
                )
                self._thread.start()

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            thread = self._thread if self._users == 0 else None
            if thread is not None:
                self._stop.set()
                self._thread = None
        if thread is not None:
            thread.join(30)

    def stop(self) -> None:
        with self._lock:
            thread, self._thread, self._users = self._thread, None, 0
            self._stop.set()
        if thread is not None:
            thread.join(30)

    def _run(self) -> None:
        store, failures = self._store, 0
        channel = channel_name(store._read_scope)
        while not self._stop.is_set():
            db = None
            try:
                db = _detached(store)
                db.execute(f'LISTEN "{channel}"')
                failures = 0
                store._seen_head(None)  # notifications may have been missed: look again
                while not self._stop.is_set():
                    for note in db.notifies(timeout=0.1):
                        store._seen_head(int(note.payload) if note.payload.isdigit() else None)
            except (psycopg.Error, StoreUnavailable) as exc:
                failures += 1
                delay = min(0.05 * 2**failures, 5.0)
                log.warning("LISTEN connection lost (%s); reconnecting in %.2fs", exc, delay)
                self._stop.wait(delay)
            except Exception:  # e.g. the store was closed under the listener
                log.exception("LISTEN connection failed; reconnecting")
                self._stop.wait(1.0)
            finally:
                if db is not None:
                    with contextlib.suppress(psycopg.Error):
                        db.close()


class PgWaiter(SqlWaiter):
    """Woken by NOTIFY (any process) and this process's commits; one head read per wait."""

    def __init__(self, store: PostgresStore) -> None:
        super().__init__(store, store.read_models().head)
        self._listener = store._listener
        self._listener.acquire()
        self._closed = False

    def close(self) -> None:
        super().close()
        if not self._closed:
            self._closed = True
            self._listener.release()


class PgDialect(Dialect):
    """PostgreSQL: typed columns, text in byte order (``COLLATE "C"``), row locks."""

    for_update = " FOR UPDATE"
    json_type = "JSONB"

    def __init__(self, scope: str) -> None:
        self._ddl_key = _key("read-models", scope)
        self._scope = scope

    def ph(self, name: str) -> str:
        return f"%({name})s"

    def json_ph(self, name: str) -> str:
        return f"%({name})s::jsonb"

    def column_type(self, col: Column) -> str:
        if col.kind == "enum":
            ints = any(isinstance(m.value, int) for m in col.type)  # type: ignore[attr-defined]
            return "BIGINT" if ints else 'TEXT COLLATE "C"'
        return {
            "str": 'TEXT COLLATE "C"',
            "int": "BIGINT",
            "float": "DOUBLE PRECISION",
            "bool": "BOOLEAN",
            "decimal": "NUMERIC",
            "datetime": "TIMESTAMPTZ",
            "date": "DATE",
            "uuid": "UUID",
        }[col.kind]

    def lock_appends(self, db: Any, store: SqlStore) -> None:
        store._lock(db)

    def lock_ddl(self, db: Any, store: SqlStore) -> None:
        db.execute("SELECT pg_advisory_xact_lock(%(key)s)", {"key": self._ddl_key})

    def lease(self, store: SqlStore, local: LocalLeases, name: str) -> Lease:
        return PgLease(store, _key(f"projection:{name}", self._scope))
