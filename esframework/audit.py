"""The hash chain over each stream, ``verify`` that walks it, and seals.

Each stored event's ``hash`` is SHA-256 over its ``prev_hash`` and the canonical JSON of
what the application produced: stream id and type, version, event id, event type and
schema version, payload, metadata and ``occurred_at``. The first event of a stream
chains from ``GENESIS_HASH``. ``position`` and ``recorded_at`` are assigned by the store
and stay outside the hash, so an event keeps its hash when copied to another store; the
global order is checked separately (positions strictly increasing, without gaps).

An edit or deletion in the middle of a stream breaks its chain, but deleting a stream's
newest events leaves a shorter valid chain. A **seal** closes that hole: a small
document with the store's position, counts and a digest over every stream's head,
kept elsewhere. ``verify(against=seal)`` then detects truncation and deleted streams up
to the seal.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import attrs

from esframework.errors import InvalidSeal, UnknownEventType
from esframework.events import RecordedEvent, utc_now
from esframework.registry import Registry
from esframework.serialization import canonical_json

__all__ = [
    "GENESIS_HASH",
    "AuditProblem",
    "AuditReport",
    "Auditable",
    "Seal",
    "event_hash",
    "hash_of",
    "record_hash",
    "seal",
    "verify",
    "verify_records",
]

GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of the first event of every stream."""

SEAL_FORMAT = "esframework-seal/1"


_JSON_STRS: dict[str, str] = {}


def _json_str(text: str) -> str:
    """``text`` as a JSON string; type names repeat, so their forms are kept."""
    found = _JSON_STRS.get(text)
    if found is None:
        found = json.dumps(text, ensure_ascii=False)
        if len(_JSON_STRS) < 10_000:
            _JSON_STRS[text] = found
    return found


def hash_of(
    prev_hash: str,
    *,
    stream_id: UUID | str,
    stream_type: str,
    version: int,
    event_id: UUID,
    event_type: str,
    schema_version: int,
    data_canonical: str,
    metadata_canonical: str,
    occurred_at: datetime | str,
) -> str:
    """The chain hash from the canonical JSON of payload and metadata, already made.

    The body is exactly ``canonical_json`` of the envelope dict (keys in sorted order),
    assembled from parts so that appends serialise each payload once. ``stream_id`` and
    ``occurred_at`` may be given as their text already (a batch repeats them).
    """
    occurred = occurred_at if isinstance(occurred_at, str) else occurred_at.isoformat()
    body = (
        f'{{"data":{data_canonical},"event_id":"{event_id}",'
        f'"event_type":{_json_str(event_type)},"metadata":{metadata_canonical},'
        f'"occurred_at":"{occurred}","prev_hash":"{prev_hash}",'
        f'"schema_version":{schema_version},"stream_id":"{stream_id}",'
        f'"stream_type":{_json_str(stream_type)},"version":{version}}}'
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def event_hash(
    prev_hash: str,
    *,
    stream_id: UUID,
    stream_type: str,
    version: int,
    event_id: UUID,
    event_type: str,
    schema_version: int,
    data: Mapping[str, Any],
    metadata: Mapping[str, Any],
    occurred_at: datetime,
) -> str:
    """The SHA-256 hex digest that chains an event to the one before it in its stream."""
    return hash_of(
        prev_hash,
        stream_id=stream_id,
        stream_type=stream_type,
        version=version,
        event_id=event_id,
        event_type=event_type,
        schema_version=schema_version,
        data_canonical=canonical_json(data),
        metadata_canonical=canonical_json(metadata),
        occurred_at=occurred_at,
    )


def record_hash(record: RecordedEvent) -> str:
    """Recompute the hash a stored record should carry."""
    return event_hash(
        record.prev_hash,
        stream_id=record.stream_id,
        stream_type=record.stream_type,
        version=record.version,
        event_id=record.event_id,
        event_type=record.event_type,
        schema_version=record.schema_version,
        data=record.data,
        metadata=record.metadata,
        occurred_at=record.occurred_at,
    )


@attrs.frozen
class AuditProblem:
    """One thing wrong in the stored record.

    ``kind`` is one of: ``edited`` (payload, metadata or envelope changed), ``missing``
    (a version is absent), ``reordered`` (versions out of order), ``broken_link``
    (prev_hash does not match the event before), ``gap`` / ``position`` (the global
    order has a hole or goes backwards), ``unknown_type`` (no class for the event
    type), ``truncated`` (the store no longer matches a seal), ``seal`` (the seal is
    not this store's, or its signature does not match).
    """

    kind: str
    stream_id: UUID | None
    version: int | None
    position: int | None
    detail: str

    def __str__(self) -> str:
        where = []
        if self.stream_id is not None:
            where.append(f"stream {self.stream_id}")
        if self.version is not None:
            where.append(f"version {self.version}")
        if self.position is not None:
            where.append(f"position {self.position}")
        return f"{self.kind}: {', '.join(where) or 'store'}: {self.detail}"


@attrs.frozen
class AuditReport:
    """What ``verify`` found: ``ok`` when chains, order and seal all hold."""

    events: int
    streams: int
    problems: tuple[AuditProblem, ...]
    last_position: int = 0
    sealed: bool = False

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems

    def __str__(self) -> str:
        head = (
            f"{self.events} events in {self.streams} streams, last position "
            f"{self.last_position}{', checked against a seal' if self.sealed else ''}: "
        )
        if self.ok:
            return head + "OK"
        return (
            head
            + f"{len(self.problems)} problem(s)\n"
            + "\n".join(f"  - {p}" for p in self.problems)
        )


@attrs.define
class _Head:
    version: int = 0
    hash: str = GENESIS_HASH


def _heads_digest(heads: Mapping[UUID, tuple[int, str]]) -> str:
    h = hashlib.sha256()
    for stream_id in sorted(heads, key=str):
        version, head_hash = heads[stream_id]
        h.update(f"{stream_id}:{version}:{head_hash}\n".encode())
    return h.hexdigest()


@attrs.frozen
class Seal:
    """A store's state at one position, to keep elsewhere and verify against later."""

    store_id: str
    position: int
    streams: int
    events: int
    digest: str
    sealed_at: datetime
    hmac: str | None = None
    format: str = SEAL_FORMAT

    def _body(self) -> str:
        return canonical_json(
            {
                "digest": self.digest,
                "events": self.events,
                "format": self.format,
                "position": self.position,
                "sealed_at": self.sealed_at.isoformat(),
                "store_id": self.store_id,
                "streams": self.streams,
            }
        )

    def signed(self, key: bytes) -> Seal:
        """This seal with an HMAC-SHA256 over its content, under ``key``."""
        mac = hmac.new(key, self._body().encode(), hashlib.sha256).hexdigest()
        return attrs.evolve(self, hmac=mac)

    def signature_matches(self, key: bytes) -> bool:
        """Whether the seal's HMAC was made with ``key`` over this content."""
        if self.hmac is None:
            return False
        mac = hmac.new(key, self._body().encode(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(mac, self.hmac)

    def to_dict(self) -> dict[str, Any]:
        """The seal as JSON-compatible data."""
        body: dict[str, Any] = json.loads(self._body())
        if self.hmac is not None:
            body["hmac"] = self.hmac
        return body

    def to_json(self) -> str:
        """The seal as indented JSON text, for a file or a report."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, data: Any) -> Seal:
        """Read a seal back; anything malformed is ``InvalidSeal``."""
        if not isinstance(data, Mapping) or data.get("format") != SEAL_FORMAT:
            raise InvalidSeal(f"not an esframework seal (expected format {SEAL_FORMAT!r})")
        try:
            seal = cls(
                store_id=_str(data["store_id"]),
                position=_count(data["position"]),
                streams=_count(data["streams"]),
                events=_count(data["events"]),
                digest=_hex(data["digest"]),
                sealed_at=datetime.fromisoformat(_str(data["sealed_at"])),
                hmac=None if data.get("hmac") is None else _hex(data["hmac"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidSeal(f"malformed seal: {exc!r}; seals are written by esf seal") from exc
        if seal.sealed_at.tzinfo is None:
            raise InvalidSeal("malformed seal: sealed_at has no timezone")
        return seal

    @classmethod
    def from_json(cls, text: str) -> Seal:
        """Parse a seal written by ``to_json``."""
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise InvalidSeal(f"a seal is JSON; this is not: {exc}") from exc
        return cls.from_dict(data)

    @classmethod
    def load(cls, path: str | Path) -> Seal:
        """Read a seal file."""
        return cls.from_json(Path(path).read_text(encoding="utf-8"))

    def save(self, path: str | Path) -> None:
        """Write the seal to a file."""
        Path(path).write_text(self.to_json(), encoding="utf-8")


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected text, got {value!r}")
    return value


def _count(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise TypeError(f"expected a count, got {value!r}")
    return value


def _hex(value: Any) -> str:
    text = _str(value)
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise ValueError(f"expected 64 hex digits, got {text!r}")
    return text


def paged(read_all: Callable[..., Iterable[RecordedEvent]], page: int) -> Iterator[RecordedEvent]:
    """Every event in position order, read ``page`` at a time (flat memory)."""
    after = 0
    while True:
        count = 0
        for rec in read_all(after=after, limit=page):
            count += 1
            after = rec.position
            yield rec
        if count < page:
            return


def _store_id(store: object) -> str:
    return str(getattr(store, "store_id", ""))


def seal(
    store: Any,
    *,
    hmac_key: bytes | None = None,
    page: int = 1000,
    now: datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> Seal:
    """Seal the store as it is now: position, counts and a digest of every stream's head.

    ``progress`` is called with the count of events read, as ``verify`` does.
    """
    heads: dict[UUID, tuple[int, str]] = {}
    events = 0
    position = 0
    for rec in paged(store.read_all, page):
        heads[rec.stream_id] = (rec.version, rec.hash)
        events += 1
        position = rec.position
        if progress is not None and events % 1000 == 0:
            progress(events)
    if progress is not None:
        progress(events)
    document = Seal(
        store_id=_store_id(store),
        position=position,
        streams=len(heads),
        events=events,
        digest=_heads_digest(heads),
        sealed_at=now if now is not None else utc_now(),
    )
    return document.signed(hmac_key) if hmac_key is not None else document


class _Walker:
    """Checks records one by one; memory grows with streams, not events."""

    def __init__(self, registry: Registry | None, check_order: bool) -> None:
        self.registry = registry
        self.check_order = check_order
        self.heads: dict[UUID, _Head] = {}
        self.problems: list[AuditProblem] = []
        self.count = 0
        self.last_position = 0
        self.unknown: set[str] = set()

    def problem(self, kind: str, rec: RecordedEvent | None, detail: str) -> None:
        self.problems.append(
            AuditProblem(
                kind,
                rec.stream_id if rec else None,
                rec.version if rec else None,
                rec.position if rec else None,
                detail,
            )
        )

    def check(self, rec: RecordedEvent) -> None:
        self.count += 1
        if self.check_order:
            if rec.position <= self.last_position:
                self.problem("position", rec, f"position follows {self.last_position}")
            elif rec.position != self.last_position + 1:
                self.problem(
                    "gap",
                    rec,
                    f"positions {self.last_position + 1}..{rec.position - 1} are missing "
                    "(events were deleted)",
                )
            self.last_position = max(self.last_position, rec.position)
        head = self.heads.setdefault(rec.stream_id, _Head())
        link_expected = True
        if rec.version != head.version + 1:
            kind = "reordered" if rec.version <= head.version else "missing"
            self.problem(kind, rec, f"version {rec.version} follows version {head.version}")
            link_expected = False
        if rec.hash != record_hash(rec):
            self.problem(
                "edited",
                rec,
                "stored content does not match its hash (payload, metadata or envelope changed)",
            )
        elif link_expected and rec.prev_hash != head.hash:
            self.problem("broken_link", rec, "prev_hash is not the hash of the event before it")
        if self.registry is not None and rec.event_type not in self.unknown:
            try:
                self.registry.current(rec.event_type)
            except UnknownEventType:
                self.unknown.add(rec.event_type)
                self.problem(
                    "unknown_type",
                    rec,
                    f"no class is registered for {rec.event_type!r} (first seen here)",
                )
        head.version = rec.version
        head.hash = rec.hash


def verify_records(
    records: Iterable[RecordedEvent],
    *,
    progress: Callable[[int], None] | None = None,
    registry: Registry | None = None,
) -> AuditReport:
    """Check records given in position order: every chain and the global order."""
    walker = _Walker(registry, check_order=True)
    for rec in records:
        walker.check(rec)
        if progress is not None and walker.count % 1000 == 0:
            progress(walker.count)
    if progress is not None:
        progress(walker.count)
    return AuditReport(
        events=walker.count,
        streams=len(walker.heads),
        problems=tuple(walker.problems),
        last_position=walker.last_position,
    )


def verify(
    store: Any,
    *,
    streams: Sequence[UUID] | None = None,
    against: Seal | None = None,
    hmac_key: bytes | None = None,
    progress: Callable[[int], None] | None = None,
    registry: Registry | None = None,
    page: int = 1000,
) -> AuditReport:
    """Walk the store's chains and global order (or only ``streams``), optionally
    against a seal. Reads ``page`` events at a time, so memory stays flat.

    A signed seal needs ``hmac_key``; a wrong key, a forged seal or a seal of another
    store is reported as a ``seal`` problem, never passed silently.
    """
    if registry is None:
        codec = getattr(store, "codec", None)
        registry = getattr(codec, "registry", None)
    if streams is not None:
        walker = _Walker(registry, check_order=False)
        for stream_id in streams:
            for rec in store.read_stream(stream_id):
                walker.check(rec)
                if progress is not None and walker.count % 1000 == 0:
                    progress(walker.count)
    else:
        walker = _Walker(registry, check_order=True)
        at_seal: dict[UUID, tuple[int, str]] = {}
        sealed_events = 0
        for rec in paged(store.read_all, page):
            walker.check(rec)
            if against is not None and rec.position <= against.position:
                at_seal[rec.stream_id] = (rec.version, rec.hash)
                sealed_events += 1
            if progress is not None and walker.count % 1000 == 0:
                progress(walker.count)
        if against is not None:
            _check_seal(walker, against, hmac_key, _store_id(store), at_seal, sealed_events)
    if progress is not None:
        progress(walker.count)
    return AuditReport(
        events=walker.count,
        streams=len(walker.heads),
        problems=tuple(walker.problems),
        last_position=walker.last_position,
        sealed=against is not None,
    )


def _check_seal(
    walker: _Walker,
    against: Seal,
    hmac_key: bytes | None,
    store_id: str,
    heads: Mapping[UUID, tuple[int, str]],
    events: int,
) -> None:
    if against.store_id != store_id:
        walker.problem(
            "seal", None, f"the seal is of store {against.store_id}, this is store {store_id}"
        )
        return
    if against.hmac is not None or hmac_key is not None:
        if hmac_key is None:
            walker.problem("seal", None, "the seal is signed: give its HMAC key to check it")
        elif not against.signature_matches(hmac_key):
            walker.problem(
                "seal", None, "the seal's HMAC does not match: wrong key, or a forged seal"
            )
    if walker.last_position < against.position:
        walker.problem(
            "truncated",
            None,
            f"the store ends at position {walker.last_position}, the seal at {against.position}",
        )
    if events != against.events or len(heads) != against.streams:
        walker.problem(
            "truncated",
            None,
            f"up to position {against.position} the seal counts {against.events} events in "
            f"{against.streams} streams; the store now has {events} in {len(heads)}",
        )
    elif _heads_digest(heads) != against.digest:
        walker.problem(
            "truncated",
            None,
            f"the streams' heads up to position {against.position} do not match the seal "
            "(events deleted or replaced)",
        )


class Auditable:
    """``verify`` and ``seal`` as store methods; every esframework store has them."""

    def verify(
        self,
        streams: Sequence[UUID] | None = None,
        *,
        against: Seal | None = None,
        hmac_key: bytes | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> AuditReport:
        """Walk this store's chains and order; see :func:`esframework.audit.verify`."""
        return verify(self, streams=streams, against=against, hmac_key=hmac_key, progress=progress)

    def seal(self, *, hmac_key: bytes | None = None) -> Seal:
        """Seal this store as it is now; see :func:`esframework.audit.seal`."""
        clock = getattr(self, "clock", utc_now)
        return seal(self, hmac_key=hmac_key, now=clock())
