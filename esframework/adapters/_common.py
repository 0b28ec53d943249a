"""What every store does the same way before and after it touches storage.

Validation of stream ids and expected versions, turning events into rows (payload,
metadata, hash chain), and the idempotency rule for re-appended event ids live here
once, so that memory, SQLite and PostgreSQL behave identically.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import attrs

from esframework.adapters.base import ANY, ExpectedVersion
from esframework.audit import hash_of
from esframework.context import current_metadata
from esframework.errors import (
    AttributionRequired,
    DuplicateEventId,
    InvalidExpectedVersion,
    InvalidStreamId,
    SerializationError,
    StoreError,
)
from esframework.events import Clock, NewEvent, RecordedEvent
from esframework.ids import new_id
from esframework.serialization import (
    EventCodec,
    canonical_from_stored,
    canonical_json,
    stored_json,
)

__all__ = [
    "AppendOne",
    "Draft",
    "PreparedEvent",
    "chain",
    "check_distinct_event_ids",
    "check_expected_version",
    "check_stream_id",
    "check_stream_type",
    "draft_events",
    "find_replay",
    "plan_batch",
]


def check_stream_id(stream_id: object) -> UUID:
    """``stream_id`` if it is a UUID, else a typed error that says what to pass."""
    if isinstance(stream_id, UUID):
        return stream_id
    raise InvalidStreamId(
        f"stream id {stream_id!r} is a {type(stream_id).__name__}, not a uuid.UUID: pass "
        "uuid.UUID(text), or derive one from a natural key with uuid.uuid5(namespace, key)"
    )


def check_expected_version(expected: object) -> ExpectedVersion:
    """``expected`` if it is a non-negative int or ``ANY``, else a typed error."""
    if expected is ANY:
        return ANY
    if isinstance(expected, int) and not isinstance(expected, bool) and expected >= 0:
        return expected
    raise InvalidExpectedVersion(
        f"expected_version must be an int >= 0 (0: the stream must not exist yet) or "
        f"esf.ANY, got {expected!r}"
    )


def check_stream_type(stream_id: UUID, stored: str | None, given: str | None) -> str:
    """The stream type to record: the stored one, which a given one must match."""
    if stored is None:
        return given or ""
    if given and stored and given != stored:
        raise StoreError(
            f"stream {stream_id} holds a {stored!r}, not a {given!r}: aggregates of "
            "different types need different ids"
        )
    return stored


@attrs.define
class Draft:
    """An event turned into storable parts, before it has a version or a hash."""

    event: object
    event_id: UUID
    event_type: str
    schema_version: int
    data: dict[str, Any]
    data_json: str
    metadata: dict[str, Any]
    metadata_json: str
    occurred_at: datetime
    data_canonical: str = ""
    metadata_canonical: str = ""


_PLAIN_SCALARS = frozenset({str, int, bool, type(None)})


def _stored_forms(data: dict[str, Any], data_json: str) -> tuple[dict[str, Any], str]:
    """The payload as a store reads it back, and its canonical JSON (for the hash).

    A flat payload of strings, ints, bools and None reads back from its JSON as an equal
    dict, and its stored JSON is already canonical (no floats): copy it, skip the round
    trip. Anything else (nested values, floats, tuples, ...) takes the round trip.
    """
    for key, value in data.items():
        if type(value) not in _PLAIN_SCALARS or type(key) is not str:
            stored = json.loads(data_json)
            return stored, canonical_from_stored(stored, data_json)
    return dict(data), data_json


def draft_events(
    codec: EventCodec,
    events: Sequence[object],
    metadata: Mapping[str, Any] | None,
    clock: Clock,
    *,
    require_user: bool = False,
) -> list[Draft]:
    """Encode events (instances or ``NewEvent``) with the call's metadata merged in.

    Metadata comes from the enclosing ``esf.context`` blocks, then the call, then the
    ``NewEvent``; with ``require_user`` every event must end up with a ``user_id``.
    """
    if isinstance(events, str | bytes) or not isinstance(events, Sequence):
        raise TypeError(f"events must be a sequence of events, got {type(events).__name__}")
    ambient = current_metadata()
    merged = {**ambient, **metadata} if metadata else ambient
    base_meta = codec.encode_metadata(merged) if merged else {}
    # Most events of a batch share one metadata dict: serialise each distinct one once.
    meta_forms: dict[int, tuple[dict[str, Any], str, str]] = {}
    # The events of one append occur together: one reading of the clock for all of them.
    now: datetime | None = None
    drafts = []
    encode = codec.encode
    for item in events:
        if isinstance(item, NewEvent):
            event, event_id, occurred_at = item.event, item.event_id, item.occurred_at
            meta = (
                {**base_meta, **codec.encode_metadata(item.metadata)}
                if item.metadata
                else base_meta
            )
        else:
            event, event_id, occurred_at, meta = item, None, None, base_meta
        event_type, data = encode(event)
        if require_user and meta.get("user_id") is None:
            raise AttributionRequired(
                f"event {event_type.name} has no user_id, and this store requires one: pass "
                "user_id=... to handle(), or wrap the call in esf.context(user_id=...)"
            )
        try:
            data_json = stored_json(data)
            forms = meta_forms.get(id(meta))
            if forms is None:
                meta_json = stored_json(meta)
                meta_stored, meta_canonical = _stored_forms(meta, meta_json)
                forms = (meta_stored, meta_json, meta_canonical)
                meta_forms[id(meta)] = forms
        except (TypeError, ValueError, RecursionError) as exc:
            raise SerializationError(
                f"event {event_type.name} cannot be stored as JSON ({exc}): use field types "
                "the converter knows, or register a hook on it"
            ) from exc
        if occurred_at is None:
            if now is None:
                now = clock()
                if now.tzinfo is None or now.utcoffset() is None:
                    raise _naive(event_type.name, now)
            occurred_at = now
        elif occurred_at.tzinfo is None or occurred_at.utcoffset() is None:
            raise _naive(event_type.name, occurred_at)
        stored, canonical = _stored_forms(data, data_json)
        drafts.append(
            Draft(
                event,
                event_id if event_id is not None else new_id(),
                event_type.name,
                event_type.version,
                stored,
                data_json,
                forms[0],
                forms[1],
                occurred_at,
                canonical,
                forms[2],
            )
        )
    return drafts


def _naive(event_type: str, occurred_at: datetime) -> SerializationError:
    return SerializationError(
        f"event {event_type} occurred at {occurred_at.isoformat()}, a naive "
        "datetime that no store can keep unambiguously: pass a timezone-aware "
        "occurred_at (e.g. datetime.now(UTC)) and a clock that returns one"
    )


def plan_batch(
    codec: EventCodec,
    batch: Mapping[UUID, tuple[object, Sequence[object]]],
    metadata: Mapping[str, Any] | None,
    clock: Clock,
    *,
    require_user: bool,
) -> dict[UUID, tuple[ExpectedVersion, list[Draft]]]:
    """A batch checked and drafted: stream ids, expected versions, events, distinct ids."""
    plan: dict[UUID, tuple[ExpectedVersion, list[Draft]]] = {}
    for stream_id, (expected, events) in batch.items():
        check_stream_id(stream_id)
        plan[stream_id] = (
            check_expected_version(expected),
            draft_events(codec, events, metadata, clock, require_user=require_user),
        )
    check_distinct_event_ids(plan)
    return plan


class AppendOne:
    """``append`` for a store whose ``append_many`` does the work."""

    def append_many(
        self,
        batch: Mapping[UUID, tuple[ExpectedVersion, Sequence[object]]],
        *,
        stream_types: Mapping[UUID, str] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> list[RecordedEvent]:
        raise NotImplementedError

    def append(
        self,
        stream_id: UUID,
        events: Sequence[object],
        expected_version: ExpectedVersion = ANY,
        *,
        stream_type: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> list[RecordedEvent]:
        """Append ``events`` to one stream, all or none."""
        types = {stream_id: stream_type} if stream_type else None
        return self.append_many(
            {stream_id: (expected_version, events)}, stream_types=types, metadata=metadata
        )


def check_distinct_event_ids(plan: Mapping[UUID, tuple[object, Sequence[Draft]]]) -> None:
    """Refuse a batch that carries one event id twice: each id names one stored event."""
    if sum(len(drafts) for _, drafts in plan.values()) < 2:
        return
    seen: set[UUID] = set()
    for _, drafts in plan.values():
        for d in drafts:
            if d.event_id in seen:
                raise DuplicateEventId(
                    f"event id {d.event_id} appears twice in one batch: give every event "
                    "its own id"
                )
            seen.add(d.event_id)


@attrs.define
class PreparedEvent:
    """A draft placed in its stream: version and hash chain known, position not yet."""

    draft: Draft
    stream_id: UUID
    stream_type: str
    version: int
    prev_hash: str
    hash: str

    def record(
        self, position: int, recorded_at: datetime, decoder: EventCodec | None
    ) -> RecordedEvent:
        """The stored record, with the original event instance already decoded.

        Only an instance of the current class is kept: one of an older version must be
        read back upcast, like every stored event of that version.
        """
        d = self.draft
        rec = RecordedEvent(
            position=position,
            stream_id=self.stream_id,
            stream_type=self.stream_type,
            version=self.version,
            event_id=d.event_id,
            event_type=d.event_type,
            schema_version=d.schema_version,
            data=d.data,
            metadata=d.metadata,
            occurred_at=d.occurred_at,
            recorded_at=recorded_at,
            prev_hash=self.prev_hash,
            hash=self.hash,
            decoder=decoder,
        )
        if decoder is None or decoder.is_current(d.event):
            # Reading it back would decode to an equal instance: skip that work.
            object.__setattr__(rec, "_decoded", d.event)
        return rec


def chain(
    drafts: Sequence[Draft],
    stream_id: UUID,
    stream_type: str,
    current_version: int,
    last_hash: str,
) -> list[PreparedEvent]:
    """Give drafts their versions after ``current_version`` and chain their hashes."""
    prepared = []
    prev = last_hash
    stream_text = str(stream_id)
    # The drafts of a batch share one time object unless given their own: format each
    # object once. Not keyed by value: equal instants in other offsets hash differently.
    when: datetime | None = None
    occurred = ""
    for i, d in enumerate(drafts, start=current_version + 1):
        if d.occurred_at is not when:
            when = d.occurred_at
            occurred = when.isoformat()
        try:
            h = hash_of(
                prev,
                stream_id=stream_text,
                stream_type=stream_type,
                version=i,
                event_id=d.event_id,
                event_type=d.event_type,
                schema_version=d.schema_version,
                data_canonical=d.data_canonical or canonical_json(d.data),
                metadata_canonical=d.metadata_canonical or canonical_json(d.metadata),
                occurred_at=occurred,
            )
        except UnicodeEncodeError as exc:
            raise SerializationError(
                f"event {d.event_type} holds text that is not valid Unicode ({exc.reason}, "
                "e.g. a lone surrogate from a bad decode): clean the text before recording it"
            ) from exc
        prepared.append(PreparedEvent(d, stream_id, stream_type, i, prev, h))
        prev = h
    return prepared


def same_content(stored: RecordedEvent, stream_id: UUID, draft: Draft) -> bool:
    """Whether a re-appended event is the stored one again (a retry).

    Payloads are compared in the form the hash uses, because a database may hand
    numbers back in another but equivalent form (PostgreSQL's JSONB reads ``1e300``
    back as an int).
    """
    return (
        stored.stream_id == stream_id
        and stored.event_type == draft.event_type
        and stored.schema_version == draft.schema_version
        and _same_json(stored.data, draft.data)
        and _same_json(stored.metadata, draft.metadata)
    )


def _same_json(stored: Mapping[str, Any], given: Mapping[str, Any]) -> bool:
    return stored == given or canonical_json(stored) == canonical_json(given)


def find_replay(
    plan: Mapping[UUID, tuple[object, Sequence[Draft]]],
    stored: Mapping[UUID, RecordedEvent],
) -> list[RecordedEvent] | None:
    """The stored records if the whole batch was appended before, else None.

    ``stored`` maps the batch's event ids that are already in the store to their
    records. A batch that is partly stored, or whose stored ids carry other content,
    is refused: appending it would duplicate or contradict the record.
    """
    if not stored:
        return None
    total = sum(len(ds) for _, ds in plan.values())
    for stream_id, (_, drafts) in plan.items():
        for d in drafts:
            rec = stored.get(d.event_id)
            if rec is not None and not same_content(rec, stream_id, d):
                raise DuplicateEventId(
                    f"event id {d.event_id} is already stored (stream {rec.stream_id} "
                    f"version {rec.version}, {rec.event_type}) with different content: "
                    "give a new event a new id; only an identical retry may reuse one"
                )
    if len(stored) != total:
        raise DuplicateEventId(
            f"{len(stored)} of the batch's {total} event ids are already stored: a batch is "
            "stored whole or not at all, so retry it exactly as first sent, or with new ids"
        )
    return sorted(stored.values(), key=lambda r: r.position)
