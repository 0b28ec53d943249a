"""Reading the stored events: ``esf export``, ``esf history`` and ``esf events tail``."""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import click

from esframework.adapters.base import EventStore
from esframework.aggregate import Aggregate, options_of, state_fields
from esframework.application import Application
from esframework.cli._group import CliError
from esframework.cli._support import (
    APP_HELP,
    progress,
    reading,
    stderr_is_terminal,
    to_stream_ids,
    to_time,
    where,
)
from esframework.errors import EsfError
from esframework.events import RecordedEvent
from esframework.export import export_events, record_to_dict

__all__ = ["events", "export", "history", "poll"]

_TIME_HELP = "ISO 8601 with a time zone (2026-11-22T09:30:00Z), or a date (its start in UTC)."


@click.command()
@click.argument("url")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "csv"]),
    default="jsonl",
    show_default=True,
    help="JSON lines (one object per event) or CSV (one row per event).",
)
@click.option("--stream", callback=to_stream_ids, metavar="ID", help="Only this stream's events.")
@click.option(
    "--type", "types", multiple=True, metavar="TYPE", help="Only events of this type (repeatable)."
)
@click.option(
    "--since",
    callback=to_time,
    metavar="TIME",
    help="Only events recorded at or after this time. " + _TIME_HELP,
)
@click.option(
    "--until", callback=to_time, metavar="TIME", help="Only events recorded before this time."
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Write to FILE, replaced only once the export is complete. Default: stdout.",
)
def export(
    url: str,
    fmt: str,
    stream: UUID | None,
    types: tuple[str, ...],
    since: datetime | None,
    until: datetime | None,
    out: Path | None,
) -> None:
    """Export the events of the store at URL as JSON lines or CSV.

    Each event comes with its position, stream, version, ids, type, times, metadata
    (who, why), payload and hashes, in position order (stream order with --stream).
    """
    with reading(url) as r:
        total = None
        if stderr_is_terminal() and stream is None and not types and not (since or until):
            stats = getattr(r.store, "stats", None)
            total = stats().events if stats is not None else None
        selection: dict[str, Any] = {
            "format": fmt,
            "stream": stream,
            "types": list(types) or None,
            "since": since,
            "until": until,
        }
        if out is None:
            with progress("Exporting", total) as tick:
                export_events(r.store, sys.stdout, progress=tick, **selection)
            return
        count = _export_to_file(r.store, out, total, selection)
    click.echo(f"Exported {count} events to {out}", file=sys.stderr)


def _export_to_file(
    store: EventStore, out: Path, total: int | None, selection: dict[str, Any]
) -> int:
    """Export into ``out`` through a partial file, so that a failed export replaces nothing."""
    partial = out.with_name(out.name + ".partial")
    try:
        with (
            partial.open("w", encoding="utf-8", newline="") as f,
            progress("Exporting", total) as tick,
        ):
            count = export_events(store, f, progress=tick, **selection)
        partial.replace(out)
    except BaseException as exc:
        partial.unlink(missing_ok=True)
        if isinstance(exc, OSError) and not isinstance(exc, EsfError):  # not the store's
            raise CliError(f"cannot write the export to {out}: {exc.strerror or exc}") from None
        raise
    return count


@click.command()
@click.argument("url")
@click.argument("stream", callback=to_stream_ids)
@click.option(
    "--at-version",
    type=click.IntRange(min=1),
    metavar="N",
    help="Stop at this version of the stream.",
)
@click.option(
    "--at-time",
    callback=to_time,
    metavar="TIME",
    help="Stop at the last event recorded at or before this time. " + _TIME_HELP,
)
@click.option(
    "--app", "app_spec", metavar="MODULE:ATTR", help=APP_HELP + " Shows the state after events."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per event.")
def history(
    url: str,
    stream: UUID,
    at_version: int | None,
    at_time: datetime | None,
    app_spec: str | None,
    as_json: bool,
) -> None:
    """Show the events of one stream, oldest first.

    STREAM is the stream's id (the aggregate's UUID). Each event comes with its
    position, version, type, recorded_at, user and payload; with --app, also with the
    aggregate's state right after it.
    """
    if at_version is not None and at_time is not None:
        raise CliError("give --at-version or --at-time, not both")
    with reading(url, app_spec) as r:
        here = where(r.store, url)
        first = next(iter(r.store.read_stream(stream, 1, 1)), None)
        if first is None:
            raise CliError(f"stream {stream} has no events in {here}: check the stream id")
        current = r.store.stream_version(stream)
        if at_version is not None and at_version > current:
            raise CliError(f"stream {stream} is at version {current}: it has no {at_version}")
        if at_time is not None and first.recorded_at > at_time:
            raise CliError(
                f"stream {stream} had no events at {at_time.isoformat()}: its first was "
                f"recorded at {first.recorded_at.isoformat()}"
            )
        for rec, state in _steps(r.store, r.app, stream, first.stream_type):
            if at_version is not None and rec.version > at_version:
                break
            if at_time is not None and rec.recorded_at > at_time:
                break
            click.echo(_history_json(rec, state) if as_json else _history_text(rec, state))


def _steps(
    store: EventStore, app: Application | None, stream: UUID, stream_type: str
) -> Iterator[tuple[RecordedEvent, dict[str, Any] | None]]:
    """The stream's events, each with the state after it when there is an application."""
    if app is None:
        for rec in store.read_stream(stream):
            yield rec, None
        return
    by_type = {options_of(a).name: a for a in app.aggregates}
    cls = by_type.get(stream_type)
    if cls is None:
        known = ", ".join(sorted(by_type)) or "none"
        raise CliError(
            f"stream {stream} holds a {stream_type!r}, and the application from --app has no "
            f"aggregate stored under that name (it has: {known})"
        )
    converter = app.codec.converter
    for rec, agg in app.history(cls, stream):
        yield rec, _state(agg, converter.unstructure)


def _state(agg: Aggregate, unstructure: Callable[..., Any]) -> dict[str, Any]:
    return {f.name: unstructure(getattr(agg, f.name), f.type) for f in state_fields(type(agg))}


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _record_json(row: dict[str, Any]) -> str:
    """An event as one JSON line, its fields in envelope order (as esf export writes)."""
    return json.dumps(row, ensure_ascii=False, default=str)


def _history_text(rec: RecordedEvent, state: dict[str, Any] | None) -> str:
    lines = [
        f"#{rec.position} v{rec.version} {rec.recorded_at.isoformat()} {rec.event_type} "
        f"user={rec.metadata.get('user_id') or '-'}",
        f"    payload {_json(rec.data)}",
    ]
    if state is not None:
        lines.append(f"    state   {_json(state)}")
    return "\n".join(lines)


def _history_json(rec: RecordedEvent, state: dict[str, Any] | None) -> str:
    row = record_to_dict(rec)
    if state is not None:
        row["state"] = state
    return _record_json(row)


@click.group()
def events() -> None:
    """Read the global log of events."""


def poll(
    store: EventStore,
    *,
    after: int,
    types: Sequence[str] | None,
    interval: float,
    sleep: Callable[[float], object] = time.sleep,
) -> Iterator[RecordedEvent]:
    """The events after ``after`` in position order, then each new one; never ends.

    It polls ``read_all`` and sleeps ``interval`` seconds whenever nothing is new. The
    global order is gap-free, so polling from the last position seen misses nothing.
    """
    while True:
        fresh = False
        for rec in store.read_all(after=after, types=types):
            after = rec.position
            fresh = True
            yield rec
        if not fresh:
            sleep(interval)


@events.command()
@click.argument("url")
@click.option(
    "--after",
    type=click.IntRange(min=0),
    default=0,
    metavar="POSITION",
    help="Start after this position. Default: the beginning of the log.",
)
@click.option(
    "--type", "types", multiple=True, metavar="TYPE", help="Only events of this type (repeatable)."
)
@click.option("--follow", "-f", is_flag=True, help="Keep waiting for new events until Ctrl-C.")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.01),
    default=1.0,
    metavar="SECONDS",
    show_default=True,
    help="Seconds between looks for new events with --follow.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per event.")
def tail(
    url: str, after: int, types: tuple[str, ...], follow: bool, interval: float, as_json: bool
) -> None:
    """Print the events of the store at URL in position order, one line each."""
    wanted = list(types) or None
    with reading(url) as r, ExitStack() as stack:
        subscribe = getattr(r.store, "subscribe", None)
        records: Iterable[RecordedEvent]
        if follow and subscribe is not None:
            # Woken by the store as events commit (LISTEN/NOTIFY on PostgreSQL), with
            # polling every --interval seconds as the fallback.
            subscription = stack.enter_context(
                subscribe(after=after, types=wanted, poll_interval=interval)
            )
            stack.enter_context(_closed_by_ctrl_c(subscription))
            records = subscription
        elif follow:
            records = poll(r.store, after=after, types=wanted, interval=interval)
        else:
            records = r.store.read_all(after=after, types=wanted)
        try:
            for rec in records:
                click.echo(_record_json(record_to_dict(rec)) if as_json else _tail_line(rec))
        except KeyboardInterrupt:
            if not follow:
                raise  # with --follow, Ctrl-C is how it ends


@contextmanager
def _closed_by_ctrl_c(subscription: Any) -> Iterator[None]:
    """While following, Ctrl-C closes the subscription and the loop ends.

    A KeyboardInterrupt raised wherever the main thread happens to be could land inside
    a read, while the database connection goes back to its pool, which then logs the
    interruption as an error. Closing from another thread ends the loop between reads.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers belong to the main thread; Ctrl-C raises as usual
        return

    def close(_signum: int, _frame: object) -> None:
        threading.Thread(target=subscription.close, daemon=True).start()

    previous = signal.signal(signal.SIGINT, close)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _tail_line(rec: RecordedEvent) -> str:
    return (
        f"{rec.position} {rec.recorded_at.isoformat()} {rec.event_type} stream={rec.stream_id} "
        f"version={rec.version} user={rec.metadata.get('user_id') or '-'} "
        f"data={_json(rec.data)}"
    )
