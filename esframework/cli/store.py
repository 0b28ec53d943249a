"""``esf store info`` and ``esf store migrate``: what a store is, and upgrading its schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import sqlalchemy as sa

import esframework as esf
from esframework.adapters import redact
from esframework.adapters.sql_schema import SCHEMA_VERSION
from esframework.cli._group import CliError, ExitCode
from esframework.cli._support import is_memory, open_store, where

__all__ = ["store"]


@click.group()
def store() -> None:
    """Inspect a store, and upgrade its schema."""


@store.command()
@click.argument("url")
@click.option("--json", "as_json", is_flag=True, help="Print the facts as one JSON object.")
def info(url: str, as_json: bool) -> None:
    """Show what the store at URL is and holds.

    Its kind, where it is (without password), schema version, store id, events,
    streams and last position. Changes nothing, not even an older schema.
    """
    with open_store(url, any_version=True) as opened:
        stats = opened.stats() if hasattr(opened, "stats") else None
        facts: dict[str, Any] = {
            "kind": getattr(opened, "kind", "memory"),
            "where": where(opened, url),
            "schema_version": getattr(opened, "schema_version", None),
            "library_schema_version": SCHEMA_VERSION,
            "store_id": str(getattr(opened, "store_id", "")) or None,
            "events": None if stats is None else stats.events,
            "streams": None if stats is None else stats.streams,
            "last_position": None if stats is None else stats.last_position,
        }
    if as_json:
        click.echo(json.dumps(facts))
        return
    version = facts["schema_version"]
    if version is None:
        schema = "none (memory stores keep no schema)"
    elif version == SCHEMA_VERSION:
        schema = f"{version} (current)"
    else:
        schema = f"{version} (this esframework uses {SCHEMA_VERSION}: esf store migrate)"
    rows = [
        ("kind", facts["kind"]),
        ("where", facts["where"]),
        ("schema version", schema),
        ("store id", facts["store_id"] or "none (stores get one at schema version 3)"),
        ("events", facts["events"]),
        ("streams", facts["streams"]),
        ("last position", facts["last_position"]),
    ]
    for label, value in rows:
        click.echo(f"{label + ':':<16}{value}")


@store.command()
@click.argument("url")
@click.option(
    "--check",
    is_flag=True,
    help="Only report: exit 1 if the schema needs migrating (or creating). Changes nothing.",
)
@click.pass_context
def migrate(ctx: click.Context, url: str, check: bool) -> None:
    """Bring the store at URL to the schema version this esframework uses.

    Creates the store's tables if there are none yet, and refuses a schema newer than
    this esframework. Connecting applications migrate too; this makes it a step of
    its own (e.g. run by a role allowed to change tables, before deploying).
    """
    if is_memory(url):
        raise CliError("memory stores keep no schema: migrate SQLite or PostgreSQL stores")
    found = _found_version(url)
    here = redact(url)
    if found == SCHEMA_VERSION:
        click.echo(f"{here}: schema version {found} is current; nothing to do")
        return
    if check:
        if found is None:
            click.echo(f"{here}: no event store yet; migrating creates version {SCHEMA_VERSION}")
        else:
            click.echo(f"{here}: schema version {found} needs migrating to {SCHEMA_VERSION}")
        ctx.exit(ExitCode.PROBLEMS)
    with esf.connect(url) as migrated:
        now = getattr(migrated, "schema_version", SCHEMA_VERSION)
        here = where(migrated, url)
    if found is None:
        click.echo(f"{here}: created the event store at schema version {now}")
    else:
        click.echo(f"{here}: migrated from schema version {found} to {now}")


def _found_version(url: str) -> int | None:
    """The schema version at ``url`` now (None: no store there yet), changing nothing."""
    path = _sqlite_file(url)
    if path is not None and not path.exists():
        return None
    with esf.connect(url, migrate=False) as opened:
        version: int | None = getattr(opened, "schema_version", None)
        return version


def _sqlite_file(url: str) -> Path | None:
    """The file an SQLite URL names, or None for other URLs (connect judges those)."""
    try:
        parsed = sa.make_url(url)
    except (sa.exc.ArgumentError, ValueError):
        return None
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)
