"""esframework beside the ``eventsourcing`` library, on the same workloads and stores.

    python benchmarks/bench.py                      # every store, full scale, 5 rounds
    python benchmarks/bench.py --stores sqlite --rounds 3
    python benchmarks/bench.py --scale 0.01 --rounds 1   # a smoke run (what CI does)

Workloads (single thread unless said):
  W1  create N aggregates (5,000), one event each, one save each        saves/s
  W2  one aggregate, 10,000 events, saved every 100                     events/s
  W3  load an aggregate of 10,000 events, no snapshot                   ms
  W4  read 100,000 events of the global log, decoded                    events/s
  W5  latency of one command that creates an aggregate (p50/p95/p99)    ms
  W6  4 writer threads on distinct streams, like W1                     saves/s
and peak RSS growth while loading (W3) and reading (W4), each in a fresh process.

Both frameworks run with the same settings (SQLite: WAL, synchronous=FULL; PostgreSQL:
server defaults), the two interleaved round by round; each figure is the median of the
rounds, and the ratio is esframework / eventsourcing (higher is better, except for
times, where it is eventsourcing / esframework so that higher is still better).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import workloads

PG_URL = os.environ.get("ESF_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@dataclass
class Figure:
    workload: str
    store: str
    unit: str
    higher_is_better: bool
    esf: list[float] = field(default_factory=list)
    es: list[float] = field(default_factory=list)

    def median(self, side: list[float]) -> float | None:
        return statistics.median(side) if side else None

    def ratio(self) -> float | None:
        a, b = self.median(self.esf), self.median(self.es)
        if a is None or b is None or a == 0 or b == 0:
            return None
        return a / b if self.higher_is_better else b / a


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "ms":
        return f"{value:.2f} ms" if value < 100 else f"{value:.0f} ms"
    if unit == "MB":
        return f"{value:.1f} MB"
    return f"{value / 1000:.1f}k/s" if value >= 1000 else f"{value:.0f}/s"


def run_rounds(
    stores: list[str], names: list[str], rounds: int, scale: float, with_es: bool
) -> list[Figure]:
    figures: dict[tuple[str, str], Figure] = {}
    for store in stores:
        for name in names:
            spec = workloads.WORKLOADS[name]
            for label, unit, hib in spec.outputs:
                figures[(f"{name}{label}", store)] = Figure(f"{name}{label}", store, unit, hib)
        for r in range(rounds):
            for name in names:
                spec = workloads.WORKLOADS[name]
                sides = [("esf", workloads.esf_side)]
                if with_es:
                    sides.append(("es", workloads.es_side))
                if r % 2 == 1:
                    sides.reverse()  # alternate who goes first
                for side_name, side in sides:
                    with tempfile.TemporaryDirectory() as tmp:
                        results = spec.run(side(store, Path(tmp), PG_URL), scale)
                    for (label, _unit, _hib), value in zip(spec.outputs, results, strict=True):
                        getattr(figures[(f"{name}{label}", store)], side_name).append(value)
                print(f"  {store} round {r + 1}/{rounds}: {name} done", file=sys.stderr)
    return list(figures.values())


def run_rss(stores: list[str], scale: float, with_es: bool) -> list[Figure]:
    out = []
    for store in stores:
        for name in ("W3", "W4"):
            fig = Figure(f"RSS {name}", store, "MB", higher_is_better=False)
            for side in ["esf", "es"] if with_es else ["esf"]:
                proc = subprocess.run(  # noqa: S603 - our own script
                    [sys.executable, __file__, "--rss-child", name, store, side, str(scale)],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                getattr(fig, side).append(float(proc.stdout.strip().splitlines()[-1]))
            out.append(fig)
    return out


def table(figures: list[Figure], header: str) -> str:
    lines = [
        header,
        "",
        "| workload | store | esframework | eventsourcing | ratio |",
        "| --- | --- | --- | --- | --- |",
    ]
    for f in figures:
        ratio = f.ratio()
        lines.append(
            f"| {f.workload} | {f.store} | {_fmt(f.median(f.esf), f.unit)} | "
            f"{_fmt(f.median(f.es), f.unit)} | {'-' if ratio is None else f'{ratio:.2f}x'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stores", default="memory,sqlite,postgres")
    parser.add_argument("--workloads", default="W1,W2,W3,W4,W5,W6")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--no-eventsourcing", action="store_true")
    parser.add_argument("--no-rss", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.add_argument("--rss-child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.rss_child:
        name, store, side, scale = args.rss_child
        print(workloads.measure_rss(name, store, side, float(scale), PG_URL))
        return 0

    with_es = not args.no_eventsourcing and workloads.eventsourcing_available()
    if not args.no_eventsourcing and not with_es:
        print("eventsourcing is not installed: pip install -e '.[bench]'", file=sys.stderr)
    stores = [s for s in args.stores.split(",") if s]
    if "postgres" in stores and not workloads.postgres_available(PG_URL):
        print(f"PostgreSQL at {PG_URL} is not reachable: skipping it", file=sys.stderr)
        stores.remove("postgres")
    names = [w for w in args.workloads.split(",") if w]
    started = time.perf_counter()
    figures = run_rounds(stores, names, args.rounds, args.scale, with_es)
    if not args.no_rss:
        figures += run_rss([s for s in stores if s != "memory"], args.scale, with_es)
    header = (
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} cores, {platform.system()} {platform.machine()}; "
        f"scale {args.scale}, median of {args.rounds} round(s), "
        f"{time.perf_counter() - started:.0f} s in all"
    )
    print(table(figures, header))
    if args.json:
        args.json.write_text(
            json.dumps([f.__dict__ | {"ratio": f.ratio()} for f in figures], indent=2)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
