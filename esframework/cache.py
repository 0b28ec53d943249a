"""An optional in-process cache of aggregates, for commands on hot aggregates.

``esf.Application(store, cache_size=1000)`` keeps up to that many aggregates, as they
were right after their last successful command, so the next command on one of them
skips loading it. A command takes its aggregate *out* of the cache and puts it back
only after its events are stored, so a failed command never leaves a half-changed
aggregate behind, and two threads never share one.

Another process may have appended since an aggregate was cached. The append then
conflicts, and that conflict is the cache's, not the command's: the command runs again
on the aggregate loaded from the store, before any conflict strategy is asked. So the
cache changes how much is read, never what is decided.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TypeVar
from uuid import UUID

from esframework.aggregate import Aggregate
from esframework.errors import DefinitionError

__all__ = ["AggregateCache"]

A = TypeVar("A", bound=Aggregate)


class AggregateCache:
    """A least-recently-used set of aggregates, safe to share between threads."""

    def __init__(self, size: int) -> None:
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise DefinitionError(f"cache_size must be an int >= 0, got {size!r}")
        self.size = size
        self._items: OrderedDict[UUID, Aggregate] = OrderedDict()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<AggregateCache {len(self._items)}/{self.size}>"

    def __len__(self) -> int:
        return len(self._items)

    def take(self, cls: type[A], aggregate_id: UUID) -> A | None:
        """Remove and return the cached aggregate, if it is there and of class ``cls``."""
        if not self.size:
            return None
        with self._lock:
            agg = self._items.pop(aggregate_id, None)
        return agg if type(agg) is cls else None

    def put(self, agg: Aggregate) -> None:
        """Keep ``agg`` (just stored, with nothing pending), dropping the oldest if full."""
        if not self.size or agg._esf_pending:
            return
        with self._lock:
            self._items[agg.id] = agg
            self._items.move_to_end(agg.id)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def discard(self, aggregate_id: UUID) -> None:
        """Forget one aggregate."""
        with self._lock:
            self._items.pop(aggregate_id, None)

    def clear(self) -> None:
        """Forget every aggregate."""
        with self._lock:
            self._items.clear()
