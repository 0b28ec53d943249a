"""The SQLite store: one file (or memory), WAL, writers serialised by ``BEGIN IMMEDIATE``.

``esf.connect("sqlite:///path/to/events.db")`` opens (and creates) a file;
``esf.connect("sqlite://")`` an in-memory database that lives as long as the store,
shared by all threads through one connection.

- Journal mode WAL: readers never block the writer, nor the writer readers.
- ``synchronous="FULL"`` (default): a commit is on disk when ``append`` returns.
  ``synchronous="NORMAL"`` skips the sync at each commit; the database cannot be
  corrupted, but the last commits before a power cut (not a process crash) can be lost.
- ``busy_timeout`` (seconds, default 5): how long a writer waits for another
  process's write to finish before ``StoreUnavailable``.
- Every write runs in ``BEGIN IMMEDIATE``: it takes the database's write lock when it
  starts, so writers in several processes queue instead of failing half-way with
  "database is locked".
- Triggers refuse UPDATE and DELETE on ``events`` in the database itself.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar
from uuid import UUID

import sqlalchemy as sa

from esframework.adapters._common import PreparedEvent
from esframework.adapters.base import StoredPayload
from esframework.adapters.sql import BeforeCommit, SqlStore
from esframework.adapters.sql_read import SqliteWaiter
from esframework.adapters.sql_records import Row, RowParsers, stored_records
from esframework.adapters.sql_rows import (
    Head,
    insert_events,
    select_events,
    typed_page_sql,
    utc_offset,
    uuid_from_hex,
)
from esframework.adapters.sql_schema import utc_text
from esframework.adapters.sql_side import not_open
from esframework.adapters.sql_view_sql import SqliteDialect
from esframework.errors import (
    EsfError,
    ImmutableEventError,
    InvalidStoreUrl,
    StoreError,
    StoreUnavailable,
)
from esframework.events import Clock, RecordedEvent
from esframework.serialization import EventCodec, load_stored

__all__ = ["SqliteStore"]

SYNCHRONOUS = ("FULL", "NORMAL", "EXTRA")
_UNAVAILABLE = (
    "SQLITE_CANTOPEN",
    "SQLITE_NOTADB",
    "SQLITE_IOERR",
    "SQLITE_READONLY",
    "SQLITE_FULL",
    "SQLITE_CORRUPT",
    "SQLITE_PERM",
    "SQLITE_LOCKED",
)
"""SQLite error names that mean the database file cannot be used as it is."""
IMMUTABLE = "esframework: stored events are immutable"

# A stream's head is its newest event: one seek of the (stream_id, version) index each.
_HEAD = (
    "SELECT stream_type, version, hash FROM events WHERE stream_id = ? "
    "ORDER BY version DESC LIMIT 1"
)
_HEADS = (
    "SELECT e.stream_id, e.stream_type, e.version, e.hash FROM json_each(?) AS s "
    "JOIN events AS e ON e.stream_id = s.value "
    "AND e.version = (SELECT max(version) FROM events WHERE stream_id = s.value)"
)
_BY_EVENT_ID = select_events("event_id IN (SELECT value FROM json_each(?))")
_LAST = "SELECT position, recorded_at FROM events ORDER BY position DESC LIMIT 1"
_INSERT_EVENTS = insert_events(f"VALUES ({', '.join('?' * 14)})")
_STREAM_PAGE = select_events(
    "stream_id = ? AND version > ? AND version <= ? ORDER BY version LIMIT ?"
)
_ALL_PAGE = select_events("position > ? ORDER BY position LIMIT ?")
_PAYLOAD_PAGE = (
    "SELECT version, stream_type, event_type, schema_version, data FROM events "
    "WHERE stream_id = ? AND version > ? AND version <= ? ORDER BY version LIMIT ?"
)
_VERSION = "SELECT max(version) FROM events WHERE stream_id = ?"


class SqliteStore(SqlStore):
    """An ``EventStore`` in an SQLite database file (or in memory)."""

    kind: ClassVar[str] = "SQLite"
    driver_errors: ClassVar[tuple[type[BaseException], ...]] = (sqlite3.Error,)

    def __init__(
        self,
        url: str | sa.URL = "sqlite://",
        *,
        codec: EventCodec | None = None,
        clock: Clock | None = None,
        synchronous: str = "FULL",
        busy_timeout: float = 5.0,
        pool_size: int = 5,
        page_size: int = 1000,
        require_user: bool = False,
        migrate: bool = True,
    ) -> None:
        sa_url = _parse(url)
        options = dict(sa_url.query)
        synchronous = str(options.pop("synchronous", synchronous)).upper()
        busy = options.pop("busy_timeout", busy_timeout)
        if options:
            raise InvalidStoreUrl(
                f"unknown option(s) {', '.join(sorted(options))} in {sa_url}: SQLite stores "
                "take ?synchronous=FULL|NORMAL and ?busy_timeout=seconds"
            )
        if synchronous not in SYNCHRONOUS:
            raise InvalidStoreUrl(
                f"synchronous={synchronous!r} is not a safe SQLite setting: use FULL (the "
                "default, every commit on disk) or NORMAL (faster; a power cut may lose the "
                "last commits)"
            )
        try:
            self.busy_timeout = float(busy)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise InvalidStoreUrl(f"busy_timeout must be seconds, got {busy!r}") from None
        self.synchronous = synchronous
        database = sa_url.database or ""
        memory = database in ("", ":memory:")
        self._path = None if memory else database
        sa_url = sa_url.set(query={})
        where = str(sa_url)
        if not migrate and not memory and not Path(database).exists():
            raise StoreUnavailable(
                f"there is no SQLite database at {where}: check the path (with "
                "migrate=False a store never creates one)"
            )
        sa_url = sa_url.set(drivername="sqlite+pysqlite")
        connect_args = {"check_same_thread": False, "timeout": self.busy_timeout}
        if memory:
            engine = sa.create_engine(
                sa_url, poolclass=sa.pool.StaticPool, connect_args=connect_args
            )
        else:
            engine = sa.create_engine(
                sa_url, pool_size=pool_size, max_overflow=2 * pool_size, connect_args=connect_args
            )
        sa.event.listen(engine, "connect", self._configure)
        super().__init__(
            engine,
            where=where,
            codec=codec,
            clock=clock,
            page_size=page_size,
            serialise=memory,
            require_user=require_user,
            migrate=migrate,
        )

    # -- the read side ------------------------------------------------------------

    def _read_dialect(self) -> SqliteDialect:
        return SqliteDialect(self.busy_timeout)

    def event_waiter(self) -> SqliteWaiter:
        """A waiter woken by this store's appends, and by a poll for other processes'."""
        self._check_open()
        return SqliteWaiter(self, self.read_models().head, self._path)

    def _configure(self, db: sqlite3.Connection, _record: object) -> None:
        """Each new connection: we begin transactions ourselves; WAL; durability."""
        db.isolation_level = None
        db.execute("PRAGMA journal_mode=WAL").fetchall()
        db.execute(f"PRAGMA synchronous={self.synchronous}")  # one of SYNCHRONOUS

    # -- schema -------------------------------------------------------------------

    def _schema_lock(self, conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    def _begin(self, conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    def _triggers(self) -> list[str]:
        return [
            f"CREATE TRIGGER events_refuse_{op.lower()} BEFORE {op} ON events "
            f"BEGIN SELECT RAISE(ABORT, '{IMMUTABLE}: {op} refused'); END"
            for op in ("UPDATE", "DELETE")
        ]

    # -- errors -------------------------------------------------------------------

    def _translate(self, exc: BaseException) -> EsfError:
        name = getattr(exc, "sqlite_errorname", "")
        if IMMUTABLE in str(exc):
            return ImmutableEventError(
                f"{exc}: events cannot be changed or deleted; append a correcting event instead"
            )
        if name == "SQLITE_BUSY" or "database is locked" in str(exc):
            return StoreUnavailable(
                f"SQLite database {self.where} stayed locked by another writer for more than "
                f"busy_timeout={self.busy_timeout}s: retry, or raise busy_timeout"
            )
        if name.startswith(_UNAVAILABLE) or "unable to open" in str(exc):
            return StoreUnavailable(
                f"cannot use SQLite database {self.where} ({exc}): check that the path exists, "
                "is writable and is an SQLite database"
            )
        if self._is_conflict(exc):
            return self._unique_violation(str(exc))
        return StoreError(f"SQLite error on {self.where}: {exc}")

    def _is_conflict(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.IntegrityError) and "UNIQUE" in str(exc)

    # -- writing ------------------------------------------------------------------

    def _lock(self, db: sqlite3.Connection) -> None:
        db.execute("BEGIN IMMEDIATE")

    def _pre_read(
        self, db: sqlite3.Connection, stream_ids: list[UUID], event_ids: list[UUID]
    ) -> tuple[dict[UUID, Head], list[RecordedEvent]]:
        heads: dict[UUID, Head] = {}
        if len(stream_ids) == 1:
            row = db.execute(_HEAD, (stream_ids[0].hex,)).fetchone()
            if row is not None:
                heads[stream_ids[0]] = Head(*row)
        elif stream_ids:
            ids = json.dumps([s.hex for s in stream_ids])
            heads = {UUID(row[0]): Head(*row[1:]) for row in db.execute(_HEADS, (ids,))}
        stored: list[RecordedEvent] = []
        if event_ids:
            eids = json.dumps([e.hex for e in event_ids])
            stored = self._records(db.execute(_BY_EVENT_ID, (eids,)).fetchall())
        return heads, stored

    def _rows(self, prepared: list[PreparedEvent]) -> list[tuple[Any, ...]]:
        """Event rows without position and recorded_at (known under the lock)."""
        rows = []
        # The events of a batch share one time object, unless given their own: convert
        # each object once. (Not keyed by value: equal instants may differ in offset.)
        when: datetime | None = None
        occurred: tuple[str, int] = ("", 0)
        for p in prepared:
            d = p.draft
            if d.occurred_at is not when:
                when = d.occurred_at
                occurred = (utc_text(when), utc_offset(when, d.event_type))
            rows.append(
                (
                    p.stream_id.hex,
                    p.stream_type,
                    p.version,
                    d.event_id.hex,
                    d.event_type,
                    d.schema_version,
                    d.data_json,
                    d.metadata_json,
                    *occurred,
                    p.prev_hash,
                    p.hash,
                )
            )
        return rows

    def _write(
        self,
        db: sqlite3.Connection,
        events: list[tuple[Any, ...]],
        *,
        lock: bool,
        before_commit: BeforeCommit | None = None,
    ) -> tuple[int, datetime]:
        if lock:
            self._lock(db)
        now = self._now()
        last, last_recorded = db.execute(_LAST).fetchone() or (0, "")
        recorded = utc_text(now)
        if recorded < last_recorded:  # fixed-width UTC text: text order is time order
            recorded, now = last_recorded, datetime.fromisoformat(last_recorded)
        db.executemany(
            _INSERT_EVENTS,
            [(last + i, *e[:10], recorded, *e[10:]) for i, e in enumerate(events, 1)],
        )
        if before_commit is not None:
            before_commit(db, int(last), now)
        db.commit()
        return int(last), now

    def _settle(self, db: sqlite3.Connection, conflict_id: UUID, now: datetime) -> None:
        settled = db.execute(
            "UPDATE esf_conflicts SET settled_at = ? WHERE id = ? AND settled_at IS NULL",
            (utc_text(now), conflict_id.hex),
        )
        if settled.rowcount != 1:
            raise not_open(conflict_id)

    # -- reading ------------------------------------------------------------------

    def _row_parsers(self) -> RowParsers:
        return RowParsers(self.codec, uuid_from_hex, datetime.fromisoformat)

    def _records(self, rows: Iterable[Row]) -> list[RecordedEvent]:
        return list(stored_records(rows, self._row_parsers()))

    def _select_stream(
        self, db: sqlite3.Connection, *, stream_id: UUID, after: int, last: int
    ) -> list[Row]:
        cursor = db.execute(_STREAM_PAGE, (stream_id.hex, after, last, self.page_size))
        return cursor.fetchall()

    def _select_payloads(
        self, db: sqlite3.Connection, *, stream_id: UUID, after: int, last: int
    ) -> list[StoredPayload]:
        loads = load_stored
        rows = db.execute(_PAYLOAD_PAGE, (stream_id.hex, after, last, self.page_size))
        return [(v, st, et, sv, loads(data)) for v, st, et, sv, data in rows.fetchall()]

    def _select_all_rows(
        self, db: sqlite3.Connection, *, after: int, limit: int, types: list[str] | None
    ) -> list[Row]:
        if types is None:
            cursor = db.execute(_ALL_PAGE, (after, limit))
        else:
            params = [p for t in types for p in (t, after, limit)]
            cursor = db.execute(typed_page_sql(len(types), "?"), (*params, limit))
        return cursor.fetchall()

    def _select_version(self, db: sqlite3.Connection, stream_id: UUID) -> int:
        row = db.execute(_VERSION, (stream_id.hex,)).fetchone()
        return 0 if row is None or row[0] is None else int(row[0])


def _parse(url: str | sa.URL) -> sa.URL:
    try:
        parsed = sa.make_url(url)
    except (sa.exc.ArgumentError, ValueError) as exc:
        raise InvalidStoreUrl(
            f"{url!r} is not an SQLite URL ({exc}): use sqlite:///path/to/file.db or sqlite://"
        ) from None
    if parsed.drivername not in ("sqlite", "sqlite+pysqlite"):
        raise InvalidStoreUrl(
            f"{parsed.drivername!r} is not served by the SQLite store: use sqlite:///path or "
            "sqlite:// (the standard library's sqlite3 driver)"
        )
    if parsed.host or parsed.username or parsed.port:
        raise InvalidStoreUrl(
            f"{url!r} names a host, but SQLite opens files: use sqlite:///relative/path.db or "
            "sqlite:////absolute/path.db (three or four slashes)"
        )
    return parsed
