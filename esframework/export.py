"""Exporting stored events for inspectors, archives and other systems.

``export_events(store, out, format="jsonl")`` writes one JSON object per event with
every envelope field; ``format="csv"`` writes one row per event with the standard
metadata keys as their own columns and the rest of the metadata and the payload as
JSON. Filters: one stream, event types, and a ``recorded_at`` window.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, Literal, TextIO
from uuid import UUID

from esframework.audit import paged
from esframework.errors import DefinitionError
from esframework.events import RecordedEvent

__all__ = ["CSV_COLUMNS", "export_events", "record_to_dict"]

Format = Literal["jsonl", "csv"]

_STANDARD_META = ("user_id", "correlation_id", "causation_id", "tenant_id")

CSV_COLUMNS = (
    "position",
    "stream_id",
    "stream_type",
    "version",
    "event_id",
    "event_type",
    "schema_version",
    "occurred_at",
    "recorded_at",
    *_STANDARD_META,
    "metadata",
    "data",
    "prev_hash",
    "hash",
)


def record_to_dict(rec: RecordedEvent) -> dict[str, Any]:
    """Every envelope field of ``rec`` as JSON-compatible data."""
    return {
        "position": rec.position,
        "stream_id": str(rec.stream_id),
        "stream_type": rec.stream_type,
        "version": rec.version,
        "event_id": str(rec.event_id),
        "event_type": rec.event_type,
        "schema_version": rec.schema_version,
        "occurred_at": rec.occurred_at.isoformat(),
        "recorded_at": rec.recorded_at.isoformat(),
        "metadata": dict(rec.metadata),
        "data": dict(rec.data),
        "prev_hash": rec.prev_hash,
        "hash": rec.hash,
    }


def _compact(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _selected(
    store: Any,
    stream: UUID | None,
    types: Sequence[str] | None,
    since: datetime | None,
    until: datetime | None,
) -> Iterator[RecordedEvent]:
    for bound in (since, until):
        if bound is not None and bound.tzinfo is None:
            raise DefinitionError("since/until must be timezone-aware datetimes")
    if stream is not None:
        records: Iterator[RecordedEvent] = iter(store.read_stream(stream))
    elif types is not None:
        records = iter(store.read_all(types=list(types)))
    else:
        records = paged(store.read_all, 1000)
    wanted = frozenset(types) if types is not None else None
    for rec in records:
        if wanted is not None and rec.event_type not in wanted:
            continue
        if since is not None and rec.recorded_at < since:
            continue
        if until is not None and rec.recorded_at >= until:
            continue
        yield rec


def export_events(
    store: Any,
    out: TextIO,
    *,
    format: Format = "jsonl",
    stream: UUID | None = None,
    types: Sequence[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write the selected events to ``out``; returns how many were written.

    ``since`` is inclusive and ``until`` exclusive, both on ``recorded_at``.
    """
    if format not in ("jsonl", "csv"):
        raise DefinitionError(f"unknown export format {format!r}: use 'jsonl' or 'csv'")
    writer = csv.writer(out) if format == "csv" else None
    if writer is not None:
        writer.writerow(CSV_COLUMNS)
    count = 0
    for rec in _selected(store, stream, types, since, until):
        row = record_to_dict(rec)
        if writer is None:
            out.write(_compact(row) + "\n")
        else:
            meta = row.pop("metadata")
            standard = [meta.pop(k, None) for k in _STANDARD_META]
            writer.writerow(
                [
                    *(row[c] for c in CSV_COLUMNS[:9]),
                    *("" if v is None else v for v in standard),
                    _compact(meta),
                    _compact(row["data"]),
                    row["prev_hash"],
                    row["hash"],
                ]
            )
        count += 1
        if progress is not None and count % 1000 == 0:
            progress(count)
    if progress is not None:
        progress(count)
    return count
