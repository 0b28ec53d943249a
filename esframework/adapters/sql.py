"""What the SQL stores share: appends under a short global lock, and paged reads.

SQLite and PostgreSQL stores differ in how they lock, which SQL they send and how
driver values become envelope fields; the algorithm is here, once.

Global order without gaps
-------------------------
``read_all(after=p)`` must never skip an event: an event committed later must never
get a position below one a reader has already passed. Sequences and identity columns
do not give this (a transaction can take position 7, commit after another took 8 and
committed, and a reader at 8 never sees 7), so the stores serialise the assignment of
positions with their commits:

1. Without any lock, encode the events, read the heads (type, version, last hash) of
   the batch's streams from their newest events and look up its event ids (the
   idempotent-retry rule), check the expected versions and compute the hash chain.
2. Take the store's write lock (PostgreSQL: ``pg_advisory_xact_lock`` on a key of the
   store's schema; SQLite: ``BEGIN IMMEDIATE``), give the events the positions after
   ``max(position)``, insert them and commit. The lock ends
   with the transaction, after the commit is visible to readers. PostgreSQL sends the
   lock, the insert and the commit in one round trip (a psycopg pipeline), so the lock
   is held for the server's work only, never for a trip to the client and back.

So positions are assigned and committed in one order, and at any moment what a
reader can see is a prefix ``1..n`` of the log. Readers never take the lock.

``recorded_at`` is the store's clock at the append, but never earlier than the
``recorded_at`` of the event before it: it does not decrease along positions, even
when the clock steps back or (PostgreSQL) a writer read it before waiting for the lock.

Only step 2 is serialised, and it holds no encoding or hashing. Step 1's reads can be
stale: if another writer appended to one of the streams in between, the insert hits
the unique ``(stream_id, version)`` (or ``event_id``) constraint, the transaction rolls
back and the append runs once more with every step under the lock, where nothing can
move. What it costs is in docs/adapters.md.

Threads appending through one store object share commits (``GroupCommit``): while one
append is being written, the others queue, and the next write takes every queued batch
in one transaction (one lock, one insert, one flush), each batch with consecutive
positions. A group that cannot be written whole is written batch by batch, so each
caller gets the records or the error it would have got alone.
"""

from __future__ import annotations

import functools
import itertools
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime
from types import TracebackType
from typing import Any, ClassVar, Self, TypeVar
from uuid import UUID

import sqlalchemy as sa

from esframework.adapters import sql_schema
from esframework.adapters._common import (
    AppendOne,
    Draft,
    PreparedEvent,
    chain,
    check_stream_id,
    check_stream_type,
    find_replay,
    plan_batch,
)
from esframework.adapters.base import ANY, ExpectedVersion, StoredPayload, StoreStats
from esframework.adapters.group_commit import GroupCommit
from esframework.adapters.sql_read import AfterInsert, SqlReadSide
from esframework.adapters.sql_records import Row, RowParsers, appended_records, stored_records
from esframework.adapters.sql_rows import POSITION_COLUMN, VERSION_COLUMN, Head, HeadCache
from esframework.adapters.sql_side import SideTables
from esframework.audit import GENESIS_HASH, Auditable
from esframework.errors import (
    ConcurrencyError,
    DuplicateEventId,
    EsfError,
    SerializationError,
    StoreClosed,
    StoreError,
    StoreUnavailable,
)
from esframework.events import Clock, RecordedEvent, utc_now
from esframework.serialization import EventCodec

__all__ = ["SqlStore"]

MAX_VERSION = 2**31 - 1
"""The highest version a stream can reach (the column is a 32-bit integer)."""

MAX_POSITION = 2**63 - 1
"""The highest position the log can reach (a 64-bit integer)."""

MAX_TYPE_SCANS = 32
"""Above this many types, read_all(types=...) filters one scan of the log instead of
reading one index range per type (SQLite caps a compound SELECT at 500 parts)."""

T = TypeVar("T")


class _Retry(Exception):
    """The optimistic attempt lost a race on a stream; run again under the lock."""


class _Disconnected(StoreUnavailable):
    """A pooled connection turned out dead (e.g. the server restarted since it was used)."""


Pending = tuple[dict[UUID, tuple[ExpectedVersion, list[Draft]]], dict[UUID, str]]
"""A caller's batch, checked and drafted, with its stream types: what a group combines."""

BeforeCommit = AfterInsert
"""Runs inside an append's write transaction, after the insert, before the commit:
``(db, position before the batch, recorded_at)``."""


class SqlStore(AppendOne, Auditable, SideTables, SqlReadSide):
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

    def _is_conflict(self, exc: BaseException) -> bool:
        """Whether a driver error is a unique violation on events (a lost race)."""
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

    def _lock(self, db: Any) -> None:
        """Take the write lock for the rest of the transaction (see the module docstring)."""
        raise NotImplementedError

    def _pre_read(
        self, db: Any, stream_ids: list[UUID], event_ids: list[UUID]
    ) -> tuple[dict[UUID, Head], list[RecordedEvent]]:
        """The heads of these streams and the stored events among these ids."""
        raise NotImplementedError

    def _rows(self, prepared: list[PreparedEvent]) -> Any:
        """The events and stream heads as the dialect writes them (built before locking)."""
        raise NotImplementedError

    def _settle(self, db: Any, conflict_id: UUID, now: datetime) -> None:
        """Mark a parked conflict settled inside the write transaction, or raise."""
        raise NotImplementedError

    def _write(
        self, db: Any, rows: Any, *, lock: bool, before_commit: BeforeCommit | None = None
    ) -> tuple[int, datetime]:
        """Take the lock if asked, insert, commit; the position before the batch, recorded_at.

        recorded_at is ``self._now()``, raised to the last stored event's if that is later.
        """
        raise NotImplementedError

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

    def append_many(
        self,
        batch: Mapping[UUID, tuple[ExpectedVersion, Sequence[object]]],
        *,
        stream_types: Mapping[UUID, str] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> list[RecordedEvent]:
        """Append to several streams in one transaction: all of it or none."""
        return self._append_batch(batch, stream_types=stream_types, metadata=metadata)

    def _append_batch(
        self,
        batch: Mapping[UUID, tuple[ExpectedVersion, Sequence[object]]],
        *,
        stream_types: Mapping[UUID, str] | None,
        metadata: Mapping[str, Any] | None,
        before_commit: BeforeCommit | None = None,
    ) -> list[RecordedEvent]:
        self._check_open()
        if self.schema_version != sql_schema.SCHEMA_VERSION:
            raise StoreError(
                f"the event store at {self.where} was opened with migrate=False and has "
                f"schema version {self.schema_version}, not {sql_schema.SCHEMA_VERSION}: "
                "appending needs the current schema; connect with migrate=True (the "
                "default) or run esf store migrate"
            )
        plan = plan_batch(self.codec, batch, metadata, self.clock, require_user=self.require_user)
        types = dict(stream_types or {})
        if before_commit is not None:  # rare (settling a conflict): all of it under the lock
            records = self._append(plan, types, locked=True, before_commit=before_commit)
        else:
            records = self._group.append((plan, types))
        if records:
            self._seen_head(records[-1].position)
        return records

    def _append_alone(self, pending: Pending) -> list[RecordedEvent]:
        """One batch as if nobody else appended: optimistic, then under the lock."""
        plan, types = pending
        try:
            return self._append(plan, types, locked=False)
        except _Retry:
            return self._append(plan, types, locked=True)

    def _append(
        self,
        plan: dict[UUID, tuple[ExpectedVersion, list[Draft]]],
        stream_types: dict[UUID, str],
        *,
        locked: bool,
        before_commit: BeforeCommit | None = None,
    ) -> list[RecordedEvent]:
        return self._run(
            lambda db: self._append_on(
                db, plan, stream_types, locked=locked, before_commit=before_commit
            )
        )

    def _append_on(
        self,
        db: Any,
        plan: dict[UUID, tuple[ExpectedVersion, list[Draft]]],
        stream_types: dict[UUID, str],
        *,
        locked: bool,
        before_commit: BeforeCommit | None = None,
    ) -> list[RecordedEvent]:
        try:
            return self._append_attempt(db, plan, stream_types, locked, before_commit)
        except BaseException:
            self._heads.forget(plan)
            raise

    def _append_attempt(
        self,
        db: Any,
        plan: dict[UUID, tuple[ExpectedVersion, list[Draft]]],
        stream_types: dict[UUID, str],
        locked: bool,
        before_commit: BeforeCommit | None,
    ) -> list[RecordedEvent]:
        event_ids = [d.event_id for _, ds in plan.values() for d in ds]
        stored: list[RecordedEvent] = []
        if locked:
            self._lock(db)
            heads, stored = self._pre_read(db, list(plan), event_ids)
        else:
            # Optimistically, heads come from this store's last appends (new streams have
            # none) or from the database, and event ids are not looked up. A stale head
            # or a stored event id (a retry) makes the insert fail on a unique index, and
            # the append runs again under the lock with everything read. (A retry whose
            # stream moved on is found just below.)
            known = self._heads.known(plan)
            heads = known if known is not None else self._pre_read(db, list(plan), [])[0]
        if stored:
            replay = find_replay(plan, {r.event_id: r for r in stored})
            if replay is not None:
                return replay
        try:
            prepared = self._prepare(plan, stream_types, heads)
        except ConcurrencyError:
            if not locked:  # an append retried after it was stored is no conflict
                _, stored = self._pre_read(db, [], event_ids)
                replay = find_replay(plan, {r.event_id: r for r in stored})
                if replay is not None:
                    return replay
            raise
        if not prepared:
            return []
        rows = self._rows_of(prepared)
        try:
            then = self._after_insert(prepared, before_commit)
            last, recorded_at = self._write(db, rows, lock=not locked, before_commit=then)
        except self.driver_errors as exc:
            if not locked and self._is_conflict(exc):
                db.rollback()
                raise _Retry from exc
            raise
        self._heads.keep(prepared)
        return appended_records(prepared, last, recorded_at, self.codec)

    def _append_together(self, pending: Sequence[Pending]) -> list[list[RecordedEvent]] | None:
        """Several callers' batches in one transaction, or None: write each alone.

        Only batches the optimistic path writes as they are combine: on distinct streams,
        with distinct event ids, each passing its checks. Any error (a check, a lost race,
        a stored id, a hook) leaves it to each batch alone, to raise what it would have
        raised, or to find its events stored (a retry).
        """
        combined = {s: v for plan, _ in pending for s, v in plan.items()}
        if len(combined) != sum(len(plan) for plan, _ in pending):
            return None
        event_ids = [d.event_id for _, ds in combined.values() for d in ds]
        if len(set(event_ids)) != len(event_ids):
            return None
        try:
            return self._run(lambda db: self._append_together_on(db, pending, combined))
        except BaseException:
            self._heads.forget(combined)
            raise

    def _append_together_on(
        self,
        db: Any,
        pending: Sequence[Pending],
        combined: dict[UUID, tuple[ExpectedVersion, list[Draft]]],
    ) -> list[list[RecordedEvent]]:
        known = self._heads.known(combined)
        heads = known if known is not None else self._pre_read(db, list(combined), [])[0]
        members = [self._prepare(plan, types, heads) for plan, types in pending]
        prepared = [p for member in members for p in member]
        if not prepared:
            return [[] for _ in members]
        rows = self._rows_of(prepared)
        hooks: list[tuple[int, AfterInsert]] = []
        offset = 0
        for member in members:
            hook = self._after_insert(member, None) if member else None
            if hook is not None:
                hooks.append((offset, hook))
            offset += len(member)

        def then(db: Any, last: int, recorded_at: datetime) -> None:
            for before, hook in hooks:  # each caller's hooks see its own records
                hook(db, last + before, recorded_at)

        last, recorded_at = self._write(db, rows, lock=True, before_commit=then if hooks else None)
        self._heads.keep(prepared)
        written = []
        for member in members:
            written.append(appended_records(member, last, recorded_at, self.codec))
            last += len(member)
        return written

    def _prepare(
        self,
        plan: dict[UUID, tuple[ExpectedVersion, list[Draft]]],
        stream_types: dict[UUID, str],
        heads: Mapping[UUID, Head],
    ) -> list[PreparedEvent]:
        """The batch's events placed after their streams' heads, once the checks pass."""
        prepared: list[PreparedEvent] = []
        for stream_id, (expected, drafts) in plan.items():
            head = heads.get(stream_id)
            current = head.version if head is not None else 0
            if expected is not ANY and expected != current:
                raise ConcurrencyError(stream_id, expected, current)
            stream_type = check_stream_type(
                stream_id,
                head.stream_type if head is not None else None,
                stream_types.get(stream_id),
            )
            last_hash = head.last_hash if head is not None else GENESIS_HASH
            prepared += chain(drafts, stream_id, stream_type, current, last_hash)
        return prepared

    def _rows_of(self, prepared: list[PreparedEvent]) -> Any:
        try:
            return self._rows(prepared)
        except OverflowError as exc:  # e.g. year 1 with a positive offset is before UTC's year 1
            raise SerializationError(
                f"a time of this batch cannot be stored as UTC ({exc}): use times within "
                "years 1-9999 in UTC"
            ) from exc

    def _unique_violation(self, what: str) -> StoreError:
        """A unique constraint broken under the write lock: a writer that skips the lock."""
        if "event_id" in what:
            return DuplicateEventId(
                f"an event id of this batch was stored meanwhile by a writer that does not "
                f"take the store's lock ({what}): retry the append to get the stored events"
            )
        return StoreError(
            f"a stream of this batch moved meanwhile by a writer that does not take the "
            f"store's lock ({what}): reload and retry; check what else writes to {self.where}"
        )

    def _now(self) -> datetime:
        now = self.clock()
        if now.tzinfo is None or now.utcoffset() is None:
            raise StoreError(
                f"the store's clock returned {now!r}, a naive datetime: give the store a "
                "clock that returns timezone-aware times (the default does)"
            )
        return now

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
