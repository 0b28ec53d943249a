"""Subscriptions: follow a store's log by position, from the past into the live tail.

::

    with store.subscribe(after=checkpoint, types=[MoneyDeposited]) as events:
        for record in events:          # catches up, then waits for new commits
            handle(record)
            checkpoint = record.position

A subscription first reads what is already stored, a page at a time, then waits for
new commits and reads them. It reads by position only, so a lost wake-up costs
latency, never an event. When the database is unreachable it retries with backoff
and resumes from the last position it read: no event missed, none twice.
``async for`` works too, over the same machinery.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import logging
import threading
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Any, Self
from uuid import UUID

from esframework.adapters.base import EventWaiter, Notifying
from esframework.errors import StoreUnavailable
from esframework.events import RecordedEvent, event_type_of

__all__ = ["PollingWaiter", "Subscribable", "Subscription", "event_waiter", "type_names"]

log = logging.getLogger("esframework.subscriptions")


class _Signal(enum.Enum):
    END = "end"


_END = _Signal.END


def type_names(types: Iterable[type | str]) -> frozenset[str]:
    """Event type names from names or ``@esf.event`` classes."""
    if isinstance(types, str | type):
        raise TypeError(f"types must be a sequence of event classes or names, not {types!r}")
    return frozenset(t if isinstance(t, str) else event_type_of(t).name for t in types)


class PollingWaiter:
    """A waiter for stores that cannot notify: asks for a newer event every ``interval``."""

    def __init__(self, store: Any, interval: float) -> None:
        self._store = store
        self._interval = interval
        self._interrupted = threading.Event()

    def wait_for_events(self, after: int, timeout: float) -> bool:
        """Poll until an event above ``after`` exists, ``timeout`` passes or interrupted."""
        remaining = timeout
        while True:
            if next(iter(self._store.read_all(after=after, limit=1)), None) is not None:
                return True
            step = min(self._interval, remaining)
            if step <= 0:
                return False
            if self._interrupted.wait(step):
                self._interrupted.clear()
                return False
            remaining -= step

    def interrupt(self) -> None:
        """End a running wait now."""
        self._interrupted.set()

    def close(self) -> None:
        """Nothing to release; ends a running wait."""
        self.interrupt()


def event_waiter(store: Any, poll_interval: float) -> EventWaiter:
    """The store's own waiter if it can notify, else one that polls it."""
    if isinstance(store, Notifying):
        return store.event_waiter()
    return PollingWaiter(store, poll_interval)


class Subscription(Iterator[RecordedEvent]):
    """An iterator over a store's events from a position on, live; see the module docs.

    ``position`` is where to resume from: the position of the last event handed out,
    or further when every event after it was read and did not match the filters.
    """

    def __init__(
        self,
        store: Any,
        after: int = 0,
        *,
        types: Iterable[type | str] | None = None,
        streams: Iterable[UUID] | None = None,
        stream_types: Iterable[str] | None = None,
        page_size: int = 500,
        poll_interval: float = 1.0,
        retry_delay: float = 0.05,
        max_retry_delay: float = 5.0,
    ) -> None:
        if not isinstance(after, int) or isinstance(after, bool) or after < 0:
            raise ValueError(f"after must be a position (an int >= 0), got {after!r}")
        if page_size < 1 or poll_interval <= 0 or retry_delay <= 0:
            raise ValueError("page_size, poll_interval and retry_delay must be positive")
        self.store = store
        self.types = None if types is None else type_names(types)
        self.streams = None if streams is None else frozenset(streams)
        if isinstance(stream_types, str):
            raise TypeError(f"stream_types must be a sequence of names, not {stream_types!r}")
        self.stream_types = None if stream_types is None else frozenset(stream_types)
        self.page_size = page_size
        self.poll_interval = poll_interval
        self.retry_delay = retry_delay
        self.max_retry_delay = max_retry_delay
        self._scanned = after
        self._handed_out = after
        self._buffer: collections.deque[RecordedEvent] = collections.deque()
        self._closed = False
        self._failures = 0
        self._interrupted = threading.Event()
        self._lock = threading.Lock()
        self._waiter: EventWaiter | None = None  # made at the first wait: catching up needs none

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"at {self.position}"
        return f"<Subscription {state} on {self.store!r}>"

    @property
    def position(self) -> int:
        """The position to resume from to miss nothing and repeat nothing."""
        return self._handed_out if self._buffer else max(self._scanned, self._handed_out)

    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called."""
        return self._closed

    def _wanted(self, record: RecordedEvent) -> bool:
        return (
            (self.types is None or record.event_type in self.types)
            and (self.streams is None or record.stream_id in self.streams)
            and (self.stream_types is None or record.stream_type in self.stream_types)
        )

    def _step(self) -> RecordedEvent | _Signal | None:
        """One unit of work: hand out a read event, read a page, or wait once.

        Returns ``_END`` once closed, None when there is nothing yet.
        """
        try:
            record = self._buffer.popleft()
        except IndexError:
            pass
        else:
            self._handed_out = record.position
            return record
        with self._lock:
            if self._closed:
                return _END
            try:
                page = list(self.store.read_all(after=self._scanned, limit=self.page_size))
            except StoreUnavailable as exc:
                self._back_off(exc)
                return None
            self._failures = 0
            if page:
                self._buffer.extend(r for r in page if self._wanted(r))
                self._scanned = page[-1].position
                return None
            try:
                if self._waiter is None:
                    self._waiter = event_waiter(self.store, self.poll_interval)
                    if self._closed_meanwhile():
                        return _END
                self._waiter.wait_for_events(self._scanned, self.poll_interval)
            except StoreUnavailable as exc:
                self._back_off(exc)
            return None

    def _closed_meanwhile(self) -> bool:
        """Whether close() ran in another thread, maybe before its interrupt could
        reach a waiter this thread was making."""
        return self._closed

    def _back_off(self, exc: StoreUnavailable) -> None:
        self._failures += 1
        delay = min(self.retry_delay * 2 ** (self._failures - 1), self.max_retry_delay)
        log.warning(
            "subscription at position %d cannot read (%s); retrying in %.2fs",
            self._scanned,
            exc,
            delay,
        )
        if self._interrupted.wait(delay):
            self._interrupted.clear()

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> RecordedEvent:
        while True:
            record = self._step()
            if record is _END:
                raise StopIteration
            if record is not None:
                return record

    def poll(self) -> RecordedEvent | None:
        """The next event if one is stored already, else None (catching up, no waiting)."""
        while not self._buffer and not self._closed:
            with self._lock:
                page = list(self.store.read_all(after=self._scanned, limit=self.page_size))
                if not page:
                    return None
                self._buffer.extend(r for r in page if self._wanted(r))
                self._scanned = page[-1].position
        record = self._step()
        return None if record is _END else record

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> RecordedEvent:
        while True:
            if self._buffer:
                record = self._step()
            else:
                try:
                    record = await asyncio.to_thread(self._step)
                except asyncio.CancelledError:
                    # The thread's wait ends now; what it read stays buffered.
                    self._interrupt()
                    raise
            if record is _END:
                raise StopAsyncIteration
            if record is not None:
                return record

    def _interrupt(self) -> None:
        self._interrupted.set()
        waiter = self._waiter
        if waiter is not None:
            waiter.interrupt()

    def close(self) -> None:
        """Stop: a waiting ``next()`` returns, and the waiter's resources are released."""
        if self._closed:
            return
        self._closed = True
        self._interrupt()
        with self._lock:
            if self._waiter is not None:
                self._waiter.close()
                self._waiter = None
        self._buffer.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.close)


class Subscribable:
    """``subscribe()`` as a store method; every esframework store has it."""

    def subscribe(
        self,
        after: int = 0,
        *,
        types: Iterable[type | str] | None = None,
        streams: Iterable[UUID] | None = None,
        stream_types: Iterable[str] | None = None,
        page_size: int = 500,
        poll_interval: float = 1.0,
    ) -> Subscription:
        """Follow this store's events above position ``after``; see :class:`Subscription`.

        ``types`` (event classes or names), ``streams`` (ids) and ``stream_types``
        narrow what it yields. ``poll_interval`` bounds each wait, and is the polling
        period where the store cannot notify.
        """
        return Subscription(
            self,
            after,
            types=types,
            streams=streams,
            stream_types=stream_types,
            page_size=page_size,
            poll_interval=poll_interval,
        )
