"""What the SQL stores do beyond the contract: paging, triggers, options, processes."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap
import threading
import weakref
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from uuid import uuid4

import pytest
import sqlalchemy as sa

import esframework as esf
from esframework.adapters.base import StoreStats
from esframework.adapters.sql import SqlStore
from esframework.audit import verify_records
from esframework.testing.contract import Counted, Noted
from esframework.testing.stores import fresh_store


def _notes(*texts: str) -> list[Noted]:
    return [Noted(text=t) for t in texts]


def test_reads_cross_page_boundaries(sql_db) -> None:
    """Paged reads return every event once, whatever the page size."""
    with sql_db.connect(page_size=2) as store:
        sid = uuid4()
        store.append(sid, _notes("1", "2", "3", "4", "5"), expected_version=0)
        store.append(uuid4(), [Counted(n=6), Noted("7"), Counted(n=8)], expected_version=0)
        assert [r.version for r in store.read_stream(sid)] == [1, 2, 3, 4, 5]
        assert [r.version for r in store.read_stream(sid, 2, 5)] == [2, 3, 4, 5]
        assert [r.position for r in store.read_all()] == list(range(1, 9))
        assert [r.position for r in store.read_all(after=1, limit=5)] == [2, 3, 4, 5, 6]
        assert [r.position for r in store.read_all(types=["esf.contract.Counted"])] == [6, 8]


@pytest.mark.parametrize("reader", ["read_all", "read_stream"])
def test_a_dropped_record_is_freed_before_the_page_ends(sql_db, reader: str) -> None:
    """Reading keeps no page of records alive: one the caller drops is freed by the next."""
    with sql_db.connect(page_size=100) as store:
        sid = uuid4()
        store.append(sid, _notes(*"abcdefgh"), expected_version=0)
        records = store.read_all() if reader == "read_all" else store.read_stream(sid)
        first = next(records)
        assert first.event == Noted("a")
        gone = weakref.ref(first)
        del first
        assert next(records).event == Noted("b")
        gc.collect()
        assert gone() is None
        assert [r.event.text for r in records] == list("cdefgh")


def test_reading_holds_no_connection_between_pages(sql_db) -> None:
    """An abandoned read leaves nothing checked out: the store closes cleanly."""
    with sql_db.connect(page_size=1, pool_size=1) as store:
        store.append(uuid4(), _notes("a", "b", "c"), expected_version=0)
        reading = store.read_all()
        next(reading)
        assert isinstance(store, SqlStore)
        assert store.engine.pool.checkedout() == 0
        store.append(uuid4(), _notes("d"), expected_version=0)
        assert [r.event.text for r in reading] == ["b", "c", "d"]


@pytest.mark.parametrize("statement", ["UPDATE events SET data = metadata", "DELETE FROM events"])
def test_the_database_refuses_to_change_events(sql_db, statement: str) -> None:
    """Triggers refuse UPDATE and DELETE on events: ImmutableEventError, nothing changed."""
    with sql_db.connect() as store:
        assert isinstance(store, SqlStore)
        store.append(uuid4(), _notes("kept"), expected_version=0)
        with pytest.raises(esf.ImmutableEventError, match="immutable"), store.transaction() as c:
            c.exec_driver_sql(statement)
        with pytest.raises(sa.exc.DBAPIError, match="immutable"), store.engine.begin() as c:
            c.exec_driver_sql(statement)
        assert [r.event.text for r in store.read_all()] == ["kept"]
        assert verify_records(store.read_all()).ok


@pytest.mark.postgres
def test_postgres_refuses_truncate(postgres_url: str) -> None:
    """PostgreSQL's trigger also refuses TRUNCATE on events."""
    with fresh_store(postgres_url) as store:
        assert isinstance(store, SqlStore)
        store.append(uuid4(), _notes("kept"), expected_version=0)
        with pytest.raises(esf.ImmutableEventError), store.transaction() as c:
            c.exec_driver_sql("TRUNCATE events")
        assert [r.event.text for r in store.read_all()] == ["kept"]


def test_transaction_commits_read_models_next_to_events(sql_db) -> None:
    """store.transaction() commits on a clean exit and rolls back on an error."""
    with sql_db.connect() as store:
        assert isinstance(store, SqlStore)
        with store.transaction() as c:
            c.exec_driver_sql("CREATE TABLE balances (id TEXT PRIMARY KEY, amount INTEGER)")
            c.exec_driver_sql("INSERT INTO balances VALUES ('a', 1)")

        def fail_after_insert() -> None:
            with store.transaction() as c:
                c.exec_driver_sql("INSERT INTO balances VALUES ('b', 2)")
                raise RuntimeError("the read model update failed")

        with pytest.raises(RuntimeError):
            fail_after_insert()
        with store.transaction() as c:
            assert c.exec_driver_sql("SELECT id FROM balances").scalars().all() == ["a"]


def test_naive_clock_is_refused(sql_db) -> None:
    """A clock returning naive datetimes is a StoreError; nothing is stored."""
    with sql_db.connect(clock=lambda: datetime(2020, 1, 1)) as store:
        with pytest.raises(esf.StoreError):
            store.append(uuid4(), [esf.NewEvent(Noted("a"), occurred_at=datetime.now(UTC))])
        assert list(store.read_all()) == []


def test_repr_names_the_database_without_password(sql_db) -> None:
    """A store's repr says where it is, never with a password."""
    with sql_db.connect() as store:
        assert type(store).__name__ in repr(store)
    assert "closed" in repr(store)


def test_in_memory_sqlite_is_shared_by_threads() -> None:
    """sqlite:// is one database for every thread of the store, until it closes."""
    with esf.connect("sqlite://") as store:
        sid = uuid4()
        store.append(sid, _notes("main"), expected_version=0)

        def write(n: int) -> None:
            for _ in range(20):
                while True:
                    try:
                        store.append(sid, [Noted(f"t{n}")], store.stream_version(sid))
                        break
                    except esf.ConcurrencyError:
                        continue

        threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert store.stream_version(sid) == 81
        assert verify_records(store.read_all()).ok
    with esf.connect("sqlite://") as other:
        assert list(other.read_all()) == []


def test_sqlite_pragmas_follow_the_options(tmp_path: Path) -> None:
    """A file store runs in WAL; synchronous is FULL unless told NORMAL."""
    url = f"sqlite:///{tmp_path / 'e.db'}"
    for given, expected in [({}, 2), ({"synchronous": "normal"}, 1)]:
        with esf.connect(url, **given) as store:
            assert isinstance(store, SqlStore)
            with store.engine.connect() as c:
                assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
                assert c.exec_driver_sql("PRAGMA synchronous").scalar() == expected
    with esf.connect(url + "?synchronous=NORMAL&busy_timeout=1.5") as store:
        assert isinstance(store, SqlStore)
        with store.engine.connect() as c:
            assert c.exec_driver_sql("PRAGMA synchronous").scalar() == 1
            assert c.exec_driver_sql("PRAGMA busy_timeout").scalar() == 1500


WRITER = """
import sys, uuid
import esframework as esf
from esframework.testing.contract import Noted

url, shared, name = sys.argv[1], uuid.UUID(sys.argv[2]), sys.argv[3]
with esf.connect(url) as store:
    own = uuid.uuid4()
    for i in range(40):
        store.append(own, [Noted(f"{name}-{i}")], expected_version=i)
        while True:
            try:
                store.append(shared, [Noted(name)], store.stream_version(shared))
                break
            except esf.ConcurrencyError:
                continue
"""


def test_writers_in_several_processes_queue_cleanly(sql_db, tmp_path: Path) -> None:
    """Processes writing one database at once all succeed, and the log stays valid."""
    with sql_db.connect() as store:
        shared = uuid4()
        store.append(shared, _notes("start"), expected_version=0)
        url = sql_db.url
        if sql_db.kind == "postgres":
            url += f"?schema={sql_db.options['schema']}"
        script = tmp_path / "writer.py"
        script.write_text(textwrap.dedent(WRITER))
        procs = [
            subprocess.Popen([sys.executable, str(script), url, str(shared), f"p{n}"])
            for n in range(3)
        ]
        assert [p.wait() for p in procs] == [0, 0, 0]
        assert store.stream_version(shared) == 1 + 3 * 40
        events = list(store.read_all())
        assert len(events) == 1 + 2 * 3 * 40
        assert [r.position for r in events] == list(range(1, len(events) + 1))
        assert verify_records(events).ok


def test_a_unique_violation_surfaces_as_esframework_error(sql_db) -> None:
    """Writing a stored event id again behind the store's back is DuplicateEventId."""
    with sql_db.connect() as store:
        assert isinstance(store, SqlStore)
        store.append(uuid4(), _notes("a"), expected_version=0)
        copy = (
            "INSERT INTO events SELECT position + 1, stream_id, stream_type, version + 1, "
            "event_id, event_type, schema_version, data, metadata, occurred_at, "
            "occurred_offset, recorded_at, prev_hash, hash FROM events"
        )
        with pytest.raises(esf.DuplicateEventId), store.transaction() as c:
            c.exec_driver_sql(copy)
        assert len(list(store.read_all())) == 1


@pytest.mark.postgres
def test_a_dead_pooled_connection_is_replaced(postgres_url: str) -> None:
    """After the server drops the store's connection, the next calls work on a new one."""
    with fresh_store(postgres_url, pool_size=1, max_overflow=0) as store:
        assert isinstance(store, SqlStore)
        sid = uuid4()
        store.append(sid, _notes("a"), expected_version=0)
        for drop in ("append", "read"):
            with store.transaction() as c:
                pid = c.exec_driver_sql("SELECT pg_backend_pid()").scalar()
            admin = sa.create_engine(store.engine.url)
            with admin.begin() as other:
                other.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            admin.dispose()
            if drop == "append":
                store.append(sid, _notes("b"), expected_version=1)
            else:
                assert [r.event.text for r in store.read_stream(sid)] == ["a", "b"]


def test_many_types_are_filtered_in_one_scan(sql_db) -> None:
    """read_all with more types than index scans pay for still filters exactly."""
    with sql_db.connect(page_size=2) as store:
        store.append(uuid4(), [Noted("a"), Counted(n=1), Noted("b")], expected_version=0)
        many = ["esf.contract.Noted", *(f"unused.{i}" for i in range(40))]
        assert [r.event.text for r in store.read_all(types=many)] == ["a", "b"]
        assert [r.event.text for r in store.read_all(types=many, limit=1)] == ["a"]


def test_times_outside_utc_range_are_refused(sql_db) -> None:
    """An occurred_at whose UTC instant falls before year 1 is a SerializationError."""
    early = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5)))
    with sql_db.connect() as store:
        with pytest.raises(esf.SerializationError):
            store.append(uuid4(), [esf.NewEvent(Noted("a"), occurred_at=early)])
        assert list(store.read_all()) == []


@pytest.mark.postgres
@pytest.mark.parametrize("scheme", ["postgresql", "postgresql+psycopg", "postgres"])
def test_postgres_url_forms_all_use_psycopg_3(postgres_url: str, scheme: str) -> None:
    """postgresql://, postgresql+psycopg:// and postgres:// open a psycopg 3 store."""
    url = scheme + postgres_url[postgres_url.index("://") :]
    with fresh_store(url) as store:
        assert isinstance(store, SqlStore)
        assert store.engine.dialect.driver == "psycopg"
        store.append(uuid4(), _notes("a"), expected_version=0)
        assert len(list(store.read_all())) == 1


def test_stored_ids_read_back_as_ordinary_uuids() -> None:
    """Ids read from SQLite text are UUIDs equal, hashed and printed like any other."""
    from uuid import UUID as _UUID

    from esframework.adapters.sql_rows import uuid_from_hex

    for value in (uuid4(), _UUID(int=0), _UUID(int=2**128 - 1)):
        made = uuid_from_hex(value.hex)
        assert made == value
        assert hash(made) == hash(value)
        assert str(made) == str(value)
        assert made.version == value.version
        assert isinstance(made, _UUID)


def test_stats_count_events_and_streams(store) -> None:
    """stats() gives the events, streams and last position, on every store."""
    assert store.stats() == StoreStats(0, 0, 0)
    a, b = uuid4(), uuid4()
    store.append(a, _notes("1", "2"), expected_version=0)
    store.append(b, _notes("3"), expected_version=0)
    store.append(a, _notes("4"), expected_version=2)
    assert store.stats() == StoreStats(events=4, streams=2, last_position=4)


def test_appends_see_what_another_store_object_appended(sql_db) -> None:
    """A store that appended to a stream is not misled once another process appends to it.

    The first store remembers the stream's head from its own append; the second (like
    another process) moves the stream on. The first then still refuses a stale expected
    version, appends after the other's event with ANY, and the chain verifies.
    """
    with sql_db.connect() as ours, sql_db.connect() as theirs:
        sid = uuid4()
        ours.append(sid, _notes("a"), expected_version=0)
        ours.append(sid, _notes("b"), expected_version=1)
        theirs.append(sid, _notes("c"), expected_version=2)
        with pytest.raises(esf.ConcurrencyError) as info:
            ours.append(sid, _notes("x"), expected_version=2)
        assert info.value.actual == 3
        [d] = ours.append(sid, _notes("d"), expected_version=esf.ANY)
        assert d.version == 4
        theirs.append(sid, _notes("e"), expected_version=4)
        [f] = ours.append(sid, _notes("f"), expected_version=5)
        assert [r.event.text for r in ours.read_stream(sid)] == ["a", "b", "c", "d", "e", "f"]
        [e] = theirs.read_stream(sid, 5, 5)
        assert f.prev_hash == e.hash
        assert verify_records(theirs.read_all()).ok


@pytest.mark.parametrize("count", [1, 2, 16, 17, 100])
def test_batches_of_any_size_are_stored_whole(sql_db, count: int) -> None:
    """Small and large batches (sent as plain values or as arrays) read back as appended."""
    with sql_db.connect() as store:
        sid = uuid4()
        store.append(sid, _notes("first"), expected_version=0)
        texts = [f"n{i}" for i in range(count)]
        written = store.append(sid, _notes(*texts), expected_version=1)
        assert [r.version for r in written] == list(range(2, count + 2))
        assert [r.position for r in written] == list(range(2, count + 2))
        read = list(store.read_stream(sid, 2))
        assert [r.event.text for r in read] == texts
        assert [(r.event_id, r.hash, r.prev_hash) for r in read] == [
            (r.event_id, r.hash, r.prev_hash) for r in written
        ]
        assert verify_records(store.read_all()).ok


OWN_STREAMS_WRITER = """
import sys, uuid
import esframework as esf
from esframework.testing.contract import Noted

url, name = sys.argv[1], sys.argv[2]
with esf.connect(url) as store:
    for s in range(3):
        sid, version = uuid.uuid4(), 0
        for i in range(40):
            batch = [Noted(f"{name}-{s}-{i}-{k}") for k in range(1 + i % 3)]
            store.append(sid, batch, expected_version=version)
            version += len(batch)
"""


def test_a_reader_tailing_writers_in_other_processes_skips_nothing(sql_db, tmp_path) -> None:
    """While processes append at once, a reader following read_all(after=last) sees 1, 2, 3..."""
    with sql_db.connect() as store:
        store.append(uuid4(), _notes("start"), expected_version=0)
        url = sql_db.url
        if sql_db.kind == "postgres":
            url += f"?schema={sql_db.options['schema']}"
        script = tmp_path / "writer.py"
        script.write_text(textwrap.dedent(OWN_STREAMS_WRITER))
        procs = [subprocess.Popen([sys.executable, str(script), url, f"p{n}"]) for n in range(3)]
        last, seen = 0, []
        while True:
            done = all(p.poll() is not None for p in procs)
            for rec in store.read_all(after=last):
                assert rec.position == last + 1, f"{last} then {rec.position}"
                seen.append(rec)
                last = rec.position
            if done:
                break
        assert [p.returncode for p in procs] == [0, 0, 0]
        assert len(seen) == 1 + 3 * 3 * sum(1 + i % 3 for i in range(40))
        assert verify_records(seen).ok
