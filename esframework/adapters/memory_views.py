"""Read models in memory: views as dicts, checkpoints beside them, under the store's lock.

A session buffers its writes and applies them when it commits, all under the memory
store's lock, so that a reader sees the events and the views of one commit together.
Inside an append (an inline projection) the session commits with the append.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from esframework.adapters.read_base import (
    Checkpoint,
    Condition,
    Generation,
    Lease,
    Order,
    Query,
    StoredRow,
)
from esframework.events import RecordedEvent
from esframework.views import ViewSpec

__all__ = ["LocalLeases", "MemoryReadModels", "MemoryTx"]

_Row = tuple[StoredRow, Mapping[str, Any]]
_Table = dict[Any, _Row]


class MemoryTx:
    """A memory store's append, as inline hooks see it: work to do when it commits."""

    __slots__ = ("_on_commit",)

    def __init__(self) -> None:
        self._on_commit: list[Callable[[], None]] = []

    def on_commit(self, action: Callable[[], None]) -> None:
        """Run ``action`` when the append commits (never if it fails)."""
        self._on_commit.append(action)

    def commit(self) -> None:
        """The append is stored: run what waited for it."""
        for action in self._on_commit:
            action()


def _matches(columns: Mapping[str, Any], cond: Condition) -> bool:
    value, op, wanted = columns[cond.field], cond.op, cond.value
    if op == "eq":
        return bool(value == wanted)
    if op == "ne":
        return bool(value != wanted)
    if op == "in":
        return value in wanted
    if value is None or wanted is None:
        return False
    if op == "lt":
        return bool(value < wanted)
    if op == "lte":
        return bool(value <= wanted)
    if op == "gt":
        return bool(value > wanted)
    return bool(value >= wanted)


def _compare(a: Any, b: Any, descending: bool) -> int:
    """-1, 0 or 1: how ``a`` sorts against ``b`` (None after every value)."""
    if a is None or b is None:
        return 0 if a is b else (1 if a is None else -1)
    if a == b:
        return 0
    return (1 if a < b else -1) if descending else (1 if a > b else -1)


def _is_after(columns: Mapping[str, Any], order: Sequence[Order], after: Sequence[Any]) -> bool:
    for o, cursor in zip(order, after, strict=True):
        c = _compare(columns[o.field], cursor, o.descending)
        if c:
            return c > 0
    return False


def _sort(rows: list[_Row], order: Sequence[Order]) -> None:
    """Sort stably by each field from the last to the first; None last either way."""
    for o in reversed(order):
        field = o.field

        def by(row: _Row, field: str = field, descending: bool = o.descending) -> Any:
            value = row[1][field]
            return ((value is not None) if descending else (value is None), value)

        rows.sort(key=by, reverse=o.descending)


class _LocalLease:
    def __init__(self, owner: LocalLeases, name: str) -> None:
        self._owner = owner
        self._name = name
        self._held = False

    def acquire(self) -> bool:
        if not self._held:
            with self._owner._lock:
                if self._name not in self._owner._held:
                    self._owner._held.add(self._name)
                    self._held = True
        return self._held

    def held(self) -> bool:
        return self._held

    def release(self) -> None:
        if self._held:
            self._held = False
            with self._owner._lock:
                self._owner._held.discard(self._name)


class LocalLeases:
    """Leases among the runners of one process (a store no other process writes to)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: set[str] = set()

    def lease(self, name: str) -> Lease:
        """The lease called ``name``, not acquired yet."""
        return _LocalLease(self, name)


class _MemorySession:
    """Writes buffered until commit; reads see them over the stored rows."""

    def __init__(self, models: MemoryReadModels) -> None:
        self._models = models
        self._rows: dict[tuple[Generation, str], _Table] = {}
        self._checkpoints: dict[str, Checkpoint] = {}
        self._swaps: list[str] = []

    def checkpoint(self, projection: str) -> Checkpoint:
        found = self._checkpoints.get(projection) or self._models._checkpoints.get(projection)
        return found if found is not None else Checkpoint(projection)

    def save_checkpoint(self, checkpoint: Checkpoint) -> None:
        self._checkpoints[checkpoint.projection] = checkpoint

    def read_events(self, after: int, limit: int) -> list[RecordedEvent]:
        return self._models._log[max(after, 0) : max(after, 0) + limit]

    def get(self, view: ViewSpec, key: Any, generation: Generation) -> StoredRow | None:
        where = (generation, view.name)
        row = self._rows.get(where, {}).get(key) or self._models._tables.get(where, {}).get(key)
        return None if row is None else row[0]

    def put(
        self,
        view: ViewSpec,
        row: StoredRow,
        columns: Mapping[str, Any],
        generation: Generation,
        *,
        only_if_newer: bool,
    ) -> None:
        if only_if_newer:
            stored = self.get(view, row.key, generation)
            if stored is not None and stored.position >= row.position:
                return
        self._rows.setdefault((generation, view.name), {})[row.key] = (row, dict(columns))

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        rows = {k: dict(v) for k, v in self._rows.items()}
        checkpoints, swaps = dict(self._checkpoints), list(self._swaps)
        try:
            yield
        except BaseException:
            self._rows, self._checkpoints, self._swaps = rows, checkpoints, swaps
            raise

    def swap(self, views: Sequence[ViewSpec]) -> None:
        self._swaps.extend(v.name for v in views)

    def commit(self) -> None:
        tables = self._models._tables
        for where, rows in self._rows.items():
            tables.setdefault(where, {}).update(rows)
        for name in self._swaps:
            tables[("live", name)] = tables.pop(("rebuild", name), {})
        self._models._checkpoints.update(self._checkpoints)


class MemoryReadModels:
    """``ReadModels`` for a memory store; built by ``MemoryStore.read_models()``."""

    def __init__(self, lock: threading.RLock, log: list[RecordedEvent]) -> None:
        self._lock = lock
        self._log = log
        self._tables: dict[tuple[Generation, str], _Table] = {}
        self._checkpoints: dict[str, Checkpoint] = {}
        self._leases = LocalLeases()

    def __repr__(self) -> str:
        views = sorted(name for generation, name in self._tables if generation == "live")
        return f"<MemoryReadModels views={views}>"

    def prepare(self, views: Sequence[ViewSpec], owners: Mapping[str, str] | None = None) -> None:
        with self._lock:
            for v in views:
                self._tables.setdefault(("live", v.name), {})

    @contextmanager
    def session(
        self, tx: object | None = None, *, exclusive: bool = False
    ) -> Iterator[_MemorySession]:
        if isinstance(tx, MemoryTx):
            session = _MemorySession(self)
            yield session
            tx.on_commit(session.commit)
            return
        with self._lock:
            session = _MemorySession(self)
            yield session
            session.commit()

    def start_rebuild(self, views: Sequence[ViewSpec]) -> None:
        with self._lock:
            for v in views:
                self._tables[("rebuild", v.name)] = {}

    def drop_rebuild(self, views: Sequence[ViewSpec]) -> None:
        with self._lock:
            for v in views:
                self._tables.pop(("rebuild", v.name), None)

    def checkpoints(self) -> dict[str, Checkpoint]:
        with self._lock:
            return dict(self._checkpoints)

    def head(self) -> int:
        with self._lock:
            return len(self._log)

    def lease(self, name: str) -> Lease:
        return self._leases.lease(name)

    def _live(self, view: ViewSpec) -> _Table:
        return self._tables.get(("live", view.name), {})

    def get(self, view: ViewSpec, key: Any) -> StoredRow | None:
        with self._lock:
            row = self._live(view).get(key)
        return None if row is None or row[0].deleted else row[0]

    def select(self, view: ViewSpec, query: Query) -> list[StoredRow]:
        with self._lock:
            rows = [
                r
                for r in self._live(view).values()
                if not r[0].deleted and all(_matches(r[1], c) for c in query.conditions)
            ]
        _sort(rows, query.order)
        if query.after is not None:
            rows = [r for r in rows if _is_after(r[1], query.order, query.after)]
        end = None if query.limit is None else query.offset + query.limit
        return [r[0] for r in rows[query.offset : end]]

    def count(self, view: ViewSpec, conditions: Sequence[Condition]) -> int:
        with self._lock:
            return sum(
                1
                for row, columns in self._live(view).values()
                if not row.deleted and all(_matches(columns, c) for c in conditions)
            )

    def changes(self, view: ViewSpec, after: int) -> list[StoredRow]:
        with self._lock:
            rows = [row for row, _ in self._live(view).values() if row.position > after]
        return sorted(rows, key=lambda r: r.position)
