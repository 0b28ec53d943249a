"""How events reach projections: batches, failures, inline appends and rebuilds.

Every path runs a projection inside one read-model session (one transaction):

- a batch (``advance``): lock the checkpoint, read the events after it, run the
  handlers, save the new checkpoint, commit. The handlers' view writes and the
  checkpoint are one transaction, so a view sees each event exactly once.
- a failure: a handler that raises stops the projection at that event. The batch is
  undone (a savepoint), the events before the failing one are applied again, and the
  checkpoint is saved just before it with the error, all in the same transaction.
- inline (``inline``): the store calls the hook inside its append transaction; each
  inline projection whose checkpoint is right before the batch applies it there.
  One that is behind (paused, failed, new) is left to ``advance`` until it catches up.
- a rebuild (``rebuild``): run the handlers from position 0 into fresh copies of the
  views, then, holding the store's write lock, apply what was appended meanwhile,
  swap the copies in and move the checkpoint, in one transaction.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import cattrs

from esframework.adapters.read_base import (
    Checkpoint,
    Failure,
    Generation,
    ReadModels,
    ReadSession,
)
from esframework.errors import ProjectionFailed, ReadModelError, UnknownEventType
from esframework.events import Clock, RecordedEvent
from esframework.projections import ProjectionContext, ProjectionSpec
from esframework.registry import Registry
from esframework.view_queries import ViewCache

__all__ = ["Engine", "RebuildProgress", "Registered", "Stop"]

log = logging.getLogger("esframework.projections")


@attrs.frozen
class RebuildProgress:
    """How far a rebuild is: events done, the position reached, the head it aims at."""

    projection: str
    position: int
    head: int
    events: int
    done: bool = False


@attrs.frozen
class Registered:
    """A projection as an application runs it: the object its handlers are called on."""

    instance: object
    spec: ProjectionSpec


class Stop(Exception):
    """A projection cannot go past the event at ``index`` of the batch."""

    def __init__(self, index: int, failure: Failure) -> None:
        super().__init__(failure.message)
        self.index = index
        self.failure = failure


class Engine:
    """Runs projections' handlers over events in read-model sessions."""

    def __init__(
        self,
        models: ReadModels,
        converter: cattrs.Converter,
        registry: Registry,
        clock: Clock,
        cache: ViewCache,
    ) -> None:
        self.models = models
        self.converter = converter
        self.registry = registry
        self.clock = clock
        self.cache = cache
        self._known: dict[str, bool] = {}
        self._warned: set[tuple[str, str]] = set()

    def _knows(self, event_type: str) -> bool:
        known = self._known.get(event_type)
        if known is None:
            try:
                self.registry.current(event_type)
                known = True
            except UnknownEventType:
                known = False
            self._known[event_type] = known
        return known

    def _failure(self, record: RecordedEvent, exc: BaseException) -> Failure:
        lines = traceback.format_exception_only(type(exc), exc)
        return Failure(
            position=record.position,
            event_type=record.event_type,
            error=type(exc).__qualname__,
            message="".join(lines).strip(),
            at=self.clock(),
        )

    def _unknown(self, reg: Registered, index: int, record: RecordedEvent, why: str) -> None:
        spec = reg.spec
        if spec.on_unknown == "stop":
            raise Stop(index, self._failure(record, UnknownEventType(why)))
        if (spec.name, record.event_type) not in self._warned:
            self._warned.add((spec.name, record.event_type))
            log.warning(
                "projection %r skips events of unknown type %r (first at position %d): %s",
                spec.name,
                record.event_type,
                record.position,
                why,
            )

    def apply(
        self,
        reg: Registered,
        records: Sequence[RecordedEvent],
        session: ReadSession,
        generation: Generation,
    ) -> set[str]:
        """Run the handlers over ``records``; the names of the views written."""
        spec, instance = reg.spec, reg.instance
        touched: set[str] = set()
        ctx = ProjectionContext(spec, session, generation, self.converter, touched)
        handlers = spec.handlers
        for i, record in enumerate(records):
            handler = handlers.get(record.event_type)
            if handler is None:
                if not self._knows(record.event_type):
                    self._unknown(reg, i, record, "no event class is registered under it")
                continue
            try:
                event = record.event
            except UnknownEventType as exc:
                self._unknown(reg, i, record, str(exc))
                continue
            except Exception as exc:
                raise Stop(i, self._failure(record, exc)) from exc
            ctx._deliver(record)
            try:
                if handler.takes_context:
                    handler.function(instance, event, ctx)
                else:
                    handler.function(instance, event)
            except Exception as exc:
                raise Stop(i, self._failure(record, exc)) from exc
        return touched

    def project(
        self,
        reg: Registered,
        checkpoint: Checkpoint,
        records: Sequence[RecordedEvent],
        session: ReadSession,
    ) -> tuple[Checkpoint, set[str]]:
        """Apply a batch to the live views; a failure stops the checkpoint before it."""
        try:
            with session.savepoint():
                touched = self.apply(reg, records, session, "live")
            return attrs.evolve(
                checkpoint, position=records[-1].position, updated_at=self.clock()
            ), touched
        except Stop as stop:
            failure, index = stop.failure, stop.index
        touched = set()
        if index:
            try:
                with session.savepoint():
                    touched = self.apply(reg, records[:index], session, "live")
            except Stop as again:  # a handler that fails one time and not the other
                failure, index = again.failure, again.index
        position = records[index - 1].position if index else checkpoint.position
        log.error(
            "projection %r stopped at position %d (%s): %s",
            reg.spec.name,
            failure.position,
            failure.event_type,
            failure.message,
        )
        checkpoint = attrs.evolve(
            checkpoint, position=position, failure=failure, updated_at=self.clock()
        )
        return checkpoint, touched

    def advance(self, reg: Registered, limit: int | None = None) -> tuple[Checkpoint, int]:
        """Run one batch in one transaction: the checkpoint, and how many events were read."""
        with self.models.session() as session:
            checkpoint = session.checkpoint(reg.spec.name)
            if checkpoint.paused or checkpoint.failure is not None:
                return checkpoint, 0
            records = session.read_events(checkpoint.position, limit or reg.spec.batch_size)
            if not records:
                return checkpoint, 0
            checkpoint, touched = self.project(reg, checkpoint, records, session)
            session.save_checkpoint(checkpoint)
        self.cache.invalidate(sorted(touched))
        return checkpoint, len(records)

    def inline(
        self, regs: Sequence[Registered], records: Sequence[RecordedEvent], tx: object
    ) -> None:
        """The store's inline hook: apply an append's events in its transaction."""
        touched: set[str] = set()
        with self.models.session(tx) as session:
            for reg in regs:
                checkpoint = session.checkpoint(reg.spec.name)
                if (
                    checkpoint.paused
                    or checkpoint.failure is not None
                    or checkpoint.position != records[0].position - 1
                ):
                    continue
                checkpoint, written = self.project(reg, checkpoint, records, session)
                session.save_checkpoint(checkpoint)
                touched |= written
        self.cache.invalidate(sorted(touched))

    def _rebuild_batch(
        self, reg: Registered, records: Sequence[RecordedEvent], session: ReadSession
    ) -> None:
        try:
            self.apply(reg, records, session, "rebuild")
        except Stop as stop:
            raise ProjectionFailed(
                reg.spec.name, stop.failure.position, stop.failure.message
            ) from stop.__cause__

    def rebuild(
        self, reg: Registered, progress: Callable[[RebuildProgress], Any] | None = None
    ) -> Checkpoint:
        """Rebuild a projection's views from position 0 and swap them in when caught up.

        A handler that raises abandons the rebuild (``ProjectionFailed``); the live views
        stay as they were.
        """
        spec = reg.spec
        lease = self.models.lease(f"rebuild:{spec.name}")
        if not lease.acquire():
            lease.release()
            raise ReadModelError(
                f"projection {spec.name!r} is being rebuilt already (here or in another "
                "process): wait for that rebuild to finish"
            )
        head, position, count = self.models.head(), 0, 0

        def report(done: bool = False) -> None:
            if progress is not None:
                progress(RebuildProgress(spec.name, position, max(head, position), count, done))

        try:
            self.models.start_rebuild(spec.views)
            report()
            while True:
                with self.models.session() as session:
                    records = session.read_events(position, spec.batch_size)
                    if records:
                        self._rebuild_batch(reg, records, session)
                if not records:
                    break
                position, count = records[-1].position, count + len(records)
                report()
            with self.models.session(exclusive=True) as session:
                while records := session.read_events(position, spec.batch_size):
                    self._rebuild_batch(reg, records, session)
                    position, count = records[-1].position, count + len(records)
                checkpoint = attrs.evolve(
                    session.checkpoint(spec.name),
                    position=position,
                    failure=None,
                    updated_at=self.clock(),
                )
                session.swap(spec.views)
                session.save_checkpoint(checkpoint)
        except BaseException:
            self.models.drop_rebuild(spec.views)
            raise
        finally:
            lease.release()
        self.cache.invalidate([v.name for v in spec.views])
        report(done=True)
        log.info("projection %r rebuilt from %d events", spec.name, count)
        return checkpoint
