"""Opening stores and applications for ``esf`` commands, parsing their input, progress.

Commands that read a store open it without creating or migrating anything (an audit
must not change what it audits); ``esf store migrate`` is the one that upgrades.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any
from uuid import UUID

import attrs
import click

import esframework as esf
from esframework.adapters import redact
from esframework.adapters.base import EventStore
from esframework.adapters.sql_schema import SCHEMA_VERSION
from esframework.aggregate import Aggregate
from esframework.cli._group import CliError, StoreNotUsable, one_line
from esframework.serialization import EventCodec

__all__ = [
    "APP_HELP",
    "Reading",
    "hmac_key",
    "is_memory",
    "open_store",
    "progress",
    "read_seal",
    "reading",
    "stderr_is_terminal",
    "to_stream_ids",
    "to_time",
    "where",
]

APP_HELP = (
    "Your application, as module:attribute naming an esf.Application or a function "
    "returning one (called with URL if it takes an argument), imported from the "
    "current directory first."
)


def to_time(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    """An ISO 8601 time with a time zone, or a date (that day's start in UTC)."""
    if value is None:
        return None
    text = value.strip()
    try:
        return datetime.combine(date.fromisoformat(text), time(), UTC)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not an ISO 8601 time: write e.g. 2026-11-22T09:30:00Z, "
            "2026-11-22T10:30:00+01:00 or the date 2026-11-22"
        ) from None
    if when.tzinfo is None or when.utcoffset() is None:
        raise click.BadParameter(
            f"{text!r} has no time zone, so it names no single instant: add Z for UTC or "
            "an offset such as +01:00"
        )
    return when


def to_stream_id(text: str) -> UUID:
    """A stream id given on the command line; stream ids are UUIDs."""
    try:
        return UUID(text.strip())
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a stream id: stream ids are UUIDs") from None


def to_stream_ids(
    ctx: click.Context, param: click.Parameter, value: Any
) -> UUID | tuple[UUID, ...] | None:
    """The option's or argument's stream id(s) as UUIDs (one, several, or none)."""
    if value is None:
        return None
    if isinstance(value, tuple):
        return tuple(to_stream_id(v) for v in value)
    return to_stream_id(value)


def stderr_is_terminal() -> bool:
    """Whether stderr is a terminal (then long work shows a progress bar there)."""
    return sys.stderr.isatty()


@contextmanager
def progress(label: str, total: int | None) -> Iterator[Callable[[int], None] | None]:
    """A callback that shows ``count`` of ``total`` on a terminal; None when not one.

    Piped or logged output stays plain: no bar, no carriage returns.
    """
    if not stderr_is_terminal():
        yield None
        return
    if total:
        with click.progressbar(length=total, label=label, file=sys.stderr, show_pos=True) as bar:
            shown = 0

            def update(count: int) -> None:
                nonlocal shown
                bar.update(count - shown)
                shown = count

            yield update
        return

    def count_up(count: int) -> None:
        click.echo(f"\r{label} {count}", file=sys.stderr, nl=False)

    yield count_up
    click.echo(file=sys.stderr)


def is_memory(url: str) -> bool:
    """Whether ``url`` names a memory store (new and empty at every command)."""
    return url.strip().lower().startswith("memory:")


def where(store: object, url: str) -> str:
    """Where a store is, for output: its own description, else the URL without password."""
    return str(getattr(store, "where", None) or redact(url))


def open_store(
    url: str, *, codec: EventCodec | None = None, any_version: bool = False
) -> EventStore:
    """The existing store at ``url``, opened without creating or migrating anything.

    Refuses (exit 3) a place that holds no store and, unless ``any_version``, a store
    whose schema is not the one this esframework reads.
    """
    options: dict[str, Any] = {} if codec is None else {"codec": codec}
    if not is_memory(url):
        options["migrate"] = False
    store = esf.connect(url, **options)
    version = getattr(store, "schema_version", SCHEMA_VERSION)
    if version == SCHEMA_VERSION or (any_version and version is not None):
        return store
    here = where(store, url)
    store.close()
    if version is None:
        raise StoreNotUsable(
            f"there is no event store at {here}: check the URL (esf reads existing stores; "
            "an application creates one when it first connects, or esf store migrate does)"
        )
    raise StoreNotUsable(
        f"the event store at {here} has schema version {version}; esframework "
        f"{esf.__version__} reads version {SCHEMA_VERSION}: upgrade it with esf store "
        "migrate (once every process that writes to it runs this esframework)"
    )


@attrs.frozen
class Reading:
    """An open store and, when ``--app`` was given, the application over it."""

    store: EventStore
    app: esf.Application | None


@contextmanager
def reading(url: str, app_spec: str | None = None) -> Iterator[Reading]:
    """The store at ``url`` for reading, with the ``--app`` application if one is named."""
    if app_spec is None:
        with open_store(url) as store:
            yield Reading(store, None)
        return
    open_store(url).close()  # a bad URL or store fails before the application's code runs
    aggregates, codec = load_app(app_spec, url)
    with open_store(url, codec=codec) as store:
        yield Reading(store, esf.Application(store, aggregates=aggregates))


def load_app(spec: str, url: str) -> tuple[tuple[type[Aggregate], ...], EventCodec]:
    """The aggregates and codec (event classes, upcasters) of the ``--app`` application.

    Only the application's definition is used: its own store is closed at once, and
    the command reads through a store it opens itself.
    """
    module_name, colon, attr_path = spec.partition(":")
    if not (colon and module_name and attr_path):
        raise CliError(
            f"--app {spec!r} is not module:attribute: name what holds your application, "
            "e.g. --app bank.app:make_app"
        )
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)  # as python -m does: the project in the current directory
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (module_name + ".").startswith(exc.name + "."):
            raise CliError(
                f"cannot import {module_name!r} (--app): there is no such module here; run "
                "esf from your project's directory, or install the project (pip install -e .)"
            ) from exc
        raise _app_failed(spec, exc) from exc
    except Exception as exc:
        raise _app_failed(spec, exc) from exc
    found: Any = module
    for part in attr_path.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise CliError(
                f"{module_name!r} has no attribute {attr_path!r} (--app): name an "
                "esf.Application, or a function that returns one"
            ) from None
    app = found
    owned = not isinstance(found, esf.Application) and callable(found)
    if owned:
        try:
            app = found(url) if _takes_one_argument(found) else found()
        except Exception as exc:
            raise _app_failed(spec, exc) from exc
    if not isinstance(app, esf.Application):
        raise CliError(
            f"--app {spec} is a {type(app).__name__}, not an esf.Application or a function "
            "that returns one"
        )
    definition = (app.aggregates, app.codec)
    if owned:
        app.close()
    return definition


def _takes_one_argument(fn: Callable[..., Any]) -> bool:
    try:
        inspect.signature(fn).bind(None)
    except (TypeError, ValueError):
        return False
    return True


def _app_failed(spec: str, exc: BaseException) -> CliError:
    return CliError(
        f"loading the application {spec} (--app) failed: {type(exc).__name__}: "
        f"{one_line(exc)}; fix it, or run esf --debug ... to see where"
    )


def hmac_key(variable: str | None) -> bytes | None:
    """The HMAC key held by the environment variable ``variable`` (never a command line)."""
    if variable is None:
        return None
    value = os.environ.get(variable)
    if not value:
        raise CliError(
            f"the environment variable {variable} (--hmac-key-env) is not set or empty: set "
            "it to the seal's HMAC key"
        )
    return value.encode("utf-8")


def read_seal(path: Path) -> esf.Seal:
    """The seal in a file; anything else is one line and exit status 2."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise CliError(f"{path} is not a seal: it is not even text") from None
    except OSError as exc:
        raise CliError(f"cannot read the seal {path}: {exc.strerror or exc}") from None
    try:
        return esf.Seal.from_json(text)
    except esf.InvalidSeal as exc:
        raise CliError(f"{path} is not a usable seal: {one_line(exc)}") from None
