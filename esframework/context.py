"""Metadata for a block of code: who acts, in which conversation, for which tenant.

``with esf.context(user_id="ann", tenant_id="acme"):`` makes every event appended in
the block (through an application or a store directly) carry that metadata. Blocks
nest; inner values win; explicit arguments win over both. The values live in a
``contextvars.ContextVar``, so each thread and each asyncio task sees its own.

``with esf.reacting_to(record):`` is for code that reacts to a stored event: what it
records is caused by that event (``causation_id``) and joins its conversation
(``correlation_id``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any

from esframework.events import RecordedEvent

__all__ = ["context", "current_metadata", "reacting_to"]

_EMPTY: Mapping[str, Any] = MappingProxyType({})
_metadata: ContextVar[Mapping[str, Any]] = ContextVar("esframework_metadata", default=_EMPTY)


def current_metadata() -> Mapping[str, Any]:
    """The metadata the enclosing ``context`` blocks set (empty outside any)."""
    return _metadata.get()


@contextmanager
def context(**metadata: Any) -> Iterator[Mapping[str, Any]]:
    """Add metadata (``user_id``, ``correlation_id``, ``tenant_id``, free keys) for a block.

    A key given as None is removed for the block.
    """
    merged = {**_metadata.get(), **metadata}
    token = _metadata.set(MappingProxyType({k: v for k, v in merged.items() if v is not None}))
    try:
        yield _metadata.get()
    finally:
        _metadata.reset(token)


@contextmanager
def reacting_to(record: RecordedEvent) -> Iterator[Mapping[str, Any]]:
    """Mark what the block records as caused by ``record``, in its conversation."""
    correlation = record.metadata.get("correlation_id") or str(record.event_id)
    with context(causation_id=str(record.event_id), correlation_id=correlation) as meta:
        yield meta
