"""The benchmark workloads, and the same operations written for each framework."""

from __future__ import annotations

import gc
import os
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID, uuid4

import esframework as esf

# -- the esframework side ----------------------------------------------------------------


@esf.event(name="bench.Opened")
class Opened:
    owner: str


@esf.event(name="bench.Deposited")
class Deposited:
    amount: Decimal


@esf.command(target="id")
class Open:
    id: UUID
    owner: str


@esf.command(target="id")
class DepositMany:
    id: UUID
    amount: Decimal
    times: int


@esf.aggregate(name="BenchAccount")
class Account(esf.Aggregate):
    owner: str = ""
    balance: Decimal = Decimal(0)

    @esf.handles(Open, create=True)
    def open(self, cmd: Open) -> None:
        self.record(Opened(owner=cmd.owner))

    @esf.handles
    def deposit(self, cmd: DepositMany) -> None:
        for _ in range(cmd.times):
            self.record(Deposited(amount=cmd.amount))

    @esf.applies
    def _opened(self, e: Opened) -> None:
        self.owner = e.owner

    @esf.applies
    def _deposited(self, e: Deposited) -> None:
        self.balance += e.amount


class Side(Protocol):
    def create_one(self) -> None: ...
    def grow(self, events: int, per_save: int) -> Any: ...
    def bulk(self, events: int) -> Any: ...
    def load(self, key: Any) -> None: ...
    def read_log(self) -> int: ...
    def close(self) -> None: ...


def _pg_schema_url(pg_url: str, schema: str) -> str:
    sep = "&" if "?" in pg_url else "?"
    return f"{pg_url}{sep}schema={schema}"


def _drop_pg_schema(pg_url: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(pg_url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as c:
        c.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


class EsfSide:
    def __init__(self, store: str, tmp: Path, pg_url: str) -> None:
        self.schema = f"bench_esf_{uuid4().hex[:10]}"
        self.pg_url = pg_url if store == "postgres" else None
        url = {
            "memory": "memory://",
            "sqlite": f"sqlite:///{tmp / 'esf.db'}",
            "postgres": _pg_schema_url(pg_url, self.schema),
        }[store]
        self.store = esf.connect(url)
        # eventsourcing's W2 keeps its aggregate in hand between saves; the cache is how
        # esframework does the same for commands (and it is off unless asked for).
        self.app = esf.Application(self.store, aggregates=[Account], cache_size=1000)

    def create_one(self) -> None:
        self.app.handle(Open(uuid4(), "bench"))

    def grow(self, events: int, per_save: int) -> UUID:
        key = uuid4()
        self.app.handle(Open(key, "bench"))
        for _ in range(events // per_save):
            self.app.handle(DepositMany(key, Decimal("1.5"), per_save))
        return key

    def bulk(self, events: int) -> UUID:
        key = uuid4()
        self.store.append(key, [Opened(owner="bench")], 0, stream_type="BenchAccount")
        version = 1
        while version < events:
            n = min(1000, events - version)
            self.store.append(key, [Deposited(amount=Decimal("1.5"))] * n, version)
            version += n
        return key

    def load(self, key: Any) -> None:
        self.app.load(Account, key)

    def read_log(self) -> int:
        count = 0
        for rec in self.store.read_all():
            rec.event  # noqa: B018 - decoding is part of the workload
            count += 1
        return count

    def close(self) -> None:
        self.store.close()
        if self.pg_url:
            _drop_pg_schema(self.pg_url, self.schema)


# -- the eventsourcing side ----------------------------------------------------------------


def eventsourcing_available() -> bool:
    try:
        import eventsourcing  # noqa: F401
    except ImportError:
        return False
    return True


def postgres_available(pg_url: str) -> bool:
    try:
        import psycopg

        with psycopg.connect(pg_url, connect_timeout=3):
            return True
    except Exception:
        return False


_es_classes: dict[str, Any] = {}


def _es() -> dict[str, Any]:
    if not _es_classes:
        from eventsourcing.application import Application
        from eventsourcing.domain import Aggregate, event

        class EsAccount(Aggregate):
            @event("Opened")
            def __init__(self, owner: str) -> None:
                self.owner = owner
                self.balance = Decimal(0)

            @event("Deposited")
            def deposit(self, amount: Decimal) -> None:
                self.balance += amount

        class Bank(Application[UUID]):
            pass

        _es_classes.update(Account=EsAccount, Bank=Bank)
    return _es_classes


class EsSide:
    def __init__(self, store: str, tmp: Path, pg_url: str) -> None:
        from urllib.parse import urlsplit

        self.schema = f"bench_es_{uuid4().hex[:10]}"
        self.pg_url = pg_url if store == "postgres" else None
        env: dict[str, str] = {}
        if store == "sqlite":
            env = {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(tmp / "es.db"),
            }
        elif store == "postgres":
            u = urlsplit(pg_url)
            env = {
                "PERSISTENCE_MODULE": "eventsourcing.postgres",
                "POSTGRES_DBNAME": u.path.lstrip("/"),
                "POSTGRES_HOST": u.hostname or "127.0.0.1",
                "POSTGRES_PORT": str(u.port or 5432),
                "POSTGRES_USER": u.username or "postgres",
                "POSTGRES_PASSWORD": u.password or "",
                "POSTGRES_SCHEMA": self.schema,
            }
            import psycopg

            with psycopg.connect(pg_url, autocommit=True) as c:
                c.execute(f'CREATE SCHEMA "{self.schema}"')
        classes = _es()
        self.Account = classes["Account"]
        self.app = classes["Bank"](env=env)

    def create_one(self) -> None:
        self.app.save(self.Account("bench"))

    def grow(self, events: int, per_save: int) -> Any:
        acc = self.Account("bench")
        self.app.save(acc)
        for _ in range(events // per_save):
            for _ in range(per_save):
                acc.deposit(Decimal("1.5"))
            self.app.save(acc)
        return acc.id

    def bulk(self, events: int) -> Any:
        acc = self.Account("bench")
        for i in range(1, events):
            acc.deposit(Decimal("1.5"))
            if i % 1000 == 0:
                self.app.save(acc)
        self.app.save(acc)
        return acc.id

    def load(self, key: Any) -> None:
        self.app.repository.get(key)

    def read_log(self) -> int:
        count, start = 0, 1
        recorder, mapper = self.app.recorder, self.app.mapper
        while True:
            page = recorder.select_notifications(start, 1000)
            for n in page:
                mapper.to_domain_event(n)
                count += 1
            if len(page) < 1000:
                return count
            start = page[-1].id + 1

    def close(self) -> None:
        self.app.close()
        if self.pg_url:
            _drop_pg_schema(self.pg_url, self.schema)


def esf_side(store: str, tmp: Path, pg_url: str) -> Side:
    return EsfSide(store, tmp, pg_url)


def es_side(store: str, tmp: Path, pg_url: str) -> Side:
    return EsSide(store, tmp, pg_url)


# -- the workloads -------------------------------------------------------------------------


def _n(base: int, scale: float, minimum: int = 10) -> int:
    return max(minimum, int(base * scale))


def _timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def w1(side: Side, scale: float) -> Sequence[float]:
    n = _n(5000, scale)
    try:
        seconds = _timed(lambda: [side.create_one() for _ in range(n)])
    finally:
        side.close()
    return (n / seconds,)


def w2(side: Side, scale: float) -> Sequence[float]:
    n = _n(10_000, scale, 100) // 100 * 100
    try:
        seconds = _timed(lambda: side.grow(n, 100))
    finally:
        side.close()
    return (n / seconds,)


def w3(side: Side, scale: float) -> Sequence[float]:
    try:
        key = side.bulk(_n(10_000, scale))
        gc.collect()
        seconds = _timed(lambda: side.load(key))
    finally:
        side.close()
    return (seconds * 1000,)


def w4(side: Side, scale: float) -> Sequence[float]:
    total = _n(100_000, scale, 100)
    try:
        for _ in range(max(1, total // 10_000)):
            side.bulk(min(10_000, total))
        gc.collect()
        t0 = time.perf_counter()
        count = side.read_log()
        seconds = time.perf_counter() - t0
    finally:
        side.close()
    return (count / seconds,)


def w5(side: Side, scale: float) -> Sequence[float]:
    n = _n(1000, scale, 20)
    times = []
    try:
        for _ in range(n):
            times.append(_timed(side.create_one) * 1000)
    finally:
        side.close()
    q = statistics.quantiles(times, n=100, method="inclusive")
    return (q[49], q[94], q[98])


def w6(side: Side, scale: float, threads: int = 4) -> Sequence[float]:
    per_thread = _n(5000, scale) // threads
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(per_thread):
                side.create_one()
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    try:
        t0 = time.perf_counter()
        for t in workers:
            t.start()
        for t in workers:
            t.join()
        seconds = time.perf_counter() - t0
    finally:
        side.close()
    if errors:
        raise errors[0]
    return (per_thread * threads / seconds,)


@dataclass(frozen=True)
class Workload:
    run: Callable[[Side, float], Sequence[float]]
    outputs: tuple[tuple[str, str, bool], ...]  # (label suffix, unit, higher is better)


WORKLOADS = {
    "W1": Workload(w1, (("", "/s", True),)),
    "W2": Workload(w2, (("", "/s", True),)),
    "W3": Workload(w3, (("", "ms", False),)),
    "W4": Workload(w4, (("", "/s", True),)),
    "W5": Workload(w5, ((" p50", "ms", False), (" p95", "ms", False), (" p99", "ms", False))),
    "W6": Workload(w6, (("", "/s", True),)),
}


# -- memory --------------------------------------------------------------------------------


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure_rss(name: str, store: str, side_name: str, scale: float, pg_url: str) -> float:
    """Peak RSS growth (MB) while W3 loads or W4 reads, after the data is in place."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        side = (esf_side if side_name == "esf" else es_side)(store, Path(tmp), pg_url)
        try:
            if name == "W3":
                key = side.bulk(_n(10_000, scale))
                action: Callable[[], Any] = lambda: side.load(key)  # noqa: E731
            else:
                total = _n(100_000, scale, 100)
                for _ in range(max(1, total // 10_000)):
                    side.bulk(min(10_000, total))
                action = side.read_log
            gc.collect()
            base = peak = _rss_mb()
            done = threading.Event()

            def sample() -> None:
                nonlocal peak
                while not done.is_set():
                    peak = max(peak, _rss_mb())
                    time.sleep(0.002)

            sampler = threading.Thread(target=sample)
            sampler.start()
            action()
            done.set()
            sampler.join()
            peak = max(peak, _rss_mb())
        finally:
            side.close()
    return peak - base
