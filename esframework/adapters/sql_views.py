"""Read models in the SQL stores: a table per view, checkpoints in ``esf_projections``.

A view ``balance`` is the table ``esf_view_balance``: its key and declared indexes are
typed columns (indexed), the whole instance is JSON in ``esf_row``, ``esf_position`` is
the position of the event that last wrote the row and ``esf_deleted`` marks a
tombstone. A rebuild fills ``esf_view_balance__rebuild`` and the swap renames it in,
in the transaction that moves the checkpoint, so readers never see it half-built.

Sessions run on the store's own driver connections: a batch is one transaction that
locks the projection's checkpoint row (``FOR UPDATE`` on PostgreSQL; SQLite's
``BEGIN IMMEDIATE`` serialises writers anyway), and an inline session is the append's
transaction itself. The SQL spelling of the two databases is in ``sql_view_sql``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from esframework.adapters.memory_views import LocalLeases
from esframework.adapters.read_base import (
    Checkpoint,
    Condition,
    Failure,
    Generation,
    Lease,
    Query,
    StoredRow,
)
from esframework.adapters.sql_view_sql import Dialect, Statement, select_rows, where_clause
from esframework.events import RecordedEvent
from esframework.views import ViewSpec

if TYPE_CHECKING:
    from esframework.adapters.sql import SqlStore

__all__ = ["SqlReadModels"]


def _failure_in(failure: Failure | None) -> str | None:
    if failure is None:
        return None
    return json.dumps(
        {
            "position": failure.position,
            "event_type": failure.event_type,
            "error": failure.error,
            "message": failure.message,
            "at": failure.at.isoformat(),
        }
    )


def _failure_out(value: Any) -> Failure | None:
    if value is None:
        return None
    doc = json.loads(value) if isinstance(value, str) else value
    return Failure(
        position=int(doc["position"]),
        event_type=doc["event_type"],
        error=doc["error"],
        message=doc["message"],
        at=datetime.fromisoformat(doc["at"]),
    )


_Where = tuple[Generation, str]


class _SqlSession:
    """One transaction on a driver connection (the append's own, when inline).

    View writes are buffered and sent at the end in one ``executemany`` per table, and
    rows read are kept for the rest of the transaction: a projection is the only writer
    of its views and holds its checkpoint's lock, so nobody else changes them meanwhile.
    A savepoint restores the buffer.
    """

    def __init__(self, models: SqlReadModels, db: Any) -> None:
        self._models = models
        self._db = db
        self._d = models.dialect
        self._views: dict[str, ViewSpec] = {}
        self._writes: dict[_Where, dict[Any, tuple[StoredRow, Mapping[str, Any]]]] = {}
        self._read: dict[_Where, dict[Any, StoredRow | None]] = {}

    def _one(self, stmt: Statement) -> Any:
        return self._db.execute(stmt.sql, stmt.params).fetchone()

    def checkpoint(self, projection: str) -> Checkpoint:
        d = self._d
        select = d.statement(
            "SELECT position, paused, failure, updated_at FROM esf_projections "
            f"WHERE name = {d.ph('name')}{d.for_update}",
            name=projection,
        )
        row = self._one(select)
        if row is None and d.for_update:  # a row to lock, for the next runner too
            self._db.execute(*d.insert_checkpoint(projection))
            row = self._one(select)
        if row is None:
            return Checkpoint(projection)
        position, paused, failure, updated_at = row
        return Checkpoint(
            projection,
            int(position),
            bool(paused),
            _failure_out(failure),
            d.time_out(updated_at),
        )

    def save_checkpoint(self, checkpoint: Checkpoint) -> None:
        self._db.execute(
            *self._d.upsert_checkpoint(
                checkpoint.projection,
                checkpoint.position,
                checkpoint.paused,
                _failure_in(checkpoint.failure),
                checkpoint.updated_at,
            )
        )

    def read_events(self, after: int, limit: int) -> list[RecordedEvent]:
        return self._models.store._select_all(self._db, after=after, limit=limit, types=None)

    def get(self, view: ViewSpec, key: Any, generation: Generation) -> StoredRow | None:
        where = (generation, view.name)
        written = self._writes.get(where, {}).get(key)
        if written is not None:
            return written[0]
        read = self._read.setdefault(where, {})
        if key not in read:
            row = self._one(self._d.get_row(view, key, generation, deleted_too=True))
            read[key] = None if row is None else self._d.stored_row(view, row)
        return read[key]

    def put(
        self,
        view: ViewSpec,
        row: StoredRow,
        columns: Mapping[str, Any],
        generation: Generation,
        *,
        only_if_newer: bool,
    ) -> None:
        # Rows stored before this transaction were written at or before its checkpoint,
        # so below every position it applies: the guard is kept by the upsert itself.
        self._views[view.name] = view
        self._writes.setdefault((generation, view.name), {})[row.key] = (row, dict(columns))

    def flush(self) -> None:
        """Send the buffered view writes."""
        for (generation, name), rows in self._writes.items():
            view = self._views[name]
            sql = self._d.upsert(view, generation)
            params = [self._d.upsert_params(view, r, c) for r, c in rows.values()]
            cursor = self._db.cursor()
            try:
                cursor.executemany(sql, params)
            finally:
                cursor.close()
            self._read.setdefault((generation, name), {}).update(
                (k, r) for k, (r, _) in rows.items()
            )
        self._writes = {}

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        writes = {where: dict(rows) for where, rows in self._writes.items()}
        try:
            yield
        except BaseException:
            self._writes = writes
            raise

    def swap(self, views: Sequence[ViewSpec]) -> None:
        self.flush()
        for view in views:
            for sql in self._d.swap(view):
                self._db.execute(sql)
            self._db.execute(*self._d.upsert_fingerprint(view))
            self._read.pop(("live", view.name), None)
            self._read.pop(("rebuild", view.name), None)
        self._models._shapes.update((v.name, v.fingerprint) for v in views)


class SqlReadModels:
    """``ReadModels`` for a SQL store; built by ``SqlStore.read_models()``."""

    def __init__(self, store: SqlStore, dialect: Dialect) -> None:
        self.store = store
        self.dialect = dialect
        self._shapes: set[tuple[str, str]] = set()
        self._leases = LocalLeases()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<SqlReadModels on {self.store!r}>"

    @contextmanager
    def _transaction(self, *, exclusive: bool = False, ddl: bool = False) -> Iterator[Any]:
        with self.store._connection() as db:
            self.dialect.begin(db)
            try:
                if exclusive:
                    self.dialect.lock_appends(db, self.store)
                if ddl:
                    self.dialect.lock_ddl(db, self.store)
                yield db
            except BaseException:
                db.rollback()
                raise
            db.commit()

    def _fetch(self, stmt: Statement) -> list[Any]:
        return self.store._run(lambda db: db.execute(stmt.sql, stmt.params).fetchall())

    # -- schema -------------------------------------------------------------------

    def prepare(self, views: Sequence[ViewSpec], owners: Mapping[str, str] | None = None) -> None:
        missing = [v for v in views if (v.name, v.fingerprint) not in self._shapes]
        if not missing:
            return
        d = self.dialect
        with self._lock, self._transaction(ddl=True) as db:
            for view in missing:
                row = db.execute(*d.select_fingerprint(view)).fetchone()
                if row is not None and row[0] == view.fingerprint:
                    continue
                for sql in d.create_table(view, "live"):
                    db.execute(sql)
                db.execute(*d.upsert_fingerprint(view))
                owner = (owners or {}).get(view.name)
                if row is not None and owner is not None:  # its shape changed: start over
                    db.execute(*d.reset_checkpoint(owner))
        self._shapes.update((v.name, v.fingerprint) for v in missing)

    def start_rebuild(self, views: Sequence[ViewSpec]) -> None:
        with self._transaction(ddl=True) as db:
            for view in views:
                for sql in self.dialect.create_table(view, "rebuild"):
                    db.execute(sql)

    def drop_rebuild(self, views: Sequence[ViewSpec]) -> None:
        with self._transaction(ddl=True) as db:
            for view in views:
                db.execute(self.dialect.drop_table(view, "rebuild"))

    # -- sessions and state ---------------------------------------------------------

    @contextmanager
    def session(
        self, tx: object | None = None, *, exclusive: bool = False
    ) -> Iterator[_SqlSession]:
        if tx is not None:
            session = _SqlSession(self, tx)
            yield session
            session.flush()
            return
        with self._transaction(exclusive=exclusive) as db:
            session = _SqlSession(self, db)
            yield session
            session.flush()

    def checkpoints(self) -> dict[str, Checkpoint]:
        d = self.dialect
        rows = self._fetch(
            d.statement("SELECT name, position, paused, failure, updated_at FROM esf_projections")
        )
        return {
            name: Checkpoint(
                name, int(position), bool(paused), _failure_out(failure), d.time_out(updated)
            )
            for name, position, paused, failure, updated in rows
        }

    def head(self) -> int:
        (row,) = self._fetch(self.dialect.statement("SELECT max(position) FROM events"))
        return int(row[0] or 0)

    def lease(self, name: str) -> Lease:
        return self.dialect.lease(self.store, self._leases, name)

    # -- queries ----------------------------------------------------------------------

    def get(self, view: ViewSpec, key: Any) -> StoredRow | None:
        rows = self._fetch(self.dialect.get_row(view, key, "live", deleted_too=False))
        return self.dialect.stored_row(view, rows[0]) if rows else None

    def select(self, view: ViewSpec, query: Query) -> list[StoredRow]:
        rows = self._fetch(select_rows(self.dialect, view, query))
        return [self.dialect.stored_row(view, r) for r in rows]

    def count(self, view: ViewSpec, conditions: Sequence[Condition]) -> int:
        d = self.dialect
        where, params = where_clause(d, view, conditions)
        sql = f"SELECT count(*) FROM {d.table(view, 'live')} WHERE {where}"
        (row,) = self._fetch(Statement(sql, params))
        return int(row[0])

    def changes(self, view: ViewSpec, after: int) -> list[StoredRow]:
        d = self.dialect
        stmt = d.statement(
            f"SELECT {d.row_columns(view)} FROM {d.table(view, 'live')} "
            f"WHERE esf_position > {d.ph('after')} ORDER BY esf_position",
            after=after,
        )
        return [d.stored_row(view, r) for r in self._fetch(stmt)]
