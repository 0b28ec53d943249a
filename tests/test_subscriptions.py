"""store.subscribe(): catch up by position, follow live commits, close cleanly."""

from __future__ import annotations

import asyncio
import threading
from typing import Any
from uuid import UUID, uuid4

import pytest

import esframework as esf
from esframework.adapters.base import EventStore

WAIT = 30.0  # generous: waits end on an event, this only bounds a broken run


@esf.event(name="tests.subscriptions.Noted")
class Noted:
    n: int


@esf.event(name="tests.subscriptions.Other")
class Other:
    n: int


def _append(store: EventStore, stream: UUID, *numbers: int, stream_type: str = "Pad") -> None:
    store.append(stream, [Noted(n) for n in numbers], stream_type=stream_type)


def _take(sub: esf.Subscription, count: int) -> list[int]:
    return [next(sub).event.n for _ in range(count)]


class Feeder:
    """Appends in another thread once told to, so a subscriber has to wait for it."""

    def __init__(self, store: EventStore, stream: UUID, numbers: list[int]) -> None:
        self.go = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(store, stream, numbers))
        self.thread.start()

    def _run(self, store: EventStore, stream: UUID, numbers: list[int]) -> None:
        self.go.wait(WAIT)
        for n in numbers:
            _append(store, stream, n)

    def join(self) -> None:
        self.go.set()
        self.thread.join(WAIT)


def test_catches_up_then_follows_live_commits(store: EventStore) -> None:
    """A subscription yields what is stored, then events committed while it waits."""
    stream = uuid4()
    _append(store, stream, 1, 2, 3)
    feeder = Feeder(store, stream, [4, 5])
    with store.subscribe(page_size=2) as sub:
        assert _take(sub, 3) == [1, 2, 3]
        feeder.go.set()
        assert _take(sub, 2) == [4, 5]
        assert sub.position == 5
    feeder.join()


def test_starts_after_a_position(store: EventStore) -> None:
    """subscribe(after=p) begins with the event at p + 1."""
    _append(store, uuid4(), 1, 2, 3, 4)
    with store.subscribe(after=2) as sub:
        assert _take(sub, 2) == [3, 4]


def test_filters_by_type_stream_and_stream_type(store: EventStore) -> None:
    """types=, streams= and stream_types= narrow what a subscription yields."""
    a, b = uuid4(), uuid4()
    _append(store, a, 1)
    store.append(b, [Other(2)], stream_type="Memo")
    _append(store, a, 3)
    store.append(uuid4(), [Noted(4)], stream_type="Memo")
    with store.subscribe(types=[Noted]) as sub:
        assert [next(sub).event.n for _ in range(3)] == [1, 3, 4]
    with store.subscribe(types=["tests.subscriptions.Other"]) as sub:
        assert next(sub).event.n == 2
    with store.subscribe(streams=[a]) as sub:
        assert _take(sub, 2) == [1, 3]
    with store.subscribe(stream_types=["Memo"]) as sub:
        assert [next(sub).event.n for _ in range(2)] == [2, 4]


def test_position_moves_past_events_that_do_not_match(store: EventStore) -> None:
    """After reading non-matching events, position is past them: resuming skips nothing."""
    stream = uuid4()
    store.append(stream, [Noted(1), Other(2), Other(3)])
    with store.subscribe(types=[Noted]) as sub:
        assert next(sub).position == 1
        assert sub.poll() is None
        assert sub.position == 3


def test_resuming_from_position_misses_nothing_and_repeats_nothing(store: EventStore) -> None:
    """Closing and resubscribing at sub.position continues exactly where it stopped."""
    stream = uuid4()
    _append(store, stream, *range(1, 8))
    seen: list[int] = []
    position = 0
    for chunk in (3, 2, 2):
        with store.subscribe(after=position, page_size=2) as sub:
            seen += _take(sub, chunk)
            position = sub.position
    assert seen == list(range(1, 8))


def test_poll_returns_none_when_caught_up(store: EventStore) -> None:
    """poll() hands out stored events and returns None instead of waiting."""
    _append(store, uuid4(), 1)
    with store.subscribe() as sub:
        first = sub.poll()
        assert first is not None
        assert first.event.n == 1
        assert sub.poll() is None


def test_close_from_another_thread_ends_a_waiting_iteration(store: EventStore) -> None:
    """close() wakes a consumer blocked waiting for events; its loop ends; no thread stays."""
    before = set(threading.enumerate())
    sub = store.subscribe(poll_interval=WAIT)
    got: list[Any] = []
    waiting = threading.Event()

    def consume() -> None:
        waiting.set()
        got.extend(sub)

    consumer = threading.Thread(target=consume)
    consumer.start()
    waiting.wait(WAIT)
    sub.close()
    consumer.join(WAIT)
    assert not consumer.is_alive()
    assert got == []
    assert sub.closed
    assert set(threading.enumerate()) <= before


def test_a_closed_subscription_yields_nothing(store: EventStore) -> None:
    """Iterating a closed subscription stops at once, even with events stored."""
    _append(store, uuid4(), 1)
    sub = store.subscribe()
    sub.close()
    sub.close()
    assert list(sub) == []


def test_async_iteration_catches_up_and_follows(store: EventStore) -> None:
    """async for over a subscription yields stored and then new events."""
    stream = uuid4()
    _append(store, stream, 1)

    async def main() -> list[int]:
        got = []
        async with store.subscribe() as sub:
            async for record in sub:
                got.append(record.event.n)
                if len(got) == 1:
                    await asyncio.to_thread(_append, store, stream, 2, 3)
                if len(got) == 3:
                    break
        return got

    assert asyncio.run(main()) == [1, 2, 3]


def test_cancelling_an_async_wait_returns_promptly(store: EventStore) -> None:
    """Cancelling a task waiting on a subscription ends it; closing releases the thread."""

    async def main() -> None:
        sub = store.subscribe(poll_interval=WAIT)
        task = asyncio.create_task(anext(sub))
        await asyncio.sleep(0)
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.to_thread(sub.close)

    asyncio.run(asyncio.wait_for(main(), WAIT))


def test_closing_the_store_ends_a_subscription_with_store_closed() -> None:
    """A subscription over a store closed under it raises StoreClosed, not hangs."""
    store = esf.connect("memory://")
    sub = store.subscribe(poll_interval=WAIT)
    errors: list[BaseException] = []
    waiting = threading.Event()

    def consume() -> None:
        waiting.set()
        try:
            list(sub)
        except esf.StoreClosed as exc:
            errors.append(exc)

    consumer = threading.Thread(target=consume)
    consumer.start()
    waiting.wait(WAIT)
    store.close()
    consumer.join(WAIT)
    sub.close()
    assert len(errors) == 1


class Flaky:
    """A store whose reads fail a few times, as a database that is restarting does."""

    def __init__(self, store: EventStore, failures: int) -> None:
        self.store = store
        self.failures = failures
        self.calls = 0

    def read_all(self, after: int = 0, limit: int | None = None, types: Any = None) -> Any:
        self.calls += 1
        if self.failures > 0 and self.calls % 2 == 0:
            self.failures -= 1
            raise esf.StoreUnavailable("the database is restarting")
        return self.store.read_all(after=after, limit=limit, types=types)


def test_unavailable_reads_are_retried_from_the_last_position(store: EventStore) -> None:
    """Reads that fail with StoreUnavailable are retried; no event is lost or repeated."""
    _append(store, uuid4(), *range(1, 11))
    flaky = Flaky(store, failures=3)
    with esf.Subscription(flaky, page_size=3, retry_delay=0.001) as sub:
        assert _take(sub, 10) == list(range(1, 11))
    assert flaky.failures == 0


def test_a_store_that_cannot_notify_is_polled(store: EventStore) -> None:
    """A store without event_waiter() still works: the subscription polls it."""

    class Plain:
        def read_all(self, after: int = 0, limit: int | None = None, types: Any = None) -> Any:
            return store.read_all(after=after, limit=limit, types=types)

    stream = uuid4()
    feeder = Feeder(store, stream, [1, 2])
    with esf.Subscription(Plain(), poll_interval=0.01) as sub:
        feeder.go.set()
        assert _take(sub, 2) == [1, 2]
    feeder.join()


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"after": -1}, ValueError),
        ({"after": True}, ValueError),
        ({"page_size": 0}, ValueError),
        ({"types": "tests.subscriptions.Noted"}, TypeError),
        ({"stream_types": "Pad"}, TypeError),
    ],
)
def test_bad_arguments_are_refused(
    store: EventStore, options: dict[str, Any], error: type[Exception]
) -> None:
    """Nonsense positions, page sizes or a bare string of types are refused at once."""
    with pytest.raises(error):
        store.subscribe(**options)


@pytest.fixture
def many(store: EventStore) -> EventStore:
    """A store holding 250 events in 5 streams."""
    streams = [uuid4() for _ in range(5)]
    for i in range(50):
        for s in streams:
            store.append(s, [Noted(i)])
    return store


def test_long_catch_up_reads_every_event_once_in_order(many: EventStore) -> None:
    """Catching up over many pages yields positions 1..n, each once."""
    with many.subscribe(page_size=7) as sub:
        positions = [next(sub).position for _ in range(250)]
        assert sub.poll() is None
    assert positions == list(range(1, 251))
