"""What happens when another writer appended to a stream since it was loaded.

A strategy is a small object. ``Reject()`` raises ``ConcurrencyError``;
``RetryCommand(attempts=n)`` (the default) reloads the aggregate and runs the command
again, after a short jittered pause so that competing writers spread out.
"""

from __future__ import annotations

import random
import time
from typing import Protocol, runtime_checkable

import attrs

from esframework.errors import DefinitionError

__all__ = ["ConflictStrategy", "Reject", "RetryCommand", "default_strategy"]


@runtime_checkable
class ConflictStrategy(Protocol):
    """The interface every conflict strategy offers the application."""

    def retries(self) -> int:
        """How many times a command may be run again after a conflict."""
        ...

    def pause(self, attempt: int) -> None:
        """Wait before retry number ``attempt`` (1-based)."""
        ...


@attrs.frozen
class Reject:
    """Refuse the write: the caller gets ``ConcurrencyError`` and decides."""

    def retries(self) -> int:
        """Never retry."""
        return 0

    def pause(self, attempt: int) -> None:
        """Nothing to wait for."""


def _check_attempts(_: object, __: attrs.Attribute[int], value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise DefinitionError(f"RetryCommand(attempts=...) must be an int >= 1, got {value!r}")


@attrs.frozen
class RetryCommand:
    """Reload the aggregate and run the command again, up to ``attempts`` runs in all.

    Between runs it sleeps ``backoff * 2**(n-1)`` seconds times a random factor in
    [0.5, 1.5), so that writers that collided do not collide again in lockstep.
    """

    attempts: int = attrs.field(default=3, validator=_check_attempts)
    backoff: float = 0.002

    def retries(self) -> int:
        """``attempts - 1`` further runs after the first."""
        return self.attempts - 1

    def pause(self, attempt: int) -> None:
        """A short, growing, jittered sleep."""
        if self.backoff > 0:
            time.sleep(self.backoff * 2 ** (attempt - 1) * (0.5 + random.random()))  # noqa: S311


def default_strategy() -> ConflictStrategy:
    """The strategy used when neither the aggregate nor the application names one."""
    return RetryCommand(attempts=3)
