"""Group commit: appends that arrive while another is being written share one commit.

A SQL store serialises its writers on one lock held until the commit is on disk, so
``n`` threads appending through one store pay ``n`` flushes one after the other. Here
the first caller writes its batch at once, exactly as alone; callers that arrive
meanwhile queue, and when the write ends one of them (the next leader) writes every
queued batch in one transaction: one lock, one insert, one flush. Each caller then
gets its own records.

A lone writer never waits: it takes the fast path unchanged. Only once writers have
been seen together (the last group had several members) does a caller that finds the
store idle wait a moment (``linger``, at most half a millisecond) for as many others
to queue as were in that group, as PostgreSQL's ``commit_delay`` does for its own
flushes: threads woken by one group's commit come back at about the same time, and
without it the first of them would write alone while the rest queue behind it.

Errors stay each caller's own: the combined write (``together``) may refuse a group or
fail for any reason, and then every member is written alone (``alone``, the path it
would have taken without company), so that a conflict, a duplicate id or a failing
hook reaches exactly the caller whose batch caused it, and nobody else's append fails.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

import attrs

from esframework.errors import StoreError
from esframework.events import RecordedEvent

__all__ = ["GroupCommit"]

P = TypeVar("P")

MAX_GROUP = 64
"""The most batches written in one transaction (a bound on its size and lock time)."""

LINGER = 0.0005
"""Seconds a writer that found the store idle waits for company, when there was some."""


@attrs.define(eq=False)
class _Member(Generic[P]):
    """One caller's pending batch and, once written, its outcome."""

    batch: P
    thread: int
    done: threading.Event | None = None  # made when it queues: a lone writer needs none
    records: list[RecordedEvent] | None = None
    error: BaseException | None = None
    lead: bool = False  # set when this caller is to write what is queued

    def outcome(self) -> list[RecordedEvent]:
        if self.error is not None:
            raise self.error
        assert self.records is not None
        return self.records


class GroupCommit(Generic[P]):
    """Writes pending batches of concurrent callers together (one object per store).

    ``alone(batch)`` writes one batch as if nobody else appended; ``together(batches)``
    writes several in one transaction and returns each one's records, or None (or
    raises) when it cannot, and then each is written alone.
    """

    def __init__(
        self,
        alone: Callable[[P], list[RecordedEvent]],
        together: Callable[[Sequence[P]], list[list[RecordedEvent]] | None],
        *,
        linger: float = LINGER,
    ) -> None:
        self._alone = alone
        self._together = together
        self.linger = linger
        self._mutex = threading.Lock()
        self._joined = threading.Condition(self._mutex)  # a caller queued
        self._queue: list[_Member[P]] = []
        self._writer: int | None = None  # the thread writing now, if any
        self._company = 1  # how many callers the last group had

    def __repr__(self) -> str:
        return f"<GroupCommit writing={self._writer is not None} queued={len(self._queue)}>"

    def append(self, batch: P) -> list[RecordedEvent]:
        """Write ``batch``, with the batches of callers queued meanwhile; its records."""
        member = _Member(batch, threading.get_ident())
        with self._mutex:
            inside = self._writer == member.thread  # appending from our own write (a hook)
            idle = self._writer is None
            if idle:
                self._writer = member.thread
            elif not inside:
                member.done = threading.Event()
                self._queue.append(member)
                self._joined.notify()
        if inside:
            return self._alone(batch)
        if idle:
            group = [member, *self._wait_for_company()]
        else:
            assert member.done is not None
            member.done.wait()
            if not member.lead:  # another caller wrote it
                return member.outcome()
            with self._mutex:  # what queued up to now, this caller first
                group = self._queue[:MAX_GROUP]
                del self._queue[:MAX_GROUP]
        try:
            self._write(group)
        finally:
            self._hand_over()  # first: the next write starts while these callers wake
            self._wake(group[1:])
        return member.outcome()

    def _wait_for_company(self) -> list[_Member[P]]:
        """The callers who queued while this one, finding the store idle, lingered.

        Only when the last group had several members, for as many as it had, and for
        ``linger`` seconds at most: a lone writer never waits.
        """
        if self._company < 2 or self.linger <= 0:
            return []
        deadline = time.monotonic() + self.linger
        with self._joined:
            while len(self._queue) < self._company - 1:
                left = deadline - time.monotonic()
                if left <= 0 or not self._joined.wait(left):
                    break
            joined = self._queue[: MAX_GROUP - 1]
            del self._queue[: MAX_GROUP - 1]
        return joined

    def _write(self, group: list[_Member[P]]) -> None:
        """Give every member its records or its error."""
        self._company = len(group)
        written = None
        if len(group) > 1:
            try:
                written = self._together([m.batch for m in group])
            except Exception:  # each member alone then says what was wrong
                written = None
        if written is not None:
            for m, records in zip(group, written, strict=True):
                m.records = records
            return
        for m in group:
            try:
                m.records = self._alone(m.batch)
            except Exception as exc:  # handed to the caller it belongs to
                m.error = exc

    @staticmethod
    def _wake(waiting: list[_Member[P]]) -> None:
        """Hand the callers who waited their outcome (an error if the writer was stopped)."""
        for m in waiting:
            if m.records is None and m.error is None:
                m.error = StoreError(
                    "the thread writing this append's group stopped before writing it "
                    "(interrupted): the append may not be stored; retry it"
                )
            assert m.done is not None
            m.done.set()

    def _hand_over(self) -> None:
        """Let the first queued caller write what is queued when it wakes, or become idle."""
        with self._mutex:
            if not self._queue:
                self._writer = None
                return
            first = self._queue[0]
            self._writer = first.thread
        first.lead = True
        assert first.done is not None
        first.done.set()
