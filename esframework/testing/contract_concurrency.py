"""The store contract's concurrency tests: racing writers, racing retries, tailing readers.

Part of :class:`esframework.testing.contract.EventStoreContract`.
"""

from __future__ import annotations

import threading
from uuid import uuid4

import esframework as esf
from esframework.adapters.base import EventStore
from esframework.audit import verify_records
from esframework.events import RecordedEvent
from esframework.testing.contract_events import Noted, notes

__all__ = ["ConcurrencyContract"]


class ConcurrencyContract:
    """What every store guarantees to threads that write and read at once."""

    def test_concurrent_any_appends_all_land_chained(self, store: EventStore) -> None:
        """Threads appending with ANY to one stream: every event stored once, one chain."""
        sid = uuid4()
        failures: list[BaseException] = []

        def writer(name: str) -> None:
            try:
                for i in range(15):
                    store.append(sid, notes(f"{name}-{i}a", f"{name}-{i}b"), esf.ANY)
            except BaseException as exc:
                failures.append(exc)

        threads = [threading.Thread(target=writer, args=(f"w{n}",)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not failures, failures
        stored = list(store.read_stream(sid))
        assert [r.version for r in stored] == list(range(1, 121))
        texts = [r.event.text for r in stored]
        assert len(set(texts)) == 120
        assert all(texts[i].endswith("a") and texts[i + 1].endswith("b") for i in range(0, 120, 2))
        assert verify_records(store.read_all()).ok

    def test_racing_identical_retries_store_once(self, store: EventStore) -> None:
        """The same batch sent by several threads at once is stored once; all get its records."""
        sid = uuid4()
        batch = [esf.NewEvent(Noted("once")), esf.NewEvent(Noted("twice"))]
        results: list[list[RecordedEvent]] = []
        failures: list[BaseException] = []
        start = threading.Barrier(4)

        def send() -> None:
            start.wait()
            try:
                results.append(store.append(sid, batch, expected_version=esf.ANY))
            except BaseException as exc:
                failures.append(exc)

        threads = [threading.Thread(target=send) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not failures, failures
        stored = list(store.read_all())
        assert [r.event.text for r in stored] == ["once", "twice"]
        assert all(
            [(r.event_id, r.position, r.hash) for r in got]
            == [(r.event_id, r.position, r.hash) for r in stored]
            for got in results
        )

    def test_tailing_reader_sees_every_event_once_in_order(self, store: EventStore) -> None:
        """A reader tailing read_all(after=last) while 4 threads write never skips an event."""
        writers, appends = 4, 60
        finished = threading.Event()
        seen: list[RecordedEvent] = []
        failures: list[BaseException] = []

        def tail() -> None:
            last = 0
            try:
                while True:
                    was_finished = finished.is_set()
                    for rec in store.read_all(after=last):
                        assert rec.position == last + 1, f"{last} then {rec.position}"
                        seen.append(rec)
                        last = rec.position
                    if was_finished:
                        return
            except BaseException as exc:
                failures.append(exc)

        def write(name: str) -> None:
            sid, version = uuid4(), 0
            try:
                for i in range(appends):
                    batch = notes(*(f"{name}-{i}-{k}" for k in range(1 + i % 3)))
                    store.append(sid, batch, expected_version=version)
                    version += len(batch)
            except BaseException as exc:
                failures.append(exc)

        reader = threading.Thread(target=tail)
        threads = [threading.Thread(target=write, args=(f"w{n}",)) for n in range(writers)]
        reader.start()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        finished.set()
        reader.join()
        assert not failures, failures
        stored = list(store.read_all())
        assert len(stored) == writers * sum(1 + i % 3 for i in range(appends))
        assert [r.event_id for r in seen] == [r.event_id for r in stored]
        assert verify_records(seen).ok
