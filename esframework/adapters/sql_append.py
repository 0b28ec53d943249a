"""Appending to a SQL store: a global order without gaps, and commits shared.

``read_all(after=p)`` must never skip an event: an event committed later must never
get a position below one a reader has already passed. Sequences and identity columns
do not give this (a transaction can take position 7, commit after another took 8 and
committed, and a reader at 8 never sees 7), so the stores serialise the assignment of
positions with their commits:

1. Without any lock, encode the events, take the heads (type, version, last hash) of
   the batch's streams (remembered from this store's own appends, or read from their
   newest events), check the expected versions and compute the hash chain.
2. Take the store's write lock (PostgreSQL: ``pg_advisory_xact_lock`` on a key of the
   store's schema; SQLite: ``BEGIN IMMEDIATE``), give the events the positions after
   ``max(position)``, insert them and commit. The lock ends with the transaction,
   after the commit is visible to readers. On PostgreSQL the first attempt is one
   statement in a transaction of its own (lock, insert, commit in one round trip);
   the attempt under the lock sends the lock, the insert and the commit in one psycopg
   pipeline. Either way the lock is held for the server's work only, never for a
   trip to the client and back.

So positions are assigned and committed in one order, and at any moment what a
reader can see is a prefix ``1..n`` of the log. Readers never take the lock.

``recorded_at`` is the store's clock at the append, but never earlier than the
``recorded_at`` of the event before it: it does not decrease along positions, even
when the clock steps back or (PostgreSQL) a writer read it before waiting for the lock.

Only step 2 is serialised, and it holds no encoding or hashing. Step 1's reads can be
stale: if another writer appended to one of the streams in between, or an event id
is stored already (a retried append), the insert hits the unique ``(stream_id,
version)`` (or ``event_id``) constraint, the transaction rolls back and the append runs
once more with every step under the lock, where nothing can move and the event ids
are looked up. What it costs is in docs/adapters.md.

Threads appending through one store object share commits (``GroupCommit``): while one
append is being written, the others queue, and the next write takes every queued batch
in one transaction (one lock, one insert, one flush), each batch with consecutive
positions. A group that cannot be written whole is written batch by batch, so each
caller gets the records or the error it would have got alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar
from uuid import UUID

from esframework.adapters import sql_schema
from esframework.adapters._common import (
    AppendOne,
    Draft,
    PreparedEvent,
    chain,
    check_stream_type,
    find_replay,
    plan_batch,
)
from esframework.adapters.base import ANY, ExpectedVersion
from esframework.adapters.group_commit import GroupCommit
from esframework.adapters.sql_read import AfterInsert
from esframework.adapters.sql_records import appended_records
from esframework.adapters.sql_rows import Head, HeadCache
from esframework.audit import GENESIS_HASH
from esframework.errors import (
    ConcurrencyError,
    DuplicateEventId,
    EsfError,
    SerializationError,
    StoreError,
)
from esframework.events import Clock, RecordedEvent
from esframework.serialization import EventCodec

__all__ = ["BeforeCommit", "Pending", "SqlAppends"]

T = TypeVar("T")


class _Retry(Exception):
    """The optimistic attempt lost a race on a stream; run again under the lock."""


Pending = tuple[dict[UUID, tuple[ExpectedVersion, list[Draft]]], dict[UUID, str]]
"""A caller's batch, checked and drafted, with its stream types: what a group combines."""

BeforeCommit = AfterInsert
"""Runs inside an append's write transaction, after the insert, before the commit:
``(db, position before the batch, recorded_at)``."""


class SqlAppends(AppendOne):
    """``append_many`` for ``SqlStore``: checks, heads, the hash chain, group commit."""

    driver_errors: ClassVar[tuple[type[BaseException], ...]] = ()
    _heads: HeadCache
    _group: GroupCommit[Pending]

    if TYPE_CHECKING:  # provided by SqlStore
        where: str
        codec: EventCodec
        clock: Clock
        require_user: bool
        schema_version: int | None

        def _check_open(self) -> None: ...

        def _run(self, operation: Callable[[Any], T]) -> T: ...

        def _translate(self, exc: BaseException) -> EsfError: ...

        def _seen_head(self, position: int | None) -> None: ...

        def _after_insert(
            self, prepared: Sequence[PreparedEvent], then: AfterInsert | None
        ) -> AfterInsert | None: ...

    # -- what a dialect provides --------------------------------------------------

    def _is_conflict(self, exc: BaseException) -> bool:
        """Whether a driver error is a unique violation on events (a lost race)."""
        raise NotImplementedError

    def _lock(self, db: Any) -> None:
        """Take the write lock for the rest of the transaction (see the module docstring)."""
        raise NotImplementedError

    def _pre_read(
        self, db: Any, stream_ids: list[UUID], event_ids: list[UUID]
    ) -> tuple[dict[UUID, Head], list[RecordedEvent]]:
        """The heads of these streams and the stored events among these ids."""
        raise NotImplementedError

    def _rows(self, prepared: list[PreparedEvent]) -> Any:
        """The events as the dialect writes them (built before locking)."""
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
        try:
            return self._run(
                lambda db: self._append_on(db, plan, stream_types, locked, before_commit)
            )
        except BaseException:
            self._heads.forget(plan)  # they may be stale: read them next time
            raise

    def _append_on(
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
