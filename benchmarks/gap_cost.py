"""What the gap-free global order costs PostgreSQL writers, measured against not having it.

    python benchmarks/gap_cost.py [-n APPENDS] [--url postgresql://...]

Writer processes (1, then 4) each append one event at a time to a stream of their
own. First with esframework's design (positions assigned under a transaction-level
advisory lock, committed in that order); then with positions from a sequence and no
lock, which is faster but lets a reader tailing read_all() skip events. The second
variant patches the store's internals and exists only for this comparison.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import time
import uuid
from multiprocessing.queues import Queue
from typing import Any

import esframework as esf
import esframework.adapters.postgres as pg
from esframework.adapters.sql import SqlStore


@esf.event(name="bench.Ticked")
class Ticked:
    """The smallest event."""

    n: int


def _without_lock() -> None:
    pg._WRITE = pg._WRITE.replace("last.position + e.n", "nextval('esf_bench_seq')")
    pg.PostgresStore._lock = lambda self, db: None  # type: ignore[method-assign]


def _writer(url: str, schema: str, n: int, locked: bool, results: Queue[Any]) -> None:
    if not locked:
        _without_lock()
    with esf.connect(url, schema=schema, pool_size=1) as store:
        sid = uuid.uuid4()
        results.put("ready")
        start = time.perf_counter()
        for v in range(n):
            store.append(sid, [Ticked(v)], expected_version=v)
        results.put(time.perf_counter() - start)


def appends_per_second(url: str, writers: int, n: int, *, locked: bool) -> float:
    """Total appends/s of ``writers`` processes appending ``n`` events each."""
    schema = f"esf_bench_{uuid.uuid4().hex[:8]}"
    with esf.connect(url, schema=schema) as store:
        assert isinstance(store, SqlStore)
        with store.engine.begin() as conn:
            conn.exec_driver_sql("CREATE SEQUENCE esf_bench_seq")
        try:
            results: Queue[Any] = mp.Queue()
            procs = [
                mp.Process(target=_writer, args=(url, schema, n, locked, results))
                for _ in range(writers)
            ]
            for p in procs:
                p.start()
            for _ in procs:
                results.get()
            slowest = max(results.get() for _ in procs)
            for p in procs:
                p.join()
            return writers * n / float(slowest)
        finally:
            with store.engine.begin() as conn:
                conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=500, help="appends per writer")
    default = os.environ.get("ESF_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1/test")
    parser.add_argument("--url", default=default)
    args = parser.parse_args()
    for locked, label in [(True, "advisory lock (esframework)"), (False, "sequence, no lock")]:
        one = appends_per_second(args.url, 1, args.n, locked=locked)
        four = appends_per_second(args.url, 4, args.n, locked=locked)
        print(f"{label:28} 1 writer {one:7,.0f}/s   4 writers {four:7,.0f}/s")


if __name__ == "__main__":
    main()
