"""The aggregate cache: fewer loads, the same decisions."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import pytest

import esframework as esf
from esframework.adapters.base import EventStore


@esf.event(name="cache.Added")
class CfAdded:
    n: int


@esf.command(target="id")
class CfCreate:
    id: UUID


@esf.command(target="id")
class CfAdd:
    id: UUID
    n: int


@esf.aggregate
class CfCounter(esf.Aggregate):
    total: int = 0

    @esf.handles(CfCreate, create=True)
    def create(self, cmd: CfCreate) -> None:
        self.record(CfAdded(n=0))

    @esf.handles
    def add(self, cmd: CfAdd) -> None:
        self.record(CfAdded(n=cmd.n))

    @esf.applies
    def _added(self, e: CfAdded) -> None:
        self.total += e.n


def _app(store: EventStore, strategy: Any, size: int = 10) -> esf.Application:
    return esf.Application(store, aggregates=[CfCounter], conflicts=strategy, cache_size=size)


def test_commands_keep_their_aggregate_cached(store: EventStore) -> None:
    """After a command, its aggregate is cached as stored; the next command reuses it."""
    app = _app(store, esf.Reject())
    cid = uuid4()
    app.handle(CfCreate(cid))
    app.handle(CfAdd(cid, 5))
    cached = app.cache.take(CfCounter, cid)
    assert cached is not None
    assert (cached.total, cached.version, cached.pending_events) == (5, 2, ())
    app.cache.put(cached)
    assert app.handle(CfAdd(cid, 1)).version == 3
    assert app.load(CfCounter, cid).total == 6


def test_a_stale_cached_aggregate_is_reloaded_not_resolved(store: EventStore) -> None:
    """Another writer appended since caching: the command reruns on a fresh load, and
    no conflict strategy is asked (Reject would have refused, Merge would have merged)."""
    for strategy in (esf.Reject(), esf.Merge(), esf.Manual()):
        app = _app(store, strategy)
        cid = uuid4()
        app.handle(CfCreate(cid))
        app.store.append(cid, [CfAdded(n=7)], expected_version=1)  # another process
        result = app.handle(CfAdd(cid, 5))
        assert result.conflict_id is None
        types = [r.event_type for r in store.read_stream(cid)]
        assert "esf.ConflictResolved" not in types
        assert app.load(CfCounter, cid).total == 12


def test_a_failed_command_leaves_nothing_half_changed_in_the_cache(store: EventStore) -> None:
    """A command that raises after recording drops its aggregate from the cache."""

    class Boom(Exception):
        pass

    app = _app(store, esf.Reject())
    cid = uuid4()
    app.handle(CfCreate(cid))

    def fails(uow: esf.UnitOfWork) -> None:
        uow.load(CfCounter, cid).add(CfAdd(cid, 100))
        raise Boom

    with pytest.raises(Boom):
        app.unit_of_work(fails)
    assert app.cache.take(CfCounter, cid) is None
    assert app.handle(CfAdd(cid, 1)).version == 2
    assert app.load(CfCounter, cid).total == 1


def test_the_cache_keeps_the_most_recent_aggregates() -> None:
    """The cache holds at most cache_size aggregates, dropping the least recently used."""
    app = _app(esf.connect("memory://"), esf.Reject(), size=2)
    ids = [uuid4() for _ in range(3)]
    for cid in ids:
        app.handle(CfCreate(cid))
    assert len(app.cache) == 2
    assert app.cache.take(CfCounter, ids[0]) is None
    assert app.cache.take(CfCounter, ids[2]) is not None


def test_cache_is_off_by_default_and_checked() -> None:
    """No cache unless asked; a negative size is a typed error."""
    app = esf.Application(esf.connect("memory://"), aggregates=[CfCounter])
    cid = uuid4()
    app.handle(CfCreate(cid))
    assert len(app.cache) == 0
    with pytest.raises(esf.DefinitionError, match="cache_size"):
        esf.Application(esf.connect("memory://"), cache_size=-1)
