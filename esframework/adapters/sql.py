"""What the SQL stores share: connections, schema and paged reads (here), and appends
under a short global lock (``esframework.adapters.sql_append``).

SQLite and PostgreSQL stores differ in how they lock, which SQL they send and how
driver values become envelope fields; the algorithms are written once, for both.
"""

from __future__ import annotations

import functools
import itertools
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from types import TracebackType
from typing import Any, ClassVar, Self, TypeVar
from uuid import UUID

import sqlalchemy as sa

from esframework.adapters import sql_schema
from esframework.adapters._common import check_stream_id
from esframework.adapters.base import StoredPayload, StoreStats
from esframework.adapters.group_commit import GroupCommit
from esframework.adapters.sql_append import BeforeCommit, SqlAppends
from esframework.adapters.sql_read import SqlReadSide
from esframework.adapters.sql_records import Row, RowParsers, stored_records
from esframework.adapters.sql_rows import POSITION_COLUMN, VERSION_COLUMN, HeadCache
from esframework.adapters.sql_side import SideTables
from esframework.audit import Auditable
from esframework.errors import EsfError, StoreClosed, StoreUnavailable
from esframework.events import Clock, RecordedEvent, utc_now
from esframework.serialization import EventCodec

__all__ = ["BeforeCommit", "SqlStore"]

MAX_VERSION = 2**31 - 1
"""The highest version a stream can reach (the column is a 32-bit integer)."""

MAX_POSITION = 2**63 - 1
"""The highest position the log can reach (a 64-bit integer)."""

MAX_TYPE_SCANS = 32
"""Above this many types, read_all(types=...) filters one scan of the log instead of
reading one index range per type (SQLite caps a compound SELECT at 500 parts)."""

T = TypeVar("T")


class _Disconnected(StoreUnavailable):
    """A pooled connection turned out dead (e.g. the server restarted since it was used)."""


class SqlStore(SqlAppends, Auditable, SideTables, SqlReadSide):
    """An ``EventStore`` on a SQL database, through a SQLAlchemy engine.

    Subclasses provide the dialect: locking, SQL text, row conversion and the
    translation of driver errors. ``engine`` is public for tools that need the
    database itself (e.g. read models kept next to the events).

    ``migrate=False`` opens the database without creating or migrating the schema,
    for tools that must not change it: ``schema_version`` then says what is there
    (None: no esframework schema), and such a store can read its events but refuses
    to append unless the schema is current.
    """

    kind: ClassVar[str] = "SQL"
    driver_errors: ClassVar[tuple[type[BaseException], ...]] = ()

    def __init__(
        self,
        engine: sa.Engine,
        *,
        where: str,
        codec: EventCodec | None,
        clock: Clock | None,
        page_size: int,
        serialise: bool = False,
        require_user: bool = False,
        migrate: bool = True,
    ) -> None:
        if not isinstance(page_size, int) or isinstance(page_size, bool) or page_size < 1:
            engine.dispose()
            raise ValueError(f"page_size must be an int >= 1, got {page_size!r}")
        self.engine = engine
        self.where = where
        self.codec = codec if codec is not None else EventCodec()
        self.clock = clock if clock is not None else utc_now
        self.page_size = page_size
        self.require_user = require_user
        self.store_id = ""
        self.schema_version: int | None = None
        self._serial: AbstractContextManager[Any] = (
            threading.RLock() if serialise else nullcontext()
        )
        self._closed = False
        self._heads = HeadCache()
        self._group = GroupCommit(self._append_alone, self._append_together)
        self._init_read_side()
        try:
            self._prepare_schema(migrate)
        except BaseException:
            engine.dispose()
            raise

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
        return f"<{type(self).__name__} {self.where}{state}>"

    # -- what a dialect provides --------------------------------------------------

    def _translate(self, exc: BaseException) -> EsfError:
        """The esframework error for a driver error."""
        raise NotImplementedError

    def _is_disconnect(self, exc: BaseException) -> bool:
        """Whether a driver error means the connection is gone."""
        return False

    def _schema_lock(self, conn: sa.Connection) -> None:
        """Serialise schema creation and migration between processes."""
        raise NotImplementedError

    def _triggers(self) -> list[str]:
        """DDL that makes the database itself refuse changes to stored events."""
        raise NotImplementedError

    def _schema_ready(self, conn: sa.Connection) -> None:
        """Called once the schema is current, on the connection that checked it."""

    def _row_parsers(self) -> RowParsers:
        """How this dialect's event rows (``EVENT_COLUMNS`` as read) become records."""
        raise NotImplementedError

    def _select_stream(self, db: Any, *, stream_id: UUID, after: int, last: int) -> list[Row]:
        """Rows of up to ``page_size`` events of a stream with ``after < version <= last``."""
        raise NotImplementedError

    def _select_all_rows(
        self, db: Any, *, after: int, limit: int, types: list[str] | None
    ) -> list[Row]:
        """Rows of up to ``limit`` events with a position above ``after``, of ``types``."""
        raise NotImplementedError

    def _select_all(
        self, db: Any, *, after: int, limit: int, types: list[str] | None
    ) -> list[RecordedEvent]:
        """Up to ``limit`` events with a position above ``after``, of ``types`` if given."""
        rows = self._select_all_rows(db, after=after, limit=limit, types=types)
        return list(stored_records(rows, self._row_parsers()))

    def _select_version(self, db: Any, stream_id: UUID) -> int:
        """The stream's version; 0 when it does not exist."""
        raise NotImplementedError

    # -- connections --------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosed(
                f"this {self.kind} store ({self.where}) is closed; open a new one with esf.connect"
            )

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        """A pooled driver connection; driver errors leave it as esframework errors.

        Hot paths run on the driver connection itself: SQLAlchemy's per-statement
        bookkeeping costs more than SQLite takes to run the statement. Whatever
        transaction is left open is rolled back when the pool takes it back.
        """
        self._check_open()
        with self._serial:
            try:
                raw = self.engine.raw_connection()
            except sa.exc.DBAPIError as exc:
                raise self._translate(exc.orig or exc) from exc
            try:
                yield raw.driver_connection
            except self.driver_errors as exc:
                error = self._translate(exc)
                if self._is_disconnect(exc):
                    raw.invalidate()
                    raise _Disconnected(str(error)) from exc
                raise error from exc
            finally:
                raw.close()

    def _run(self, operation: Callable[[Any], T]) -> T:
        """``operation(db)`` on a pooled connection; again on a new one if that was dead.

        Running an append again is safe: its event ids are fixed, so if the first
        attempt committed before the connection died, the second finds the stored
        events and returns them (the idempotent-retry rule).
        """
        try:
            with self._connection() as db:
                return operation(db)
        except _Disconnected:
            with self._connection() as db:
                return operation(db)

    def _begin(self, conn: sa.Connection) -> None:
        """Start a write transaction on a SQLAlchemy connection."""

    @contextmanager
    def _reading(self) -> Iterator[sa.Connection]:
        """A SQLAlchemy connection for a read outside the hot paths."""
        self._check_open()
        with self._serial:
            try:
                with self.engine.connect() as conn:
                    yield conn
            except sa.exc.DBAPIError as exc:
                raise self._translate(exc.orig or exc) from exc

    @contextmanager
    def transaction(self) -> Iterator[sa.Connection]:
        """A SQLAlchemy connection in a write transaction on the store's database.

        For tools and read models kept next to the events: the transaction commits
        when the block ends cleanly and rolls back when it raises. Database errors
        surface as esframework errors; changing a stored event raises
        ``ImmutableEventError``. On SQLite the block holds the database's write lock,
        so do not append through the store inside it.
        """
        self._check_open()
        with self._serial:
            try:
                with self.engine.connect() as conn:
                    self._begin(conn)
                    yield conn
                    conn.commit()
            except sa.exc.DBAPIError as exc:
                raise self._translate(exc.orig or exc) from exc

    def _prepare_schema(self, migrate: bool) -> None:
        """Create or migrate the schema (if asked), or refuse one newer than this library."""
        try:
            with self.engine.connect() as conn:
                version = sql_schema.read_schema_version(conn)
                conn.rollback()
                if version is not None:
                    sql_schema.check_supported(version, self.where)
                if migrate and version != sql_schema.SCHEMA_VERSION:
                    self._schema_lock(conn)
                    version = sql_schema.read_schema_version(conn)
                    if version != sql_schema.SCHEMA_VERSION:
                        sql_schema.migrate(conn, version, self._triggers(), self.where)
                    conn.commit()
                    version = sql_schema.SCHEMA_VERSION
                self.schema_version = version
                self._schema_ready(conn)
                self.store_id = sql_schema.read_store_id(conn)
                conn.rollback()
        except sa.exc.DBAPIError as exc:
            raise self._translate(exc.orig or exc) from exc

    # -- appending ----------------------------------------------------------------

    # -- reading ------------------------------------------------------------------

    def read_stream(
        self, stream_id: UUID, from_version: int = 1, to_version: int | None = None
    ) -> Iterator[RecordedEvent]:
        """The stream's events from ``from_version`` to ``to_version`` (inclusive), paged."""
        check_stream_id(stream_id)
        self._check_open()
        last = MAX_VERSION if to_version is None else min(to_version, MAX_VERSION)
        return self._stream_pages(stream_id, min(max(from_version, 1), MAX_VERSION) - 1, last)

    def _stream_pages(self, stream_id: UUID, after: int, last: int) -> Iterator[RecordedEvent]:
        # Records are built as the caller takes them (see stored_records).
        parsers = self._row_parsers()
        while after < last:
            page = self._run(
                functools.partial(self._select_stream, stream_id=stream_id, after=after, last=last)
            )
            yield from stored_records(page, parsers)
            if len(page) < self.page_size:
                return
            after = page[-1][VERSION_COLUMN]

    def read_payloads(
        self, stream_id: UUID, from_version: int = 1, to_version: int | None = None
    ) -> Iterator[StoredPayload]:
        """The stream's payloads in order, without building envelopes (for loads)."""
        check_stream_id(stream_id)
        self._check_open()
        after = min(max(from_version, 1), MAX_VERSION) - 1
        last = MAX_VERSION if to_version is None else min(to_version, MAX_VERSION)
        while after < last:
            page = self._run(
                functools.partial(
                    self._select_payloads, stream_id=stream_id, after=after, last=last
                )
            )
            yield from page
            if len(page) < self.page_size:
                return
            after = page[-1][0]

    def _select_payloads(
        self, db: Any, *, stream_id: UUID, after: int, last: int
    ) -> list[StoredPayload]:
        raise NotImplementedError

    def read_all(
        self, after: int = 0, limit: int | None = None, types: Sequence[str] | None = None
    ) -> Iterator[RecordedEvent]:
        """Every event with a position above ``after``, in position order, paged."""
        self._check_open()
        if isinstance(types, str):
            raise TypeError(f"types must be a sequence of event type names, not {types!r}")
        wanted = None if types is None else list(dict.fromkeys(types))
        return self._all_pages(min(max(after, 0), MAX_POSITION), limit, wanted)

    def _all_pages(
        self, after: int, limit: int | None, types: list[str] | None
    ) -> Iterator[RecordedEvent]:
        remaining = limit
        if types is not None and not types:
            return
        if types is not None and len(types) > MAX_TYPE_SCANS:
            wanted = frozenset(types)
            matching = (r for r in self._all_pages(after, None, None) if r.event_type in wanted)
            yield from itertools.islice(matching, limit)
            return
        parsers = self._row_parsers()
        while remaining is None or remaining > 0:
            n = self.page_size if remaining is None else min(self.page_size, remaining)
            page = self._run(
                functools.partial(self._select_all_rows, after=after, limit=n, types=types)
            )
            yield from stored_records(page, parsers)
            if len(page) < n:
                return
            after = page[-1][POSITION_COLUMN]
            if remaining is not None:
                remaining -= len(page)

    def stream_version(self, stream_id: UUID) -> int:
        """The stream's current version; 0 when it does not exist."""
        check_stream_id(stream_id)
        return self._run(lambda db: self._select_version(db, stream_id))

    def stats(self) -> StoreStats:
        """How many events and streams the store holds, and the last position."""
        events = sql_schema.events
        with self._reading() as conn:
            count, last = conn.execute(
                sa.select(sa.func.count(), sa.func.coalesce(sa.func.max(events.c.position), 0))
            ).one()
            # Every stream has exactly one event at version 1.
            streams = conn.execute(
                sa.select(sa.func.count()).select_from(events).where(events.c.version == 1)
            ).scalar_one()
        return StoreStats(int(count), int(streams), int(last))

    # -- lifecycle ----------------------------------------------------------------

    def close(self) -> None:
        """Close the pooled connections; the store refuses further use."""
        self._closed = True
        self._close_read_side()
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
