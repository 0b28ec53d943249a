"""The in-memory store: for tests, prototypes and the given-when-then helpers.

Thread-safe (one lock around every write and every read snapshot); it follows the same
contract as the SQL stores, including idempotent retries and the hash chain.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Self
from uuid import UUID, uuid4

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
from esframework.adapters.base import ANY, Batch, ExpectedVersion, InlineHook, StoreStats
from esframework.adapters.memory_views import MemoryReadModels, MemoryTx
from esframework.audit import GENESIS_HASH, Auditable
from esframework.conflicts import ParkedConflict
from esframework.errors import ConcurrencyError, ConflictNotFound, StoreClosed
from esframework.events import Clock, RecordedEvent, utc_now
from esframework.serialization import EventCodec
from esframework.snapshots import Snapshot
from esframework.subscriptions import Subscribable

__all__ = ["MemoryStore"]


class _MemoryWaiter:
    """Waits on the store's condition, which every append notifies."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self._interrupted = False

    def wait_for_events(self, after: int, timeout: float) -> bool:
        store = self._store
        with store._changed:
            store._changed.wait_for(
                lambda: len(store._log) > after or self._interrupted or store._closed, timeout
            )
            self._interrupted = False
            return len(store._log) > after

    def interrupt(self) -> None:
        with self._store._changed:
            self._interrupted = True
            self._store._changed.notify_all()

    def close(self) -> None:
        self.interrupt()


class MemoryStore(AppendOne, Auditable, Subscribable):
    """An ``EventStore`` that keeps everything in this process's memory."""

    def __init__(
        self,
        *,
        codec: EventCodec | None = None,
        clock: Clock | None = None,
        require_user: bool = False,
    ) -> None:
        self.codec = codec if codec is not None else EventCodec()
        self.clock = clock if clock is not None else utc_now
        self.require_user = require_user
        self.store_id = uuid4()
        # Reentrant: projection handlers run under it and may read the store.
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._log: list[RecordedEvent] = []
        self._streams: dict[UUID, list[RecordedEvent]] = {}
        self._stream_types: dict[UUID, str] = {}
        self._by_event_id: dict[UUID, RecordedEvent] = {}
        self._snapshots: dict[UUID, dict[int, Snapshot]] = {}
        self._conflicts: dict[UUID, ParkedConflict] = {}
        self._closed = False
        self._inline_hooks: list[InlineHook] = []
        self._read_models: MemoryReadModels | None = None

    def __repr__(self) -> str:
        return f"<MemoryStore {len(self._log)} events in {len(self._streams)} streams>"

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosed("this memory store is closed; open a new one with esf.connect")

    def append_many(
        self,
        batch: Batch,
        *,
        stream_types: Mapping[UUID, str] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> list[RecordedEvent]:
        """Append to several streams in one atomic step."""
        self._check_open()
        drafts = self._draft(batch, metadata)
        with self._lock:
            self._check_open()
            return self._append_locked(drafts, stream_types or {})

    def _draft(
        self, batch: Batch, metadata: Mapping[str, Any] | None
    ) -> dict[UUID, tuple[ExpectedVersion, list[Draft]]]:
        return plan_batch(self.codec, batch, metadata, self.clock, require_user=self.require_user)

    def _append_locked(
        self,
        drafts: Mapping[UUID, tuple[ExpectedVersion, list[Draft]]],
        stream_types: Mapping[UUID, str],
    ) -> list[RecordedEvent]:
        stored = {
            d.event_id: self._by_event_id[d.event_id]
            for _, ds in drafts.values()
            for d in ds
            if d.event_id in self._by_event_id
        }
        replay = find_replay(drafts, stored)
        if replay is not None:
            return replay
        prepared: list[PreparedEvent] = []
        for stream_id, (expected, ds) in drafts.items():
            existing = self._streams.get(stream_id, [])
            current = len(existing)
            if expected is not ANY and expected != current:
                raise ConcurrencyError(stream_id, expected, current)
            stream_type = check_stream_type(
                stream_id, self._stream_types.get(stream_id), stream_types.get(stream_id)
            )
            last_hash = existing[-1].hash if existing else GENESIS_HASH
            prepared.extend(chain(ds, stream_id, stream_type, current, last_hash))
        recorded_at = self.clock()
        if self._log and self._log[-1].recorded_at > recorded_at:
            recorded_at = self._log[-1].recorded_at  # never back in time along positions
        base = len(self._log) + 1
        records = [p.record(base + i, recorded_at, self.codec) for i, p in enumerate(prepared)]
        tx = MemoryTx()
        for hook in list(self._inline_hooks) if records else ():
            hook(records, tx)
        for rec in records:
            self._log.append(rec)
            self._streams.setdefault(rec.stream_id, []).append(rec)
            self._stream_types.setdefault(rec.stream_id, rec.stream_type)
            self._by_event_id[rec.event_id] = rec
        if records:
            tx.commit()
            self._changed.notify_all()
        return records

    def read_stream(
        self, stream_id: UUID, from_version: int = 1, to_version: int | None = None
    ) -> Iterator[RecordedEvent]:
        """The stream's events from ``from_version`` to ``to_version`` (inclusive)."""
        check_stream_id(stream_id)
        with self._lock:
            self._check_open()
            events = self._streams.get(stream_id, [])
            start = max(from_version, 1) - 1
            end = len(events) if to_version is None else max(to_version, 0)
            selected = events[start:end]
        return iter(selected)

    def read_all(
        self, after: int = 0, limit: int | None = None, types: Sequence[str] | None = None
    ) -> Iterator[RecordedEvent]:
        """Every event with a position above ``after``, in position order."""
        with self._lock:
            self._check_open()
            tail = self._log[max(after, 0) :]
        if types is not None:
            wanted = frozenset(types)
            tail = [r for r in tail if r.event_type in wanted]
        if limit is not None:
            tail = tail[: max(limit, 0)]
        return iter(tail)

    def stats(self) -> StoreStats:
        """How many events and streams the store holds, and the last position."""
        with self._lock:
            self._check_open()
            last = self._log[-1].position if self._log else 0
            return StoreStats(len(self._log), len(self._streams), last)

    def stream_version(self, stream_id: UUID) -> int:
        """The stream's current version; 0 when it does not exist."""
        check_stream_id(stream_id)
        with self._lock:
            self._check_open()
            return len(self._streams.get(stream_id, ()))

    def save_snapshot(self, snapshot: Snapshot) -> None:
        """Keep ``snapshot`` (replacing one of the same stream and version)."""
        with self._lock:
            self._check_open()
            self._snapshots.setdefault(snapshot.stream_id, {})[snapshot.version] = snapshot

    def load_snapshot(self, stream_id: UUID, at_or_below: int | None = None) -> Snapshot | None:
        """The newest snapshot of the stream at or below a version, if any."""
        with self._lock:
            self._check_open()
            versions = [
                v
                for v in self._snapshots.get(stream_id, {})
                if at_or_below is None or v <= at_or_below
            ]
            return self._snapshots[stream_id][max(versions)] if versions else None

    def park_conflict(self, conflict: ParkedConflict) -> None:
        """Keep ``conflict`` open until it is settled."""
        with self._lock:
            self._check_open()
            self._conflicts[conflict.id] = conflict

    def open_conflicts(self) -> list[ParkedConflict]:
        """Every conflict not settled yet, oldest first."""
        with self._lock:
            self._check_open()
            return sorted(self._conflicts.values(), key=lambda c: c.created_at)

    def settle_conflict(
        self,
        conflict_id: UUID,
        batch: Batch,
        *,
        stream_types: Mapping[UUID, str] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> list[RecordedEvent]:
        """Append ``batch`` and close the conflict in one atomic step."""
        self._check_open()
        drafts = self._draft(batch, metadata)
        with self._lock:
            self._check_open()
            if conflict_id not in self._conflicts:
                raise ConflictNotFound(
                    f"no open conflict {conflict_id}: it is unknown or already resolved; "
                    "app.conflicts() lists the open ones"
                )
            records = self._append_locked(drafts, stream_types or {})
            del self._conflicts[conflict_id]
            return records

    def event_waiter(self) -> _MemoryWaiter:
        """A waiter woken by every append (see ``esframework.adapters.base.Notifying``)."""
        return _MemoryWaiter(self)

    def add_inline_hook(self, hook: InlineHook) -> Callable[[], None]:
        """Call ``hook(records, tx)`` in every append, under the lock, before it is stored."""
        with self._lock:
            self._inline_hooks.append(hook)

        def remove() -> None:
            with self._lock:
                if hook in self._inline_hooks:
                    self._inline_hooks.remove(hook)

        return remove

    def read_models(self) -> MemoryReadModels:
        """Views and checkpoints kept in memory beside the events, under the same lock."""
        with self._lock:
            if self._read_models is None:
                self._read_models = MemoryReadModels(self._lock, self._log)
            return self._read_models

    def close(self) -> None:
        """Drop nothing, refuse further use."""
        with self._lock:
            self._closed = True
            self._changed.notify_all()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
