"""The read side on the SQL stores: lost connections, other processes, shapes, cleanup."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest

import esframework as esf
from esframework.adapters.base import EventStore

WAIT = 30.0


@esf.event(name="tests.read_sql.Opened")
class Opened:
    owner: str


@esf.event(name="tests.read_sql.Deposited")
class Deposited:
    amount: int


@esf.view(key="account_id", indexes=("owner", "balance"), name="tests_read_sql_balance")
class Balance:
    account_id: UUID
    owner: str
    balance: int


@esf.projection(views=[Balance], name="tests.read_sql.balances", batch_size=5)
class Balances:
    @esf.on
    def opened(self, event: Opened, ctx: esf.ProjectionContext) -> None:
        ctx.view(Balance).put(Balance(ctx.stream_id, event.owner, 0))

    @esf.on
    def deposited(self, event: Deposited, ctx: esf.ProjectionContext) -> None:
        row = ctx.view(Balance).get(ctx.stream_id)
        assert row is not None
        ctx.view(Balance).update(ctx.stream_id, balance=row.balance + event.amount)


def eventually(check: Callable[[], Any], what: str) -> Any:
    """Wait until ``check()`` is truthy (bounded by WAIT); returns its value."""
    deadline = time.monotonic() + WAIT
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.02)


@pytest.fixture
def pg(postgres_url: str) -> Iterator[tuple[str, str, str]]:
    """(URL with a unique application_name, that name, schema): a store's backends are
    findable in pg_stat_activity. The schema is dropped afterwards."""
    name = f"esf_t_{uuid4().hex[:12]}"
    schema = f"esf_test_{uuid4().hex[:16]}"
    yield f"{postgres_url}?application_name={name}", name, schema
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _backends(postgres_url: str, app: str, where: str = "true") -> list[tuple[Any, ...]]:
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        return admin.execute(
            f"SELECT pid, query FROM pg_stat_activity WHERE application_name = %s AND {where}",
            (app,),
        ).fetchall()


def _terminate(postgres_url: str, app: str) -> int:
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            (app,),
        ).fetchall()
    return len(rows)


@pytest.mark.postgres
def test_killed_connections_lose_and_repeat_nothing(
    pg: tuple[str, str, str], postgres_url: str
) -> None:
    """pg_terminate_backend on every connection of a store mid-stream: the subscription
    and the projection runner reconnect and resume; no event is missed, none twice."""
    url, app, schema = pg
    with (
        esf.connect(url, schema=schema) as store,
        esf.connect(postgres_url, schema=schema) as writer,
    ):
        projections = esf.Projections(store, [Balances])
        projections.start(poll_interval=0.2)
        accounts = [uuid4() for _ in range(3)]
        for a in accounts:
            writer.append(a, [Opened("ann")])
        seen: list[int] = []
        halfway = threading.Event()
        sub = store.subscribe(poll_interval=0.2)

        def consume() -> None:
            for record in sub:
                seen.append(record.position)
                if len(seen) == 20:
                    halfway.set()
                if len(seen) == 63:
                    return

        consumer = threading.Thread(target=consume)
        consumer.start()
        for n in range(60):
            writer.append(accounts[n % 3], [Deposited(1)])
            if n == 30:
                assert halfway.wait(WAIT)
                assert _terminate(postgres_url, app) >= 1
        consumer.join(WAIT)
        sub.close()
        assert seen == list(range(1, 64))
        assert projections.wait_for(63, timeout=WAIT)
        balances = [projections.view(Balance).get(a) for a in accounts]
        assert [b.balance for b in balances if b] == [20, 20, 20]
        projections.close()


@pytest.mark.postgres
def test_closing_releases_threads_and_connections(
    pg: tuple[str, str, str], postgres_url: str
) -> None:
    """Closing a subscription ends the listener (thread and LISTEN backend); stopping
    runners gives up their advisory locks; closing the store leaves no backend."""
    url, app, schema = pg
    threads = set(threading.enumerate())
    store = esf.connect(url, schema=schema)
    try:
        store.append(uuid4(), [Opened("ann")])
        with store.subscribe(poll_interval=0.2) as sub:
            assert next(sub).position == 1
            got: list[int] = []
            waiting = threading.Thread(target=lambda: got.append(next(sub).position))
            waiting.start()  # catching up needed no listener; waiting does
            listening = "query LIKE 'LISTEN%%'"
            eventually(lambda: _backends(postgres_url, app, listening), "a LISTEN backend")
            store.append(uuid4(), [Opened("bob")])
            waiting.join(WAIT)
            assert got == [2]
        assert set(threading.enumerate()) <= threads
        eventually(lambda: not _backends(postgres_url, app, listening), "no LISTEN backend")
        projections = esf.Projections(store, [Balances])
        projections.start(poll_interval=0.2)
        assert projections.wait_for(timeout=WAIT)
        locks = "pid IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory')"
        eventually(lambda: _backends(postgres_url, app, locks), "a runner holds its lease")
        projections.close()
        assert set(threading.enumerate()) <= threads
        eventually(lambda: not _backends(postgres_url, app, locks), "no advisory lock held")
    finally:
        store.close()
    eventually(lambda: not _backends(postgres_url, app), "no backend of the store")


def test_a_commit_by_another_process_wakes_a_waiter(sql_db: Any) -> None:
    """A waiter is woken by another connection's commit (SQLite: data_version; PostgreSQL:
    NOTIFY), long before its own poll would have found it."""
    with sql_db.connect() as store, sql_db.connect() as other:
        got: list[int] = []
        sub = store.subscribe(poll_interval=600)
        ready = threading.Event()

        def consume() -> None:
            ready.set()
            got.append(next(sub).position)

        consumer = threading.Thread(target=consume)
        consumer.start()
        ready.wait(WAIT)
        time.sleep(0.05)  # let it reach its wait: the wake-up, not a first read, must find it
        other.append(uuid4(), [Opened("ann")])
        consumer.join(WAIT)
        assert got == [1]
        sub.close()


def test_runners_of_two_stores_apply_each_event_once(sql_db: Any) -> None:
    """Two store objects (as two processes have) running one projection: every event is
    applied once, whoever holds the lease (SQLite has none: both run)."""
    with sql_db.connect() as one, sql_db.connect() as two:
        runners = [esf.Projections(s, [Balances]) for s in (one, two)]
        for r in runners:
            r.start(poll_interval=0.05)
        accounts = [uuid4() for _ in range(4)]
        for a in accounts:
            one.append(a, [Opened("ann")])
        for n in range(80):
            (one if n % 2 else two).append(accounts[n % 4], [Deposited(n)])
        assert all(r.wait_for(timeout=WAIT) for r in runners)
        expected = [sum(range(i, 80, 4)) for i in range(4)]
        assert [runners[0].view(Balance).get(a).balance for a in accounts] == expected  # type: ignore[union-attr]
        for r in runners:
            r.close()


RUNNER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, sys.argv[1])
    from esframework.projection_runner import run
    run(sys.argv[2], ["readside_mod:Totals"], poll_interval=0.1, schema=sys.argv[3])
    """
)

MODULE = textwrap.dedent(
    """
    from uuid import UUID
    import esframework as esf

    @esf.event(name="tests.read_sql.mod.Added")
    class Added:
        n: int

    @esf.view(key="stream", indexes=("total",), name="tests_read_sql_totals")
    class Total:
        stream: UUID
        total: int

    @esf.projection(views=[Total], name="tests.read_sql.totals")
    class Totals:
        @esf.on
        def added(self, event: Added, ctx: esf.ProjectionContext) -> None:
            row = ctx.view(Total).get(ctx.stream_id)
            ctx.view(Total).put(Total(ctx.stream_id, (row.total if row else 0) + event.n))
    """
)


@pytest.mark.postgres
def test_a_runner_takes_over_when_the_active_process_dies(
    pg: tuple[str, str, str], postgres_url: str, tmp_path: Path
) -> None:
    """With a runner process holding the projection, another waits; when the process is
    killed, its advisory lock goes with its connection and the waiting one takes over."""
    url, _app, schema = pg
    (tmp_path / "readside_mod.py").write_text(MODULE)
    sys.path.insert(0, str(tmp_path))
    try:
        import readside_mod  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(tmp_path))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen([sys.executable, "-c", RUNNER, str(tmp_path), url, schema], env=env)
    try:
        with esf.connect(postgres_url, schema=schema) as store:
            stream = uuid4()
            store.append(stream, [readside_mod.Added(1)])
            waiting = esf.Projections(store, [readside_mod.Totals])
            assert waiting.wait_for(timeout=WAIT)  # the child's runner applied it: it is active
            waiting.start(poll_interval=0.1)
            store.append(stream, [readside_mod.Added(10)])
            assert waiting.wait_for(timeout=WAIT)
            assert not waiting.status("tests.read_sql.totals").active
            child.kill()
            child.wait(WAIT)
            store.append(stream, [readside_mod.Added(2)])
            assert waiting.wait_for(timeout=WAIT)
            assert waiting.status("tests.read_sql.totals").active
            assert waiting.view(readside_mod.Total).get(stream) == readside_mod.Total(stream, 13)
            waiting.close()
    finally:
        child.kill()
        child.wait(WAIT)


def _view_class(indexes: tuple[str, ...]) -> type:
    @esf.view(key="account_id", indexes=indexes, name="tests_read_sql_shape")
    class Shape:
        account_id: UUID
        owner: str
        balance: int = 0

    return Shape


def _projection_of(view: type) -> type:
    @esf.projection(views=[view], name="tests.read_sql.shape")
    class ShapeProjection:
        @esf.on
        def opened(self, event: Opened, ctx: esf.ProjectionContext) -> None:
            ctx.view(view).put(view(ctx.stream_id, event.owner))

    return ShapeProjection


def test_a_view_whose_shape_changed_is_rebuilt_from_the_start(sql_db: Any) -> None:
    """A view that gains an index gets a new table, and its projection starts again at 0."""
    old = _view_class(("owner",))
    with sql_db.connect() as store:
        store.append(uuid4(), [Opened("ann")])
        store.append(uuid4(), [Opened("bob")])
        first = esf.Projections(store, [_projection_of(old)])
        first.catch_up()
        assert first.view(old).count() == 2
    new = _view_class(("owner", "balance"))
    with sql_db.connect() as store:
        second = esf.Projections(store, [_projection_of(new)])
        assert second.status("tests.read_sql.shape").position == 0
        second.catch_up()
        assert second.view(new).where(balance=0, owner="bob").count() == 1


def test_an_inline_projection_commits_with_the_append(store: EventStore) -> None:
    """A store append with an inline projection is one transaction: the view row and the
    checkpoint are there when append() returns, and a failing handler stores the events."""

    @esf.projection(views=[Balance], name="tests.read_sql.inline", mode="inline")
    class Inline(Balances):
        pass

    app = esf.Application(store, projections=[Inline])
    account = uuid4()
    store.append(account, [Opened("ann"), Deposited(5)])
    assert app.view(Balance).get(account) == Balance(account, "ann", 5)
    store.append(uuid4(), [Deposited(1)])  # no Opened: the handler's assert fails
    status = app.projections.status("tests.read_sql.inline")
    assert (status.state, status.position, status.head) == ("failed", 2, 3)
