"""A clock that tests control, for stores and applications that take ``clock=``."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

__all__ = ["FakeClock"]


class FakeClock:
    """Returns a fixed time that moves only when told (and by ``tick`` on each read).

    Pass it as ``clock=`` to a store so that ``occurred_at`` and ``recorded_at`` are
    predictable, e.g. to test ``app.load(..., at_time=...)``.
    """

    def __init__(
        self,
        start: datetime | None = None,
        *,
        tick: timedelta = timedelta(0),
    ) -> None:
        now = start if start is not None else datetime(2026, 1, 1, tzinfo=UTC)
        if now.tzinfo is None:
            raise ValueError("FakeClock needs a timezone-aware start time")
        self._now = now
        self.tick = tick
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<FakeClock at {self._now.isoformat()}>"

    def __call__(self) -> datetime:
        with self._lock:
            now = self._now
            self._now = now + self.tick
            return now

    def now(self) -> datetime:
        """The current fake time, without ticking."""
        return self._now

    def advance(self, delta: timedelta | None = None, /, **units: float) -> datetime:
        """Move forward by ``delta`` or by ``timedelta(**units)``; returns the new time."""
        step = delta if delta is not None else timedelta(**units)
        if step < timedelta(0):
            raise ValueError("a FakeClock does not go backwards; use set() to jump")
        with self._lock:
            self._now += step
            return self._now

    def set(self, when: datetime) -> None:
        """Jump to ``when`` (timezone-aware)."""
        if when.tzinfo is None:
            raise ValueError("FakeClock.set() needs a timezone-aware datetime")
        with self._lock:
            self._now = when
