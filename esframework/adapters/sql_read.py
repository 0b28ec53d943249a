"""What the SQL stores give the read side: inline hooks, read models and wake-ups.

- Inline hooks run inside an append's write transaction, after the insert (the
  positions are known) and before the commit, while the store's write lock is held.
- Wake-ups: every commit through this store object wakes its waiters at once (a
  condition); commits by other processes are seen by polling the database (SQLite:
  ``PRAGMA data_version`` on a connection of the waiter's own) or by PostgreSQL's
  ``LISTEN/NOTIFY`` (``esframework.adapters.pg_read``), with a poll as the fallback.
  A waiter only says *when* to read again; subscriptions read by position.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from esframework.adapters._common import PreparedEvent
from esframework.adapters.base import InlineHook
from esframework.adapters.sql_records import appended_records
from esframework.subscriptions import Subscribable

if TYPE_CHECKING:
    from esframework.adapters.sql_view_sql import Dialect
    from esframework.adapters.sql_views import SqlReadModels
    from esframework.serialization import EventCodec

__all__ = ["AfterInsert", "SqlReadSide", "SqlWaiter", "SqliteWaiter"]

AfterInsert = Callable[[Any, int, datetime], None]
"""Runs in an append's write transaction after the insert: (db, position before, recorded_at)."""


class SqlReadSide(Subscribable):
    """The read-side part of ``SqlStore`` (inline hooks, read models, wake-ups)."""

    if TYPE_CHECKING:  # provided by SqlStore
        codec: EventCodec

    def _init_read_side(self) -> None:
        self._inline_hooks: list[InlineHook] = []
        self._read_models: SqlReadModels | None = None
        self._commits = threading.Condition()
        self._generation = 0
        self._known_head = 0

    def _read_dialect(self) -> Dialect:
        """The read models' SQL for this database."""
        raise NotImplementedError

    def add_inline_hook(self, hook: InlineHook) -> Callable[[], None]:
        """Call ``hook(records, db)`` in every append's transaction, before it commits."""
        self._inline_hooks.append(hook)

        def remove() -> None:
            if hook in self._inline_hooks:
                self._inline_hooks.remove(hook)

        return remove

    def read_models(self) -> SqlReadModels:
        """Views and checkpoints in this store's database (one object per store)."""
        if self._read_models is None:
            from esframework.adapters.sql_views import SqlReadModels

            self._read_models = SqlReadModels(self, self._read_dialect())  # type: ignore[arg-type]
        return self._read_models

    def _after_insert(
        self, prepared: Sequence[PreparedEvent], then: AfterInsert | None
    ) -> AfterInsert | None:
        """What to run before an append commits: ``then`` and the inline hooks."""
        hooks = list(self._inline_hooks)
        if not hooks:
            return then
        codec = self.codec

        def run(db: Any, last: int, recorded_at: datetime) -> None:
            if then is not None:
                then(db, last, recorded_at)
            records = appended_records(prepared, last, recorded_at, codec)
            for hook in hooks:
                hook(records, db)

        return run

    def _close_read_side(self) -> None:
        """The store closes: wake every waiter, so that it finds the store closed."""
        self._seen_head(None)

    def _seen_head(self, position: int | None) -> None:
        """Events up to ``position`` are committed (None: maybe some, check): wake waiters."""
        with self._commits:
            if position is not None:
                self._known_head = max(self._known_head, position)
            self._generation += 1
            self._commits.notify_all()


class SqlWaiter:
    """Wakes on commits this process sees; checks the database once per wait.

    Subclasses poll more often (``_tick``) where no notification comes from other
    processes.
    """

    tick = 0.0

    def __init__(self, store: SqlReadSide, head: Callable[[], int]) -> None:
        self._store = store
        self._head = head
        self._interrupted = False

    def _tick(self, after: int) -> bool:
        """Between wake-ups: whether events above ``after`` may have been committed."""
        return False

    def wait_for_events(self, after: int, timeout: float) -> bool:
        store = self._store
        deadline = time.monotonic() + timeout
        with store._commits:
            generation = store._generation
        if store._known_head > after or self._head() > after:
            return True
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with store._commits:
                if store._generation == generation and not self._interrupted:
                    store._commits.wait(min(remaining, self.tick or remaining))
                woken = store._generation != generation
                generation = store._generation
                if self._interrupted:
                    self._interrupted = False
                    return False
            if store._known_head > after:
                return True
            if woken and self._head() > after:  # a wake-up without a position: look
                return True
            if self._tick(after):
                return True

    def interrupt(self) -> None:
        with self._store._commits:
            self._interrupted = True
            self._store._commits.notify_all()

    def close(self) -> None:
        self.interrupt()


class SqliteWaiter(SqlWaiter):
    """Polls ``PRAGMA data_version`` every 50 ms on a connection of its own.

    The counter changes when another connection commits, without reading any table;
    only then is ``max(position)`` read. An in-memory database has no other writers.
    """

    tick = 0.05

    def __init__(self, store: SqlReadSide, head: Callable[[], int], path: str | None) -> None:
        super().__init__(store, head)
        self._db = None if path is None else sqlite3.connect(path, check_same_thread=False)
        self._version = self._data_version()

    def _data_version(self) -> int | None:
        if self._db is None:
            return None
        try:
            return int(self._db.execute("PRAGMA data_version").fetchone()[0])
        except sqlite3.Error:
            return None

    def _tick(self, after: int) -> bool:
        version = self._data_version()
        if version is None or version == self._version:
            return False
        self._version = version
        return self._head() > after

    def close(self) -> None:
        super().close()
        if self._db is not None:
            self._db.close()
            self._db = None
