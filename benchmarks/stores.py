"""Rough throughput of the stores: appends, reads, aggregate loads, concurrent writers.

    python benchmarks/stores.py                      # SQLite file + local PostgreSQL
    python benchmarks/stores.py --url sqlite:///x.db --url memory://

Each URL gets a fresh database (PostgreSQL: a schema of its own, dropped afterwards).
Figures are wall-clock and single-process; they show orders of magnitude and the
cost of design choices, not a tuned benchmark.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from collections.abc import Callable
from uuid import UUID, uuid4

import esframework as esf
from esframework.adapters.base import EventStore
from esframework.testing.stores import fresh_store


@esf.event(name="bench.Incremented")
class Incremented:
    """One step of a counter."""

    by: int
    note: str = ""


@esf.command(target="counter_id")
class Increment:
    """Add to a counter."""

    counter_id: UUID
    by: int


@esf.aggregate
class Counter(esf.Aggregate):
    """A counter: the smallest aggregate with state."""

    total: int = 0

    @esf.handles(Increment, create=True)
    def increment(self, cmd: Increment) -> None:
        self.record(Incremented(by=cmd.by))

    @esf.applies
    def _incremented(self, e: Incremented) -> None:
        self.total += e.by


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:10,.0f}/s"


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def appends(store: EventStore, n: int, size: int) -> float:
    def run() -> None:
        for _ in range(n):
            store.append(uuid4(), [Incremented(by=1, note="x" * 40)] * size, expected_version=0)

    return timed(run)


def concurrent_appends(store: EventStore, threads: int, per_thread: int) -> float:
    def writer() -> None:
        sid = uuid4()
        for v in range(per_thread):
            store.append(sid, [Incremented(by=1)], expected_version=v)

    workers = [threading.Thread(target=writer) for _ in range(threads)]

    def run() -> None:
        for w in workers:
            w.start()
        for w in workers:
            w.join()

    return timed(run)


def bench(url: str, n: int) -> None:
    print(f"\n{url}")
    with fresh_store(url) as store:
        appends(store, 50, 1)  # warm up connections and prepared statements
        seconds = appends(store, n, 1)
        print(f"  append, 1 event each      {rate(n, seconds)} appends")
        batches = max(n // 20, 10)
        seconds = appends(store, batches, 100)
        print(f"  append, 100 events each   {rate(batches * 100, seconds)} events")

        sid = uuid4()
        for start in range(0, 10_000, 1000):
            store.append(sid, [Incremented(by=1)] * 1000, expected_version=start)
        seconds = timed(lambda: list(store.read_stream(sid)))
        print(f"  read a 10,000-event stream {seconds * 1000:8.1f} ms")
        app = esf.Application(store, aggregates=[Counter])
        seconds = timed(lambda: app.load(Counter, sid))
        print(f"  load it as an aggregate    {seconds * 1000:8.1f} ms")

        one = concurrent_appends(store, 1, n)
        four = concurrent_appends(store, 4, n // 4)
        print(f"  1 writer thread           {rate(n, one)} appends")
        print(f"  4 writer threads          {rate(4 * (n // 4), four)} appends")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", action="append", help="store URL (repeatable)")
    parser.add_argument("-n", type=int, default=2000, help="appends per measurement")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        urls = args.url or [
            f"sqlite:///{tmp}/bench.db",
            os.environ.get("ESF_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
        ]
        for url in urls:
            bench(url, args.n)


if __name__ == "__main__":
    main()
