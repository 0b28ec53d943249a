"""The read side's figures: projection lag under a steady append load, rebuild speed.

    python benchmarks/read_side.py                           # memory, sqlite, postgres
    python benchmarks/read_side.py --stores sqlite --rate 500 --seconds 10
    python benchmarks/read_side.py --scale 0.01              # a smoke run (what CI does)

Workloads:
  lag      a writer appends one event per command at ``--rate`` events/s for
           ``--seconds`` while a background runner keeps a projection (two views,
           read-modify-write handlers) current. For every event, the time from its
           append returning to the projection's checkpoint covering it, and how many
           events behind the projection was at each append (counting that one).
  rebuild  ``--events`` stored events (1 open + 9 deposits per account) rebuilt from
           position 0 into fresh views, swapped in: events/s.
  inline   the same load with the projection inline: appends/s of the writer, which
           now runs the handlers in its transaction.

PostgreSQL runs in a schema of its own, dropped afterwards; SQLite on a temporary file
(WAL, synchronous=FULL). Nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import esframework as esf

PG_URL = os.environ.get("ESF_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@esf.event(name="bench.read.Opened")
class Opened:
    owner: str


@esf.event(name="bench.read.Deposited")
class Deposited:
    amount: Decimal


@esf.view(key="account_id", indexes=("owner", "balance"), name="bench_balance")
class Balance:
    account_id: UUID
    owner: str
    balance: Decimal
    deposits: int


@esf.view(key="owner", indexes=("total",), name="bench_owner")
class OwnerTotal:
    owner: str
    total: Decimal


def _handlers(cls: type) -> type:
    def opened(self: Any, event: Opened, ctx: esf.ProjectionContext) -> None:
        ctx.view(Balance).put(Balance(ctx.stream_id, event.owner, Decimal(0), 0))

    def deposited(self: Any, event: Deposited, ctx: esf.ProjectionContext) -> None:
        row = ctx.view(Balance).get(ctx.stream_id)
        if row is None:
            return
        ctx.view(Balance).put(
            Balance(row.account_id, row.owner, row.balance + event.amount, row.deposits + 1)
        )
        owner = ctx.view(OwnerTotal).get(row.owner)
        total = (owner.total if owner else Decimal(0)) + event.amount
        ctx.view(OwnerTotal).put(OwnerTotal(row.owner, total))

    cls.opened = esf.on(opened)  # type: ignore[attr-defined]
    cls.deposited = esf.on(deposited)  # type: ignore[attr-defined]
    return cls


@esf.projection(name="bench.balances", views=[Balance, OwnerTotal])
@_handlers
class Balances:
    pass


@esf.projection(name="bench.balances", views=[Balance, OwnerTotal], mode="inline")
@_handlers
class InlineBalances:
    pass


@contextmanager
def open_store(kind: str) -> Iterator[Any]:
    if kind == "memory":
        with esf.connect("memory://") as store:
            yield store
        return
    if kind == "sqlite":
        with (
            tempfile.TemporaryDirectory() as tmp,
            esf.connect(f"sqlite:///{Path(tmp) / 'events.db'}") as store,
        ):
            yield store
        return
    import sqlalchemy as sa

    schema = f"esf_bench_{uuid4().hex[:12]}"
    try:
        with esf.connect(PG_URL, schema=schema) as store:
            yield store
    finally:
        engine = sa.create_engine(sa.make_url(PG_URL).set(drivername="postgresql+psycopg"))
        with engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        engine.dispose()


def _accounts(store: Any, count: int) -> list[UUID]:
    ids = [uuid4() for _ in range(count)]
    for i, account in enumerate(ids):
        store.append(account, [Opened(owner=f"owner-{i % 50}")])
    return ids


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def lag(kind: str, rate: float, seconds: float) -> dict[str, float]:
    """Append at ``rate`` for ``seconds`` with a runner; the lag of every event."""
    with open_store(kind) as store:
        app = esf.Application(store, projections=[Balances])
        accounts = _accounts(store, 100)
        app.projections.catch_up()
        models = app.projections.models
        appended: dict[int, float] = {}
        seen: dict[int, float] = {}
        behind: list[int] = []
        done = threading.Event()
        reached = [len(accounts)]

        def monitor() -> None:
            # wait_for() wakes when this process's runner commits a batch: one checkpoint
            # read per batch, so measuring costs the store next to nothing.
            while not done.is_set() or reached[0] < max(appended, default=0):
                if not app.projections.wait_for(reached[0] + 1, timeout=0.2):
                    continue
                checkpoint = models.checkpoints()["bench.balances"]
                now = time.perf_counter()
                for p in range(reached[0] + 1, checkpoint.position + 1):
                    seen[p] = now
                reached[0] = max(reached[0], checkpoint.position)

        app.projections.start(poll_interval=1.0)
        watcher = threading.Thread(target=monitor)
        watcher.start()
        interval, start = 1.0 / rate, time.perf_counter()
        total = int(rate * seconds)
        for n in range(total):
            wait = start + n * interval - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            (record,) = store.append(accounts[n % len(accounts)], [Deposited(Decimal(1))])
            appended[record.position] = time.perf_counter()
            behind.append(record.position - reached[0])
        achieved = total / (time.perf_counter() - start)
        done.set()
        watcher.join(120)
        app.projections.stop()
        lags = [(seen[p] - t) * 1000 for p, t in appended.items() if p in seen]
        return {
            "rate": achieved,
            "p50_ms": _pct(lags, 0.5),
            "p95_ms": _pct(lags, 0.95),
            "p99_ms": _pct(lags, 0.99),
            "max_ms": max(lags),
            "events_behind_p95": _pct([float(b) for b in behind], 0.95),
            "events_behind_max": float(max(behind)),
        }


def rebuild(kind: str, events: int) -> dict[str, float]:
    """Rebuild a projection over ``events`` stored events: events/s."""
    with open_store(kind) as store:
        accounts = max(events // 10, 1)
        for i in range(accounts):
            store.append(
                uuid4(),
                [Opened(owner=f"owner-{i % 50}"), *(Deposited(Decimal(1)) for _ in range(9))],
            )
        app = esf.Application(store, projections=[Balances])
        start = time.perf_counter()
        status = app.projections.rebuild("bench.balances")
        elapsed = time.perf_counter() - start
        assert status.position == accounts * 10
        assert app.view(Balance).count() == accounts
        return {"events": accounts * 10.0, "seconds": elapsed, "per_s": accounts * 10 / elapsed}


def inline(kind: str, count: int) -> dict[str, float]:
    """Appends/s of one writer with the projection inline, and without any."""
    out = {}
    for label, projections in (("none", []), ("inline", [InlineBalances])):
        with open_store(kind) as store:
            esf.Application(store, projections=projections)
            accounts = _accounts(store, 100)
            start = time.perf_counter()
            for n in range(count):
                store.append(accounts[n % len(accounts)], [Deposited(Decimal(1))])
            out[f"{label}_per_s"] = count / (time.perf_counter() - start)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stores", default="memory,sqlite,postgres")
    parser.add_argument("--rate", type=float, default=200.0, help="appends/s for lag")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the lag run")
    parser.add_argument("--events", type=int, default=50_000, help="events to rebuild")
    parser.add_argument("--appends", type=int, default=2_000, help="appends for inline")
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies the sizes")
    args = parser.parse_args(argv)
    stores = [s for s in args.stores.split(",") if s]
    seconds = max(args.seconds * args.scale, 0.2)
    events = max(int(args.events * args.scale), 10)
    appends = max(int(args.appends * args.scale), 10)
    print(
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} cores, {platform.system()} {platform.machine()}; "
        f"lag at {args.rate:.0f}/s for {seconds:g}s, rebuild of {events} events, "
        f"{appends} appends inline"
    )
    print()
    print(
        "| store | lag p50 | p95 | p99 | max | behind p95 / max | rebuild "
        "| appends: none / inline |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for kind in stores:
        try:
            lagged = lag(kind, args.rate, seconds)
            rebuilt = rebuild(kind, events)
            inlined = inline(kind, appends)
        except esf.StoreUnavailable as exc:
            print(f"{kind}: unavailable ({exc}); skipped", file=sys.stderr)
            continue
        print(
            f"| {kind} | {lagged['p50_ms']:.1f} ms | {lagged['p95_ms']:.1f} ms | "
            f"{lagged['p99_ms']:.1f} ms | {lagged['max_ms']:.1f} ms | "
            f"{lagged['events_behind_p95']:.0f} / {lagged['events_behind_max']:.0f} | "
            f"{rebuilt['per_s']:,.0f} events/s | "
            f"{inlined['none_per_s']:,.0f}/s / {inlined['inline_per_s']:,.0f}/s |"
        )
        if lagged["rate"] < 0.9 * args.rate:
            print(f"  ({kind}: the writer reached only {lagged['rate']:.0f}/s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
