"""The PostgreSQL store, on psycopg 3: many processes, one gap-free log per schema.

``esf.connect("postgresql://user:password@host:5432/db")`` (or ``postgresql+psycopg://``)
opens a pool of connections. Options:

- ``schema="name"`` (or ``?schema=name``): keep the store's tables in their own schema,
  created if missing, so that many stores share a database. Names are lower-case
  letters, digits and underscores.
- ``pool_size`` (5), ``max_overflow`` (10), ``pool_timeout`` (30 s), ``pool_recycle``
  (1800 s), ``pool_pre_ping`` (False: a stale connection is discarded when it fails,
  instead of a round trip before every use).
- ``connect_timeout`` (10 s, or ``?connect_timeout=``), and any other libpq parameter in
  the URL's query (``sslmode``, ``application_name``...).

Payloads are JSONB, times ``timestamptz``. Writers serialise position assignment with
``pg_advisory_xact_lock`` (see ``esframework.adapters.sql_append``); readers never wait.
Triggers refuse UPDATE, DELETE and TRUNCATE on ``events``.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, ClassVar
from uuid import UUID

import psycopg
import sqlalchemy as sa
from psycopg.pq import TransactionStatus

from esframework.adapters._common import PreparedEvent
from esframework.adapters.base import StoredPayload
from esframework.adapters.pg_read import (
    PgDialect,
    PgListener,
    PgWaiter,
    channel_name,
)
from esframework.adapters.sql import BeforeCommit, SqlStore
from esframework.adapters.sql_records import Row, RowParsers, stored_records
from esframework.adapters.sql_rows import (
    Head,
    select_events,
    typed_page_sql,
    utc_offset,
    uuid_from_bytes,
)
from esframework.adapters.sql_side import not_open
from esframework.errors import (
    EsfError,
    ImmutableEventError,
    InvalidStoreUrl,
    SerializationError,
    StoreError,
    StoreUnavailable,
)
from esframework.events import Clock, RecordedEvent
from esframework.serialization import EventCodec, load_stored

__all__ = ["PostgresStore"]

IDLE = TransactionStatus.IDLE

IMMUTABLE_SQLSTATE = "ZE001"
"""The SQLSTATE the immutability triggers raise."""

_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")

# A stream's head is its newest event: one backward seek of (stream_id, version) each.
_HEADS = (
    "SELECT h.stream_id, h.stream_type, h.version, h.hash "
    "FROM unnest(%(ids)b::uuid[]) AS s(id) CROSS JOIN LATERAL ("
    "SELECT stream_id, stream_type, version, hash FROM events WHERE stream_id = s.id "
    "ORDER BY version DESC LIMIT 1) AS h"
)
# The columns as read: ids as their 16 bytes and JSON as its text, which records parse
# only when a caller reads them (psycopg would build UUIDs and parse every JSON value).
_READ_COLUMNS = (
    "position, uuid_send(stream_id) AS stream_id, stream_type, version, "
    "uuid_send(event_id) AS event_id, event_type, schema_version, data::text AS data, "
    "metadata::text AS metadata, occurred_at, occurred_offset, recorded_at, prev_hash, hash"
)
_BY_EVENT_ID = select_events("event_id = ANY(%(ids)b::uuid[])", _READ_COLUMNS)
_LOCK = "SELECT pg_advisory_xact_lock(%(key)s)"
# One statement: positions after max(position), taken after the lock (a statement's
# snapshot is taken when it starts); recorded_at not before the last event's; the
# notification of the new head, which PostgreSQL delivers at commit. A large batch's
# columns go as arrays; a small one's (most appends, and groups of them) as plain
# values, which psycopg sends with far less work than arrays, whose dumping it does in
# Python.
_LAST = """
WITH locked AS (SELECT pg_advisory_xact_lock(%(key)s)),
last AS (
    SELECT coalesce(max(position), 0) AS position,
           greatest(%(now)s::timestamptz, max(recorded_at)) AS recorded_at
    FROM events, locked WHERE position = (SELECT max(position) FROM events)
),
new_events AS (
    INSERT INTO events (
        position, stream_id, stream_type, version, event_id, event_type, schema_version,
        data, metadata, occurred_at, occurred_offset, recorded_at, prev_hash, hash
    )"""
_NOTIFY = """
SELECT position, recorded_at, pg_notify(%(channel)s, (position + %(count)s)::text) FROM last
"""
_WRITE = (
    _LAST  # noqa: S608 - constant SQL; every value is a bound parameter
    + """
    SELECT last.position + e.n, e.stream_id, e.stream_type, e.version, e.event_id,
           e.event_type, e.schema_version, e.data, e.metadata, e.occurred_at,
           e.occurred_offset, last.recorded_at, e.prev_hash, e.hash
    FROM last, unnest(
        %(stream_id)b::uuid[], %(stream_type)b::text[], %(version)b::int[],
        %(event_id)b::uuid[], %(event_type)b::text[], %(schema_version)b::int[],
        %(data)b::jsonb[], %(metadata)b::jsonb[], %(occurred_at)b::timestamptz[],
        %(occurred_offset)b::int[], %(prev_hash)b::text[], %(hash)b::text[]
    ) WITH ORDINALITY AS e(
        stream_id, stream_type, version, event_id, event_type, schema_version, data,
        metadata, occurred_at, occurred_offset, prev_hash, hash, n
    )
)"""
    + _NOTIFY
)
_VALUES_COLUMNS = (
    ("stream_id", "uuid"),
    ("stream_type", "text"),
    ("version", "int"),
    ("event_id", "uuid"),
    ("event_type", "text"),
    ("schema_version", "int"),
    ("data", "text::jsonb"),
    ("metadata", "text::jsonb"),
    ("occurred_at", "timestamptz"),
    ("occurred_offset", "int"),
    ("prev_hash", "text"),
    ("hash", "text"),
)
MAX_VALUES_ROWS = 16
"""Batches up to this many events go as plain values, larger ones as arrays."""


@functools.lru_cache(maxsize=MAX_VALUES_ROWS)
def _write_values(count: int) -> str:
    """The write of ``count`` events with one parameter per value (``name_i``)."""
    rows = ",\n        ".join(
        "(" + ", ".join(f"%({name}_{i})b::{cast}" for name, cast in _VALUES_COLUMNS) + f", {i})"
        for i in range(1, count + 1)
    )
    return (
        _LAST  # noqa: S608 - constant SQL; every value is a bound parameter
        + """
    SELECT last.position + e.n, e.stream_id, e.stream_type, e.version, e.event_id,
           e.event_type, e.schema_version, e.data, e.metadata, e.occurred_at,
           e.occurred_offset, last.recorded_at, e.prev_hash, e.hash
    FROM last, (VALUES
        """
        + rows
        + """
    ) AS e(
        stream_id, stream_type, version, event_id, event_type, schema_version, data,
        metadata, occurred_at, occurred_offset, prev_hash, hash, n
    )
)"""
        + _NOTIFY
    )


_STREAM_PAGE = select_events(
    "stream_id = %s AND version > %s AND version <= %s ORDER BY version LIMIT %s", _READ_COLUMNS
)
_ALL_PAGE = select_events("position > %s ORDER BY position LIMIT %s", _READ_COLUMNS)
_PAYLOAD_PAGE = (
    "SELECT version, stream_type, event_type, schema_version, data::text FROM events "
    "WHERE stream_id = %s AND version > %s AND version <= %s ORDER BY version LIMIT %s"
)
_VERSION = "SELECT coalesce(max(version), 0) FROM events WHERE stream_id = %s"


def lock_key(purpose: str, schema: str) -> int:
    """A stable 64-bit advisory lock key for one purpose in one schema."""
    digest = hashlib.sha256(f"esframework:{purpose}:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class PostgresStore(SqlStore):
    """An ``EventStore`` in a PostgreSQL database (one schema of it)."""

    kind: ClassVar[str] = "PostgreSQL"
    driver_errors: ClassVar[tuple[type[BaseException], ...]] = (psycopg.Error,)

    def __init__(
        self,
        url: str | sa.URL,
        *,
        codec: EventCodec | None = None,
        clock: Clock | None = None,
        schema: str | None = None,
        pool_size: int = 5,
        max_overflow: int = 10,
        pool_timeout: float = 30.0,
        pool_recycle: float = 1800.0,
        pool_pre_ping: bool = False,
        connect_timeout: int = 10,
        page_size: int = 1000,
        require_user: bool = False,
        migrate: bool = True,
    ) -> None:
        sa_url, self.schema, where = _parse(url, schema)
        self._password = sa_url.password
        connect_args: dict[str, Any] = {}
        if "connect_timeout" not in sa_url.query:
            connect_args["connect_timeout"] = connect_timeout
        engine = sa.create_engine(
            sa_url,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=pool_timeout,
            pool_recycle=pool_recycle,
            pool_pre_ping=pool_pre_ping,
            connect_args=connect_args,
        )
        sa.event.listen(engine, "connect", self._configure)
        self._lock_key = 0
        self._read_scope = ""
        self._channel = ""
        self._listener = PgListener(self)
        if self.schema is not None:
            where += f" schema={self.schema}"
        super().__init__(
            engine,
            where=where,
            codec=codec,
            clock=clock,
            page_size=page_size,
            require_user=require_user,
            migrate=migrate,
        )

    def _configure(self, db: psycopg.Connection[Any], _record: object) -> None:
        """Each new connection: the store's schema first in the path; times in UTC."""
        db.autocommit = True
        if self.schema is not None:
            db.execute(f'SET search_path TO "{self.schema}"')  # validated by _parse
        db.execute("SET TIME ZONE 'UTC'")
        db.autocommit = False

    # -- schema -------------------------------------------------------------------

    def _schema_lock(self, conn: sa.Connection) -> None:
        key = lock_key("schema", self.schema or "")
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(%(key)s)", {"key": key})
        if self.schema is not None:
            conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')

    def _schema_ready(self, conn: sa.Connection) -> None:
        schema = conn.exec_driver_sql("SELECT current_schema()").scalar()
        self._lock_key = lock_key("log", str(schema))
        self._read_scope = str(schema)
        self._channel = channel_name(self._read_scope)

    def _triggers(self) -> list[str]:
        return [
            "CREATE FUNCTION esf_refuse_event_change() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION USING "
            "MESSAGE = 'esframework: stored events are immutable: ' || TG_OP || ' refused', "
            f"ERRCODE = '{IMMUTABLE_SQLSTATE}', HINT = 'append a correcting event instead'; "
            "END $$",
            "CREATE TRIGGER events_refuse_change BEFORE UPDATE OR DELETE ON events "
            "FOR EACH ROW EXECUTE FUNCTION esf_refuse_event_change()",
            "CREATE TRIGGER events_refuse_truncate BEFORE TRUNCATE ON events "
            "FOR EACH STATEMENT EXECUTE FUNCTION esf_refuse_event_change()",
        ]

    # -- the read side ------------------------------------------------------------

    def _read_dialect(self) -> PgDialect:
        return PgDialect(self._read_scope)

    def event_waiter(self) -> PgWaiter:
        """A waiter woken by NOTIFY from any process, polling once per wait as a fallback."""
        self._check_open()
        return PgWaiter(self)

    def _close_read_side(self) -> None:
        self._listener.stop()
        super()._close_read_side()

    # -- errors -------------------------------------------------------------------

    def _translate(self, exc: BaseException) -> EsfError:
        state = getattr(exc, "sqlstate", None) or ""
        message = " ".join(str(exc).split())
        if self._password:
            message = message.replace(self._password, "***")
        if state == IMMUTABLE_SQLSTATE:
            return ImmutableEventError(
                f"{message}: events cannot be changed or deleted; append a correcting event"
            )
        if state.startswith("22"):
            return SerializationError(
                f"PostgreSQL cannot store a value of this batch ({message}): JSONB and text "
                "hold no NUL character (\\u0000) and no number beyond numeric's range"
            )
        if state.startswith(("08", "53", "57", "28", "3D")) or (
            isinstance(exc, psycopg.OperationalError) and not state
        ):
            return StoreUnavailable(
                f"cannot use PostgreSQL at {self.where}: {message}: check that the server "
                "runs, accepts connections and that the URL is right"
            )
        if isinstance(exc, psycopg.ProgrammingError) and "invalid dsn" in message:
            return InvalidStoreUrl(f"cannot connect with {self.where}: {message}")
        if isinstance(exc, psycopg.errors.UniqueViolation):
            return self._unique_violation(str(exc.diag.constraint_name))
        if state == "42P01":
            return StoreError(
                f"the event store's tables are missing at {self.where} ({message}): was the "
                "schema dropped while the store was open? Connect again to recreate it"
            )
        return StoreError(f"PostgreSQL error on {self.where} (SQLSTATE {state}): {message}")

    def _is_conflict(self, exc: BaseException) -> bool:
        return isinstance(exc, psycopg.errors.UniqueViolation)

    def _is_disconnect(self, exc: BaseException) -> bool:
        return isinstance(exc, psycopg.OperationalError)

    # -- writing ------------------------------------------------------------------

    def _lock(self, db: psycopg.Connection[Any]) -> None:
        db.execute(_LOCK, {"key": self._lock_key})

    def _pre_read(
        self, db: psycopg.Connection[Any], stream_ids: list[UUID], event_ids: list[UUID]
    ) -> tuple[dict[UUID, Head], list[RecordedEvent]]:
        if not event_ids:
            rows = db.execute(_HEADS, {"ids": stream_ids}).fetchall()
            return {row[0]: Head(*row[1:]) for row in rows}, []
        if not stream_ids:
            return {}, self._records(db.execute(_BY_EVENT_ID, {"ids": event_ids}, binary=True))
        with db.pipeline():
            heads = db.execute(_HEADS, {"ids": stream_ids})
            stored = db.execute(_BY_EVENT_ID, {"ids": event_ids}, binary=True)
        return (
            {row[0]: Head(*row[1:]) for row in heads.fetchall()},
            self._records(stored.fetchall()),
        )

    def _rows(self, prepared: list[PreparedEvent]) -> dict[str, Any]:
        """The batch as one array per column (built before locking)."""
        drafts = [p.draft for p in prepared]
        # The events of a batch share one time object, unless given their own: convert
        # each object once. (Not by value: equal instants may differ in offset.)
        when: datetime | None = None
        utc: datetime | None = None
        offset = 0
        occurred_at: list[datetime | None] = []
        occurred_offset: list[int] = []
        for d in drafts:
            if d.occurred_at is not when:
                when = d.occurred_at
                utc, offset = when.astimezone(UTC), utc_offset(when, d.event_type)
            occurred_at.append(utc)
            occurred_offset.append(offset)
        columns: dict[str, list[Any]] = {
            "stream_id": [p.stream_id for p in prepared],
            "stream_type": [p.stream_type for p in prepared],
            "version": [p.version for p in prepared],
            "event_id": [d.event_id for d in drafts],
            "event_type": [d.event_type for d in drafts],
            "schema_version": [d.schema_version for d in drafts],
            "data": [d.data_json for d in drafts],
            "metadata": [d.metadata_json for d in drafts],
            "occurred_at": occurred_at,
            "occurred_offset": occurred_offset,
            "prev_hash": [p.prev_hash for p in prepared],
            "hash": [p.hash for p in prepared],
        }
        count = len(prepared)
        if count <= MAX_VALUES_ROWS:
            return {
                f"{name}_{i}": value
                for name, values in columns.items()
                for i, value in enumerate(values, 1)
            } | {"count": count}
        return columns | {"count": count}

    def _write(
        self,
        db: psycopg.Connection[Any],
        rows: dict[str, Any],
        *,
        lock: bool,
        before_commit: BeforeCommit | None = None,
    ) -> tuple[int, datetime]:
        params = {**rows, "now": self._now(), "channel": self._channel, "key": self._lock_key}
        count = rows["count"]
        sql = _write_values(count) if count <= MAX_VALUES_ROWS else _WRITE
        if lock and before_commit is None and db.info.transaction_status == IDLE:
            # One statement in a transaction of its own: one round trip, one wait. It
            # takes the lock itself, after its snapshot: if another writer committed
            # meanwhile, the position it picks is taken, the primary key refuses it,
            # and the append runs again on the locked path below.
            db.autocommit = True
            try:
                row = db.execute(sql, params).fetchone()
            finally:
                db.autocommit = False
            assert row is not None
            return int(row[0]), row[1]
        row = None
        with db.pipeline():
            if lock:
                self._lock(db)
            cursor = db.execute(sql, params)
            if before_commit is not None:
                row = cursor.fetchone()  # a sync: the positions are needed before the commit
                assert row is not None
                before_commit(db, int(row[0]), row[1])
            db.commit()
        if row is None:
            row = cursor.fetchone()
        assert row is not None
        return int(row[0]), row[1]

    def _settle(self, db: psycopg.Connection[Any], conflict_id: UUID, now: datetime) -> None:
        settled = db.execute(
            "UPDATE esf_conflicts SET settled_at = %s WHERE id = %s AND settled_at IS NULL "
            "RETURNING id",
            (now, conflict_id),
        ).fetchone()
        if settled is None:
            raise not_open(conflict_id)

    # -- reading ------------------------------------------------------------------

    def _row_parsers(self) -> RowParsers:
        return RowParsers(self.codec, uuid_from_bytes, _utc_time)

    def _records(self, rows: Iterable[Row]) -> list[RecordedEvent]:
        return list(stored_records(rows, self._row_parsers()))

    def _select_stream(
        self, db: psycopg.Connection[Any], *, stream_id: UUID, after: int, last: int
    ) -> list[Row]:
        params = (stream_id, after, last, self.page_size)
        cursor = db.execute(_STREAM_PAGE, params, binary=True)
        return cursor.fetchall()

    def _select_payloads(
        self, db: psycopg.Connection[Any], *, stream_id: UUID, after: int, last: int
    ) -> list[StoredPayload]:
        params = (stream_id, after, last, self.page_size)
        rows = db.execute(_PAYLOAD_PAGE, params, binary=True).fetchall()
        loads = load_stored
        return [(v, st, et, sv, loads(data)) for v, st, et, sv, data in rows]

    def _select_all_rows(
        self, db: psycopg.Connection[Any], *, after: int, limit: int, types: list[str] | None
    ) -> list[Row]:
        if types is None:
            cursor = db.execute(_ALL_PAGE, (after, limit), binary=True)
        else:
            params = [p for t in types for p in (t, after, limit)]
            sql = typed_page_sql(len(types), "%s", _READ_COLUMNS)
            cursor = db.execute(sql, (*params, limit), binary=True)
        return cursor.fetchall()

    def _select_version(self, db: psycopg.Connection[Any], stream_id: UUID) -> int:
        row = db.execute(_VERSION, (stream_id,)).fetchone()
        return 0 if row is None else int(row[0])


def _parse(url: str | sa.URL, schema: str | None) -> tuple[sa.URL, str | None, str]:
    """The SQLAlchemy URL for psycopg 3, the schema the store lives in, and where it is.

    ``where`` is the URL as given, without password and schema, for messages.
    """
    try:
        parsed = sa.make_url(url)
        parsed.port  # noqa: B018 - a port that is not a number raises here
    except (sa.exc.ArgumentError, ValueError) as exc:
        raise InvalidStoreUrl(
            f"{_redacted(url)!r} is not a PostgreSQL URL ({exc}): use "
            "postgresql://user:password@host:5432/database"
        ) from None
    if parsed.drivername not in ("postgresql", "postgres", "postgresql+psycopg"):
        raise InvalidStoreUrl(
            f"{parsed.drivername!r} is not served by the PostgreSQL store, which runs on "
            "psycopg 3: use postgresql:// or postgresql+psycopg://"
        )
    query = dict(parsed.query)
    from_url = query.pop("schema", None)
    if isinstance(from_url, tuple):
        raise InvalidStoreUrl("the URL names ?schema= more than once: name one schema")
    if from_url is not None and schema is not None and from_url != schema:
        raise InvalidStoreUrl(
            f"the URL says schema={from_url!r} and the option schema={schema!r}: name one"
        )
    chosen = schema if schema is not None else from_url
    if chosen is not None and (
        not isinstance(chosen, str)
        or not _SCHEMA_NAME.fullmatch(chosen)
        or chosen.startswith("pg_")
    ):
        raise InvalidStoreUrl(
            f"schema={chosen!r} is not a schema name esframework accepts: use 1 to 63 "
            "lower-case letters, digits and underscores, starting with a letter or "
            "underscore, and not starting with pg_"
        )
    parsed = parsed.set(query=query)
    where = parsed.render_as_string(hide_password=True)
    return parsed.set(drivername="postgresql+psycopg"), chosen, where


def _redacted(url: str | sa.URL) -> str:
    from esframework.adapters import redact

    return url.render_as_string(hide_password=True) if isinstance(url, sa.URL) else redact(url)


def _utc_time(value: datetime) -> datetime:
    """A ``timestamptz`` as psycopg reads it in binary: already a UTC datetime."""
    return value
