"""A writer killed with SIGKILL in the middle of a large batch leaves no partial batch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from uuid import uuid4

import pytest
import sqlalchemy as sa

import esframework as esf
from esframework.adapters.postgres import lock_key
from esframework.adapters.sql import SqlStore
from esframework.audit import verify_records
from esframework.testing.contract import Noted

pytestmark = pytest.mark.slow

STREAMS, PER_STREAM = 50, 1000  # 50,000 events in one append_many

SQLITE_WRITER = """
import sys, time, uuid
import sqlalchemy as sa
import esframework as esf
from esframework.testing.contract import Noted

store = esf.connect(sys.argv[1])

def pause_inside_the_write(db, _record):
    # SQLite calls this every 1000 instructions of a running statement: once the
    # write transaction has run for a while, we are in the middle of the insert.
    calls = 0
    def progress():
        nonlocal calls
        if db.in_transaction:
            calls += 1
            if calls == 200:
                print("inside", flush=True)
                time.sleep(3600)
        return 0
    db.set_progress_handler(progress, 1000)

sa.event.listen(store.engine, "connect", pause_inside_the_write)
store.engine.dispose()
batch = {uuid.uuid4(): (0, [Noted(f"{s}-{i}") for i in range(PER_STREAM)]) for s in range(STREAMS)}
print("appending", flush=True)
store.append_many(batch)
print("done", flush=True)
"""

POSTGRES_WRITER = """
import sys, uuid
import esframework as esf
from esframework.testing.contract import Noted

store = esf.connect(sys.argv[1], schema=sys.argv[2], pool_size=1)
with store.transaction() as conn:
    print(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar(), flush=True)
batch = {uuid.uuid4(): (0, [Noted(f"{s}-{i}") for i in range(PER_STREAM)]) for s in range(STREAMS)}
store.append_many(batch)
print("done", flush=True)
"""


def _script(tmp_path: Path, source: str) -> Path:
    path = tmp_path / "writer.py"
    sizes = f"STREAMS, PER_STREAM = {STREAMS}, {PER_STREAM}\n"
    path.write_text(sizes + textwrap.dedent(source))
    return path


def _assert_whole_or_nothing(store: esf.EventStore, before: int) -> None:
    events = list(store.read_all())
    assert len(events) in (before, before + STREAMS * PER_STREAM)
    assert [r.position for r in events] == list(range(1, len(events) + 1))
    assert verify_records(events).ok
    sid = uuid4()
    store.append(sid, [Noted("after the crash")], expected_version=0)
    assert [r.event.text for r in store.read_stream(sid)] == ["after the crash"]


def test_sqlite_writer_killed_mid_insert_leaves_nothing(tmp_path: Path) -> None:
    """SIGKILL while SQLite inserts a 50,000-event batch: none of it is visible after."""
    url = f"sqlite:///{tmp_path / 'events.db'}"
    with esf.connect(url) as store:
        store.append(uuid4(), [Noted("before")], expected_version=0)
    script = _script(tmp_path, SQLITE_WRITER)
    with subprocess.Popen(
        [sys.executable, str(script), url], stdout=subprocess.PIPE, text=True
    ) as p:
        assert p.stdout is not None
        assert p.stdout.readline() == "appending\n"
        assert p.stdout.readline() == "inside\n"
        os.kill(p.pid, signal.SIGKILL)
        assert p.wait() == -signal.SIGKILL
    with esf.connect(url) as store:
        assert [r.event.text for r in store.read_all()] == ["before"]
        _assert_whole_or_nothing(store, before=1)
        assert isinstance(store, SqlStore)
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"


@pytest.mark.postgres
def test_postgres_writer_killed_mid_append_leaves_no_partial_batch(
    postgres_url: str, tmp_path: Path
) -> None:
    """SIGKILL while a 50,000-event batch is in flight: whole or absent, and the lock is free."""
    # The test holds the store's write lock, so the writer is caught with its batch
    # sent and waiting; it is killed there, then the lock is released.
    schema = f"esf_test_{uuid4().hex[:12]}"
    with esf.connect(postgres_url, schema=schema) as store:
        assert isinstance(store, SqlStore)
        try:
            store.append(uuid4(), [Noted("before")], expected_version=0)
            script = _script(tmp_path, POSTGRES_WRITER)
            with store.engine.connect() as blocker:
                blocker.execute(
                    sa.text("SELECT pg_advisory_lock(:k)"), {"k": lock_key("log", schema)}
                )
                blocker.commit()
                args = [sys.executable, str(script), postgres_url, schema]
                with subprocess.Popen(args, stdout=subprocess.PIPE, text=True) as p:
                    assert p.stdout is not None
                    backend = int(p.stdout.readline())
                    _wait_until_waiting_for_lock(blocker, backend)
                    os.kill(p.pid, signal.SIGKILL)
                    assert p.wait() == -signal.SIGKILL
                blocker.execute(sa.text("SELECT pg_advisory_unlock_all()"))
                blocker.commit()
            _assert_whole_or_nothing(store, before=1)
        finally:
            with store.engine.begin() as conn:
                conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")


def _wait_until_waiting_for_lock(conn: sa.Connection, backend: int) -> None:
    """Poll until the writer's backend waits for the advisory lock (its batch is sent)."""
    query = sa.text(
        "SELECT wait_event FROM pg_stat_activity WHERE pid = :pid AND state = 'active'"
    )
    for _ in range(100_000):
        if conn.execute(query, {"pid": backend}).scalar() == "advisory":
            conn.rollback()
            return
        conn.rollback()
    pytest.fail(f"backend {backend} never waited for the write lock")
