"""Load time of a long aggregate with and without a snapshot, and verify at scale.

    python benchmarks/loads_and_verify.py                 # SQLite file and PostgreSQL
    python benchmarks/loads_and_verify.py --events 1000 --verify-events 10000

Prints, per store: the time to load an aggregate of N events (median of 5) replaying
every event, and from a snapshot at its last version; then the time to verify a store
of M events and the peak RSS growth while it does (verify reads in pages, so memory
should stay flat).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path
from uuid import uuid4

sys.path.insert(0, str(Path(__file__).resolve().parent))

import workloads

import esframework as esf

PG_URL = os.environ.get("ESF_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _median_ms(fn: object, rounds: int = 5) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def measure(url: str, events: int, verify_events: int) -> None:
    schema = f"bench_lv_{uuid4().hex[:8]}"
    full = url if not url.startswith("postgresql") else f"{url}?schema={schema}"
    store = esf.connect(full)
    try:
        app = esf.Application(store, aggregates=[workloads.Account])
        key = uuid4()
        store.append(key, [workloads.Opened(owner="x")], 0, stream_type="BenchAccount")
        version = 1
        while version < events:
            n = min(1000, events - version)
            store.append(key, [workloads.Deposited(amount=Decimal("1.5"))] * n, version)
            version += n
        replay = _median_ms(
            lambda: app.repository.load(workloads.Account, key, use_snapshots=False)
        )
        app.snapshot(workloads.Account, key)
        snap = _median_ms(lambda: app.load(workloads.Account, key))
        print(
            f"{url.split(':')[0]}: load {events} events: replay {replay:.1f} ms, "
            f"from a snapshot {snap:.1f} ms"
        )
        while version < verify_events:
            other = uuid4()
            batch = [workloads.Deposited(amount=Decimal("1.5"))] * min(
                1000, verify_events - version
            )
            store.append(other, batch, 0, stream_type="BenchAccount")
            version += len(batch)
        base = peak = _rss_mb()
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, _rss_mb())
                time.sleep(0.005)

        sampler = threading.Thread(target=sample)
        sampler.start()
        t0 = time.perf_counter()
        report = app.verify()
        seconds = time.perf_counter() - t0
        done.set()
        sampler.join()
        print(
            f"{url.split(':')[0]}: verify {report.events} events: {seconds:.1f} s "
            f"({report.events / seconds:,.0f} events/s), ok={report.ok}, "
            f"peak RSS growth {peak - base:.1f} MB"
        )
    finally:
        store.close()
        if url.startswith("postgresql"):
            workloads._drop_pg_schema(url, schema)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--verify-events", type=int, default=100_000)
    parser.add_argument("--stores", default="sqlite,postgres")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.stores.split(","):
            url = f"sqlite:///{tmp}/lv.db" if kind == "sqlite" else PG_URL
            measure(url, args.events, args.verify_events)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
