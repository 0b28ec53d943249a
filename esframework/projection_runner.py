"""Running projections: ``app.projections``, background runners, and ``run()``.

``esf.Application(store, projections=[...])`` builds a :class:`Projections`, which
prepares the views, installs the inline projections in the store's appends, and
offers the operations: ``status()``, ``catch_up()``, ``pause()``, ``resume()``,
``rebuild()``, and ``start()`` / ``stop()`` for a runner in background threads.
``run(url, projections)`` is the same runner as a process of its own.

One runner thread per projection. Before it writes, a runner takes the projection's
lease (on PostgreSQL a session advisory lock), so that with several runner processes
one instance of each projection is active and the others wait; when the active one
dies its lease goes with its connection and a waiting runner takes over. Correctness
does not rest on the lease: every batch locks the projection's checkpoint and reads
the events after it in the same transaction, so two runners never apply one event.
"""

from __future__ import annotations

import importlib
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any, TypeVar, overload

import attrs
import cattrs

from esframework.adapters.base import EventStore, InlineHooks, ReadModelHost
from esframework.adapters.read_base import Checkpoint, Failure, Lease, ReadModels
from esframework.errors import (
    DefinitionError,
    ProjectionFailed,
    ProjectionNotFound,
    StoreClosed,
)
from esframework.events import RecordedEvent, utc_now
from esframework.projection_engine import Engine, RebuildProgress, Registered
from esframework.projections import ProjectionSpec, projection_spec
from esframework.registry import Registry, default_registry
from esframework.serialization import EventCodec
from esframework.subscriptions import event_waiter
from esframework.view_queries import ViewCache, ViewReader, ViewSource
from esframework.views import spec_of

__all__ = ["ProjectionStatus", "Projections", "RebuildProgress", "load", "run"]

log = logging.getLogger("esframework.projections")

V = TypeVar("V")


@attrs.frozen
class ProjectionStatus:
    """Where a projection is: its position, how far behind, and why it stopped if it did.

    ``state`` is ``caught_up``, ``behind``, ``paused`` or ``failed``; ``lag_seconds``
    is the age of the oldest event it has not processed (0 when caught up); ``active``
    says a runner of this process holds it.
    """

    name: str
    mode: str
    state: str
    position: int
    head: int
    lag_events: int
    lag_seconds: float
    paused: bool
    failure: Failure | None
    active: bool
    rebuilding: bool
    updated_at: datetime | None


class _Worker:
    """A background thread that keeps one projection caught up."""

    def __init__(self, owner: Projections, reg: Registered, poll_interval: float) -> None:
        self.owner = owner
        self.reg = reg
        self.poll_interval = poll_interval
        self.lease: Lease = owner._engine.models.lease(reg.spec.name)
        self._stopping = threading.Event()
        self._kick = threading.Event()
        self._waiter = event_waiter(owner.store, poll_interval)
        self.thread = threading.Thread(
            target=self._run, name=f"esf-projection-{reg.spec.name}", daemon=True
        )

    @property
    def active(self) -> bool:
        return self.thread.is_alive() and self.lease.held()

    def _rest(self, seconds: float) -> None:
        self._kick.wait(seconds)
        self._kick.clear()

    def _run(self) -> None:
        engine, failures = self.owner._engine, 0
        try:
            while not self._stopping.is_set():
                try:
                    if not self.lease.acquire():
                        self._rest(self.poll_interval)
                        continue
                    checkpoint, count = engine.advance(self.reg)
                    failures = 0
                    if count:
                        self.owner._progressed()
                    if count >= self.reg.spec.batch_size:
                        continue  # more may be waiting: no need to ask
                    if checkpoint.paused or checkpoint.failure is not None:
                        self._rest(self.poll_interval)
                    else:
                        self._waiter.wait_for_events(checkpoint.position, self.poll_interval)
                except StoreClosed:
                    return
                except Exception as exc:
                    failures += 1
                    delay = min(0.05 * 2**failures, 5.0)
                    log.warning(
                        "projection %r runner failed (%s); retrying in %.2fs",
                        self.reg.spec.name,
                        exc,
                        delay,
                    )
                    self._rest(delay)
        finally:
            self.lease.release()
            self._waiter.close()

    def kick(self) -> None:
        self._kick.set()
        self._waiter.interrupt()

    def stop(self) -> None:
        self._stopping.set()
        self.kick()


class Projections:
    """The projections of an application, and the operations on them."""

    def __init__(
        self,
        store: EventStore,
        projections: Iterable[object] = (),
        *,
        converter: cattrs.Converter | None = None,
        registry: Registry | None = None,
    ) -> None:
        self.store = store
        codec = getattr(store, "codec", None)
        codec = codec if isinstance(codec, EventCodec) else EventCodec(registry)
        self.converter = converter if converter is not None else codec.converter
        self.registry = registry if registry is not None else codec.registry or default_registry
        self.clock: Callable[[], datetime] = getattr(store, "clock", utc_now)
        self.cache = ViewCache()
        self._regs: dict[str, Registered] = {}
        self._owners: dict[str, str] = {}
        for target in projections:
            self._register(target)
        self._models: ReadModels | None = None
        self._engine_: Engine | None = None
        self._remove_hook: Callable[[], None] | None = None
        self._workers: dict[str, _Worker] = {}
        self._rebuilding: set[str] = set()
        self._progress = threading.Condition()
        if self._regs:
            self._install()

    def __repr__(self) -> str:
        return f"<Projections {list(self._regs)}>"

    def _register(self, target: object) -> None:
        spec = projection_spec(target)
        instance = target() if isinstance(target, type) else target
        if spec.name in self._regs:
            raise DefinitionError(
                f"two projections are named {spec.name!r}: give one another "
                "@esf.projection(name=...)"
            )
        for view in spec.views:
            other = self._owners.get(view.name)
            if other is not None:
                raise DefinitionError(
                    f"view {view.cls.__qualname__} is written by projections {other!r} and "
                    f"{spec.name!r}: a view has one projection; give the other its own view"
                )
            self._owners[view.name] = spec.name
        self._regs[spec.name] = Registered(instance, spec)

    def _install(self) -> None:
        models = self.models
        models.prepare(
            [v for reg in self._regs.values() for v in reg.spec.views], owners=self._owners
        )
        inline = [reg for reg in self._regs.values() if reg.spec.mode == "inline"]
        if inline:
            if not isinstance(self.store, InlineHooks):
                raise DefinitionError(
                    f"{self.store!r} cannot run inline projections ({inline[0].spec.name!r}): "
                    "use a store that implements InlineHooks, or mode='async'"
                )
            engine = self._engine
            self._remove_hook = self.store.add_inline_hook(
                lambda records, tx: engine.inline(inline, records, tx)
            )
            self.catch_up(*(reg.spec.name for reg in inline))

    @property
    def models(self) -> ReadModels:
        """The store's read-model storage."""
        if self._models is None:
            if not isinstance(self.store, ReadModelHost):
                raise DefinitionError(
                    f"{self.store!r} keeps no read models: projections and views need a store "
                    "that implements ReadModelHost (memory, SQLite, PostgreSQL)"
                )
            self._models = self.store.read_models()
        return self._models

    @property
    def _engine(self) -> Engine:
        if self._engine_ is None:
            self._engine_ = Engine(
                self.models, self.converter, self.registry, self.clock, self.cache
            )
        return self._engine_

    # -- what is registered ---------------------------------------------------------

    @property
    def names(self) -> list[str]:
        """The registered projections' names, in registration order."""
        return list(self._regs)

    def __iter__(self) -> Iterator[ProjectionSpec]:
        return iter([reg.spec for reg in self._regs.values()])

    def __len__(self) -> int:
        return len(self._regs)

    def __contains__(self, name: object) -> bool:
        return name in self._regs

    def _get(self, name: str) -> Registered:
        reg = self._regs.get(name)
        if reg is None:
            known = ", ".join(repr(n) for n in self._regs) or "none"
            raise ProjectionNotFound(
                f"no projection named {name!r} is registered (registered: {known}); pass it "
                "to esf.Application(..., projections=[...])"
            )
        return reg

    def view(self, cls: type[V]) -> ViewReader[V]:
        """Queries on a view (see ``esframework.view_queries``)."""
        spec = spec_of(cls)
        models = self.models
        if spec.name not in self._owners:
            models.prepare([spec])
        return ViewReader(
            ViewSource(spec, models, self.converter, self.cache, self._owners.get(spec.name))
        )

    # -- status ---------------------------------------------------------------------

    def _status(
        self, reg: Registered, checkpoint: Checkpoint | None, head: int
    ) -> ProjectionStatus:
        cp = checkpoint if checkpoint is not None else Checkpoint(reg.spec.name)
        lag = max(head - cp.position, 0)
        lag_seconds = 0.0
        if lag:
            first: RecordedEvent | None = next(
                iter(self.store.read_all(after=cp.position, limit=1)), None
            )
            if first is not None:
                lag_seconds = max((self.clock() - first.recorded_at).total_seconds(), 0.0)
        worker = self._workers.get(reg.spec.name)
        state = (
            "failed"
            if cp.failure is not None
            else "paused"
            if cp.paused
            else "behind"
            if lag
            else "caught_up"
        )
        return ProjectionStatus(
            name=reg.spec.name,
            mode=reg.spec.mode,
            state=state,
            position=cp.position,
            head=head,
            lag_events=lag,
            lag_seconds=lag_seconds,
            paused=cp.paused,
            failure=cp.failure,
            active=worker is not None and worker.active,
            rebuilding=reg.spec.name in self._rebuilding,
            updated_at=cp.updated_at,
        )

    @overload
    def status(self) -> list[ProjectionStatus]: ...

    @overload
    def status(self, name: str) -> ProjectionStatus: ...

    def status(self, name: str | None = None) -> ProjectionStatus | list[ProjectionStatus]:
        """One projection's status, or every projection's (in registration order)."""
        regs = [self._get(name)] if name is not None else list(self._regs.values())
        head = self.models.head()
        checkpoints = self.models.checkpoints()
        found = [self._status(r, checkpoints.get(r.spec.name), head) for r in regs]
        return found[0] if name is not None else found

    # -- operations -----------------------------------------------------------------

    def catch_up(self, *names: str) -> list[ProjectionStatus]:
        """Bring projections (default: all) to the head now, in this thread.

        Paused and failed projections stay where they are; their status says why.
        """
        regs = [self._get(n) for n in names] if names else list(self._regs.values())
        engine = self._engine
        for reg in regs:
            while engine.advance(reg)[1]:
                self._progressed()
        return [self.status(reg.spec.name) for reg in regs]

    def _set(self, name: str, **changes: Any) -> ProjectionStatus:
        reg = self._get(name)
        with self.models.session() as session:
            checkpoint = session.checkpoint(name)
            session.save_checkpoint(attrs.evolve(checkpoint, **changes, updated_at=self.clock()))
        worker = self._workers.get(reg.spec.name)
        if worker is not None:
            worker.kick()
        self._progressed()
        return self.status(name)

    def pause(self, name: str) -> ProjectionStatus:
        """Stop the projection at its position (in every process) until ``resume``."""
        return self._set(name, paused=True)

    def resume(self, name: str) -> ProjectionStatus:
        """Let a paused or failed projection go on; a failed one retries its event."""
        return self._set(name, paused=False, failure=None)

    def rebuild(
        self, name: str, *, progress: Callable[[RebuildProgress], Any] | None = None
    ) -> ProjectionStatus:
        """Rebuild from position 0 into fresh views, swapped in once caught up.

        Readers see the old views until the swap, never a half-built one. Runs in this
        thread; ``progress`` is called after every batch. A handler that raises
        abandons the rebuild with ``ProjectionFailed`` and leaves the old views.
        """
        reg = self._get(name)
        self._rebuilding.add(name)
        try:
            self._engine.rebuild(reg, progress)
        finally:
            self._rebuilding.discard(name)
        self._progressed()
        return self.status(name)

    def _progressed(self) -> None:
        with self._progress:
            self._progress.notify_all()

    def wait_for(self, position: int | None = None, *, timeout: float = 10.0) -> bool:
        """Wait until every projection not paused reached ``position`` (default: the head).

        False when ``timeout`` passes first; ``ProjectionFailed`` if one has stopped.
        """
        target = self.models.head() if position is None else position
        deadline = time.monotonic() + timeout
        while True:
            checkpoints = self.models.checkpoints()
            behind = False
            for name in self._regs:
                cp = checkpoints.get(name) or Checkpoint(name)
                if cp.failure is not None:
                    raise ProjectionFailed(name, cp.failure.position, cp.failure.message)
                behind = behind or (not cp.paused and cp.position < target)
            if not behind:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with self._progress:
                self._progress.wait(min(remaining, 0.1))

    # -- runners --------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether background runners are started in this process."""
        return bool(self._workers)

    def start(self, *, poll_interval: float = 1.0) -> None:
        """Start a background runner thread per projection (``stop()`` ends them)."""
        if self._workers:
            return
        for name, reg in self._regs.items():
            self._workers[name] = _Worker(self, reg, poll_interval)
        for worker in self._workers.values():
            worker.thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the runner threads and give up their leases."""
        workers, self._workers = list(self._workers.values()), {}
        for worker in workers:
            worker.stop()
        for worker in workers:
            worker.thread.join(timeout)

    def close(self) -> None:
        """Stop the runners and take the inline projections out of the store's appends."""
        self.stop()
        if self._remove_hook is not None:
            self._remove_hook()
            self._remove_hook = None


def load(target: object) -> object:
    """A projection from ``"package.module:Name"`` (imported), or ``target`` itself.

    Importing the module also registers the event classes it declares or imports.
    """
    if not isinstance(target, str):
        return target
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise DefinitionError(
            f"{target!r} does not name a projection: write package.module:ClassName"
        )
    try:
        found: object = importlib.import_module(module_name)
        for part in attribute.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as exc:
        raise DefinitionError(f"cannot load projection {target!r}: {exc}") from exc
    return found


def run(
    store: str | EventStore,
    projections: Iterable[object],
    *,
    stop: threading.Event | None = None,
    poll_interval: float = 1.0,
    registry: Registry | None = None,
    **options: Any,
) -> None:
    """Run projections in this process until ``stop`` is set, SIGINT or SIGTERM.

    ``store`` is a store or a URL (opened with ``options`` and closed at the end);
    ``projections`` are classes, instances or ``"package.module:Name"`` strings. With
    several such processes on PostgreSQL, one runs each projection and the others take
    over if it dies.
    """
    targets = [load(p) for p in projections]
    from esframework.adapters import connect

    opened = (
        connect(store, **({"codec": EventCodec(registry)} if registry else {}), **options)
        if isinstance(store, str)
        else None
    )
    target = opened if opened is not None else store
    assert not isinstance(target, str)
    done = stop if stop is not None else threading.Event()
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda *_: done.set())
    try:
        manager = Projections(target, targets, registry=registry)
        try:
            manager.start(poll_interval=poll_interval)
            log.info("running projections %s", manager.names)
            done.wait()
        finally:
            manager.close()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if opened is not None:
            opened.close()
