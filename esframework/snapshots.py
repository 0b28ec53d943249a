"""Snapshots: an aggregate's state at a version, so loads replay only newer events.

A snapshot records the aggregate's stream type, a fingerprint and the state fields as
JSON. The fingerprint covers the class's field names and types and the (name, version)
of every event type it applies: when the class's shape changes, or an event type gets a
new version (and so an upcaster that may change what replay produces), old snapshots
stop matching and are ignored, and the load replays from the start instead of
misreading them.
"""

from __future__ import annotations

import hashlib
import logging
import weakref
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

import attrs
import cattrs

from esframework.events import event_type_of

if TYPE_CHECKING:
    from esframework.aggregate import Aggregate

__all__ = ["Snapshot", "fingerprint", "restore", "take"]

log = logging.getLogger("esframework.snapshots")

A = TypeVar("A", bound="Aggregate")


@attrs.frozen
class Snapshot:
    """The state of one aggregate at one version."""

    stream_id: UUID
    version: int
    aggregate_type: str
    fingerprint: str
    state: dict[str, Any]
    taken_at: datetime


_fingerprints: weakref.WeakKeyDictionary[type, str] = weakref.WeakKeyDictionary()


def fingerprint(cls: type[Aggregate]) -> str:
    """A digest of what a snapshot of ``cls`` depends on (fields, applied event types)."""
    from esframework.aggregate import state_fields

    known = _fingerprints.get(cls)
    if known is not None:
        return known
    attrs.resolve_types(cls)
    parts = [f"{f.name}:{f.type!r}" for f in state_fields(cls)]
    parts += sorted(f"{et.name}@{et.version}" for et in map(event_type_of, cls.__esf_appliers__))
    digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]
    _fingerprints[cls] = digest
    return digest


def take(agg: Aggregate, stream_type: str, converter: cattrs.Converter, now: datetime) -> Snapshot:
    """A snapshot of ``agg`` at its current version."""
    from esframework.aggregate import state_fields

    cls = type(agg)
    digest = fingerprint(cls)
    state = {
        f.name: converter.unstructure(getattr(agg, f.name), f.type) for f in state_fields(cls)
    }
    return Snapshot(
        stream_id=agg.id,
        version=agg.version,
        aggregate_type=stream_type,
        fingerprint=digest,
        state=state,
        taken_at=now,
    )


def restore(
    cls: type[A], snapshot: Snapshot, stream_type: str, converter: cattrs.Converter
) -> A | None:
    """The aggregate a snapshot holds, or None when it no longer fits ``cls``."""
    from esframework.aggregate import state_fields

    if snapshot.aggregate_type != stream_type or snapshot.fingerprint != fingerprint(cls):
        log.debug(
            "ignoring snapshot of %s %s at version %d: taken for another shape of the class "
            "(fingerprint %s, now %s); replaying from the start",
            stream_type,
            snapshot.stream_id,
            snapshot.version,
            snapshot.fingerprint,
            fingerprint(cls),
        )
        return None
    try:
        values: dict[str, Any] = {
            str(f.alias): converter.structure(snapshot.state[f.name], f.type or Any)
            for f in state_fields(cls)
        }
    except Exception as exc:
        log.debug(
            "ignoring unreadable snapshot of %s %s: %s", stream_type, snapshot.stream_id, exc
        )
        return None
    return cls(id=snapshot.stream_id, version=snapshot.version, **values)
