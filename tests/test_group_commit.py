"""Group commit: threads appending through one SQL store share transactions, and each
caller still gets exactly its own records or its own error."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID, uuid4

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import esframework as esf
from esframework.adapters.group_commit import GroupCommit
from esframework.adapters.sql import SqlStore
from esframework.audit import verify_records
from esframework.events import RecordedEvent
from esframework.testing.contract import Noted

Outcome = list[RecordedEvent] | BaseException


@contextmanager
def _spied(store: SqlStore) -> Iterator[list[int]]:
    """The sizes of the groups the store tries to write in one transaction."""
    sizes: list[int] = []
    group = store._group
    together = group._together

    def spy(batches: Any) -> Any:
        sizes.append(len(batches))
        return together(batches)

    group._together = spy
    try:
        yield sizes
    finally:
        group._together = together


def _queued(store: SqlStore) -> int:
    with store._group._mutex:
        return len(store._group._queue)


def _wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.002)


def _in_one_group(
    store: SqlStore, calls: list[Callable[[], list[RecordedEvent]]]
) -> list[Outcome]:
    """Run ``calls`` in threads, queued in this order behind one held write, so that the
    next write takes them all as one group; each call's records or error."""
    started, release = threading.Event(), threading.Event()
    held = [False]

    def hold(records: Any, db: Any) -> None:
        if not held[0]:
            held[0] = True
            started.set()
            release.wait(10)

    remove = store.add_inline_hook(hold)
    outcomes: list[Outcome] = [RuntimeError("not run")] * len(calls)

    def run(i: int) -> None:
        try:
            outcomes[i] = calls[i]()
        except BaseException as exc:
            outcomes[i] = exc

    holder = threading.Thread(target=lambda: store.append(uuid4(), [Noted("hold")], 0))
    holder.start()
    assert started.wait(10)
    threads = []
    for i in range(len(calls)):
        threads.append(threading.Thread(target=run, args=(i,)))
        threads[-1].start()
        _wait_until(lambda n=i + 1: _queued(store) == n)
    release.set()
    for t in [holder, *threads]:
        t.join(10)
    remove()
    return outcomes


def _records(outcome: Outcome) -> list[RecordedEvent]:
    assert isinstance(outcome, list), outcome
    return outcome


def _same(a: RecordedEvent, b: RecordedEvent) -> bool:
    return (a.position, a.stream_id, a.version, a.event_id, a.hash, a.recorded_at) == (
        b.position,
        b.stream_id,
        b.version,
        b.event_id,
        b.hash,
        b.recorded_at,
    )


def _check_log(store: SqlStore) -> list[RecordedEvent]:
    log = list(store.read_all())
    assert [r.position for r in log] == list(range(1, len(log) + 1))
    assert len({r.event_id for r in log}) == len(log)
    assert verify_records(log).ok
    return log


def test_queued_appends_are_written_together_with_their_own_records(sql_db) -> None:
    """Appends queued behind a write share one transaction; each gets its own records."""
    with sql_db.connect() as store, _spied(store) as sizes:
        streams = [uuid4() for _ in range(4)]
        calls = [
            (lambda s=s, n=n: store.append(s, _notes(n), 0))
            for n, s in enumerate(streams, start=1)
        ]
        outcomes = _in_one_group(store, calls)
        assert sizes == [4]
        log = {r.event_id: r for r in _check_log(store)}
        positions = []
        for n, (stream, outcome) in enumerate(zip(streams, outcomes, strict=True), start=1):
            records = _records(outcome)
            assert [r.stream_id for r in records] == [stream] * n
            assert [r.version for r in records] == list(range(1, n + 1))
            assert [r.event.text for r in records] == [f"{n}.{i}" for i in range(n)]
            assert all(_same(r, log[r.event_id]) for r in records)
            positions += [r.position for r in records]
        assert positions == list(range(2, 2 + 1 + 2 + 3 + 4))  # after the held write


def _notes(n: int) -> list[Noted]:
    return [Noted(f"{n}.{i}") for i in range(n)]


def test_a_failing_member_fails_alone_and_the_others_are_stored(sql_db) -> None:
    """In one group, a conflict or a reused id fails only its own caller; a retry is idempotent."""
    with sql_db.connect() as store, _spied(store) as sizes:
        taken = uuid4()
        retried = [esf.NewEvent(Noted("first"))]
        first = store.append(taken, retried, 0)
        fresh = [uuid4(), uuid4()]
        outcomes = _in_one_group(
            store,
            [
                lambda: store.append(fresh[0], _notes(1), 0),
                lambda: store.append(taken, _notes(1), 0),  # the stream exists
                lambda: store.append(taken, retried, 0),  # the same events again
                lambda: store.append(uuid4(), [esf.NewEvent(Noted("x"), retried[0].event_id)]),
                lambda: store.append(fresh[1], _notes(2), 0),
            ],
        )
        assert sizes == [5]
        assert isinstance(outcomes[1], esf.ConcurrencyError)
        assert (outcomes[1].expected, outcomes[1].actual) == (0, 1)
        assert [_same(a, b) for a, b in zip(_records(outcomes[2]), first, strict=True)] == [True]
        assert isinstance(outcomes[3], esf.DuplicateEventId)
        assert [r.event.text for r in _records(outcomes[0])] == ["1.0"]
        assert [r.event.text for r in _records(outcomes[4])] == ["2.0", "2.1"]
        log = _check_log(store)
        assert len(log) == 1 + 1 + 1 + 2  # first, held, fresh[0], fresh[1]
        assert store.stream_version(taken) == 1


def test_members_on_one_stream_keep_the_version_checks(sql_db) -> None:
    """Two queued appends to one stream: both land with ANY, only one with a fixed version."""
    with sql_db.connect() as store:
        sid = uuid4()
        store.append(sid, _notes(1), 0)
        outcomes = _in_one_group(
            store,
            [
                lambda: store.append(sid, _notes(1), 1),
                lambda: store.append(sid, _notes(2), 1),
                lambda: store.append(sid, _notes(2), esf.ANY),
            ],
        )
        assert [r.version for r in _records(outcomes[0])] == [2]
        assert isinstance(outcomes[1], esf.ConcurrencyError)
        assert [r.version for r in _records(outcomes[2])] == [3, 4]
        assert [r.version for r in store.read_stream(sid)] == [1, 2, 3, 4]
        _check_log(store)


def test_a_failing_inline_hook_fails_only_its_own_append(sql_db) -> None:
    """An inline hook raising for one member's events: that caller gets the error alone."""

    class Refused(Exception):
        pass

    def refuse(records: list[RecordedEvent], db: Any) -> None:
        if any(r.event.text == "bad" for r in records):
            raise Refused

    seen: list[list[str]] = []
    with sql_db.connect() as store:
        store.add_inline_hook(lambda records, db: seen.append([r.event.text for r in records]))
        store.add_inline_hook(refuse)
        good = [uuid4(), uuid4()]
        outcomes = _in_one_group(
            store,
            [
                lambda: store.append(good[0], [Noted("a")], 0),
                lambda: store.append(uuid4(), [Noted("bad")], 0),
                lambda: store.append(good[1], [Noted("b"), Noted("c")], 0),
            ],
        )
        assert isinstance(outcomes[1], Refused)
        assert [r.event.text for r in _records(outcomes[0])] == ["a"]
        assert [r.event.text for r in _records(outcomes[2])] == ["b", "c"]
        assert ["b", "c"] in seen  # each hook call sees one caller's records
        assert [r.event.text for r in _check_log(store)] == ["hold", "a", "b", "c"]


def test_many_threads_lose_and_duplicate_nothing(sql_db) -> None:
    """Threads appending at once, new and shared streams: every event once, gap-free, chained."""
    shared = [uuid4(), uuid4()]
    mine: dict[int, list[list[RecordedEvent]]] = {n: [] for n in range(6)}
    errors: list[BaseException] = []
    with sql_db.connect() as store:

        def writer(n: int) -> None:
            try:
                for i in range(25):
                    events = [Noted(f"w{n}.{i}.{k}") for k in range((n + i) % 3 + 1)]
                    if i % 4 == 0:
                        mine[n].append(store.append(shared[(n + i) % 2], events, esf.ANY))
                    else:
                        mine[n].append(store.append(uuid4(), events, 0))
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        log = {r.event_id: r for r in _check_log(store)}
        returned = [r for calls in mine.values() for records in calls for r in records]
        assert len(returned) == len(log)
        for n, calls in mine.items():
            for i, records in enumerate(calls):
                assert [r.event.text.split(".")[:2] for r in records] == [[f"w{n}", str(i)]] * len(
                    records
                )
                positions = [r.position for r in records]
                assert positions == list(range(positions[0], positions[0] + len(records)))
                assert all(_same(r, log[r.event_id]) for r in records)
        for sid in shared:
            versions = [r.version for r in store.read_stream(sid)]
            assert versions == list(range(1, len(versions) + 1))


def test_a_lone_writer_never_waits_for_a_group(sql_db) -> None:
    """One thread appending: every append is written alone, at once."""
    with sql_db.connect() as store, _spied(store) as sizes:
        for n in range(1, 5):
            store.append(uuid4(), _notes(n), 0)
        assert sizes == []
        assert len(_check_log(store)) == 10


_members = st.lists(
    st.tuples(
        st.integers(0, 3),  # which stream: 0 holds one event already
        st.sampled_from(["any", "current", "stale"]),
        st.integers(1, 3),  # how many events
    ),
    min_size=2,
    max_size=5,
)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(members=_members)
def test_a_group_ends_as_the_same_appends_one_by_one(sql_db, members: list[Any]) -> None:
    """Whatever a group holds, each caller's outcome and the log are those of its appends
    made one after the other in queue order."""
    with sql_db.connect() as store:
        streams = [uuid4() for _ in range(4)]
        store.append(streams[0], [Noted("before")], 0)
        model: dict[UUID, int] = {streams[0]: 1}
        calls = []
        expected: list[int | None] = []  # the first version each caller gets, None: a conflict
        for index, how, n in members:
            sid = streams[index]
            current = model.get(sid, 0)
            version: Any = {"any": esf.ANY, "current": current, "stale": current + 7}[how]
            calls.append(
                lambda sid=sid, version=version, n=n: store.append(sid, _notes(n), version)
            )
            if how == "stale":
                expected.append(None)
            else:
                expected.append(current + 1)
                model[sid] = current + n
        outcomes = _in_one_group(store, calls)
        log = {r.event_id: r for r in _check_log(store)}
        for (_, _, n), want, outcome in zip(members, expected, outcomes, strict=True):
            if want is None:
                assert isinstance(outcome, esf.ConcurrencyError)
                continue
            records = _records(outcome)
            assert [r.version for r in records] == list(range(want, want + n))
            assert all(_same(r, log[r.event_id]) for r in records)
        for sid in streams:
            assert store.stream_version(sid) == model.get(sid, 0)


def test_an_append_from_inside_the_write_does_not_wait_for_itself() -> None:
    """An append made on the writing thread (e.g. by a hook) is not queued behind itself."""
    written: list[str] = []

    def alone(batch: str) -> list[RecordedEvent]:
        if batch == "outer":
            group.append("inner")
        written.append(batch)
        return []

    group: GroupCommit[str] = GroupCommit(alone, lambda batches: None)
    assert group.append("outer") == []
    assert written == ["inner", "outer"]


def test_an_identical_retry_in_a_group_returns_the_stored_records(sql_db) -> None:
    """A retried append queued with others gets its stored records back; the others land."""
    with sql_db.connect() as store, _spied(store) as sizes:
        sid, other = uuid4(), uuid4()
        sent = [esf.NewEvent(Noted("once")), esf.NewEvent(Noted("twice"))]
        first = store.append(sid, sent, 0)
        outcomes = _in_one_group(
            store,
            [
                lambda: store.append(sid, sent, esf.ANY),
                lambda: store.append(other, _notes(1), 0),
                lambda: store.append(sid, sent, 0),
            ],
        )
        assert sizes == [3]
        for i in (0, 2):
            assert [_same(a, b) for a, b in zip(_records(outcomes[i]), first, strict=True)] == [
                True,
                True,
            ]
        assert [r.version for r in _records(outcomes[1])] == [1]
        assert len(_check_log(store)) == 2 + 1 + 1


def _recording_group(linger: float) -> tuple[GroupCommit[str], list[list[str]], threading.Event]:
    """A GroupCommit whose writes are recorded; a write of "slow" waits for ``release``."""
    writes: list[list[str]] = []
    release = threading.Event()

    def alone(batch: str) -> list[RecordedEvent]:
        if batch == "slow":
            release.wait(10)
        writes.append([batch])
        return []

    def together(batches: Any) -> list[list[RecordedEvent]]:
        writes.append(list(batches))
        return [[] for _ in batches]

    return GroupCommit(alone, together, linger=linger), writes, release


def _run(group: GroupCommit[str], batch: str) -> threading.Thread:
    thread = threading.Thread(target=group.append, args=(batch,))
    thread.start()
    return thread


def test_after_a_group_an_idle_writer_waits_for_as_many_others() -> None:
    """Once writers came together, the next one to find the store idle waits for company."""
    group, writes, release = _recording_group(linger=10.0)
    slow = _run(group, "slow")
    _wait_until(lambda: group._writer is not None)
    queued = [_run(group, "a"), _run(group, "b")]
    _wait_until(lambda: len(group._queue) == 2)
    release.set()
    for t in [slow, *queued]:
        t.join(10)
    assert writes == [["slow"], ["a", "b"]]
    started = time.monotonic()
    first = _run(group, "c")  # the store is idle: it waits for one other (the last group had 2)
    _wait_until(lambda: group._writer is not None)
    second = _run(group, "d")
    for t in (first, second):
        t.join(10)
    assert writes[-1] == ["c", "d"]
    assert time.monotonic() - started < 5  # it wrote once company came, not after linger


def test_a_writer_without_company_before_never_lingers() -> None:
    """With no group seen (one thread appending), an idle store is written to at once."""
    group, writes, _ = _recording_group(linger=10.0)
    started = time.monotonic()
    for batch in ("a", "b", "c"):
        group.append(batch)
    assert writes == [["a"], ["b"], ["c"]]
    assert time.monotonic() - started < 5
