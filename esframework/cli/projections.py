"""Projections from the command line: ``esf projections status|run|rebuild``.

Projections are named as ``package.module:ClassName``; importing the module also
registers the event classes they handle.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

import esframework as esf
from esframework.cli._group import CliError, ExitCode
from esframework.cli._support import stderr_is_terminal, where
from esframework.errors import DefinitionError
from esframework.projection_engine import RebuildProgress
from esframework.projection_runner import Projections, ProjectionStatus, load, run

__all__ = ["projections"]


@contextmanager
def _projections(url: str, targets: tuple[str, ...]) -> Iterator[Projections]:
    if "" not in sys.path:
        sys.path.insert(0, "")  # as `python -m` does, so the project's modules import
    loaded = _load(targets)
    with esf.connect(url) as store:
        manager = Projections(store, loaded)
        try:
            yield manager
        finally:
            manager.close()


def _load(targets: tuple[str, ...]) -> list[object]:
    try:
        return [load(t) for t in targets]
    except DefinitionError as exc:
        raise CliError(
            f"{exc}; name each projection as package.module:ClassName, importable from here"
        ) from None


@click.group()
def projections() -> None:
    """Projections that keep read models up to date: status, run, rebuild."""


def _status_line(s: ProjectionStatus) -> str:
    line = (
        f"{s.name}: {s.state}, {s.mode}, at {s.position} of {s.head} "
        f"({s.lag_events} events, {s.lag_seconds:.1f} s behind)"
    )
    if s.paused:
        line += ", paused"
    if s.failure is not None:
        f = s.failure
        line += f"; stopped at position {f.position} ({f.event_type}): {f.error}: {f.message}"
    return line


@projections.command()
@click.argument("url")
@click.argument("targets", nargs=-1, required=True, metavar="PROJECTION...")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per projection.")
def status(url: str, targets: tuple[str, ...], as_json: bool) -> None:
    """Where each projection is: position, lag in events and seconds, errors.

    PROJECTION: package.module:ClassName. Exits 1 when a projection has stopped on
    an error.
    """
    with _projections(url, targets) as manager:
        statuses = manager.status()
    for s in statuses:
        if as_json:
            click.echo(
                json.dumps(
                    {
                        "name": s.name,
                        "mode": s.mode,
                        "state": s.state,
                        "position": s.position,
                        "head": s.head,
                        "lag_events": s.lag_events,
                        "lag_seconds": s.lag_seconds,
                        "paused": s.paused,
                        "error": None
                        if s.failure is None
                        else f"{s.failure.error}: {s.failure.message}",
                    }
                )
            )
        else:
            click.echo(_status_line(s))
    if any(s.failure is not None for s in statuses):
        sys.exit(ExitCode.PROBLEMS)


@projections.command(name="run")
@click.argument("url")
@click.argument("targets", nargs=-1, required=True, metavar="PROJECTION...")
@click.option(
    "--poll-interval",
    type=float,
    default=1.0,
    show_default=True,
    help="Seconds between looks at the store when no wake-up arrives.",
)
def run_command(url: str, targets: tuple[str, ...], poll_interval: float) -> None:
    """Keep the projections up to date until Ctrl-C or SIGTERM.

    Run several of these processes on PostgreSQL: one runs each projection, and the
    others take over if it dies.
    """
    if "" not in sys.path:
        sys.path.insert(0, "")
    _load(targets)  # a wrong name is a usage error before anything runs
    click.echo(f"running {', '.join(targets)} on {where(None, url)}; Ctrl-C to stop", err=True)
    run(url, list(targets), poll_interval=poll_interval)


@projections.command()
@click.argument("url")
@click.argument("targets", nargs=-1, required=True, metavar="PROJECTION...")
def rebuild(url: str, targets: tuple[str, ...]) -> None:
    """Rebuild projections from the first event into fresh views, swapped in at the end.

    Readers see the old views until the new ones have caught up. PROJECTION:
    package.module:ClassName.
    """
    with _projections(url, targets) as manager:
        for name in manager.names:
            final = manager.rebuild(name, progress=_reporter(name))
            click.echo(_status_line(final))


def _reporter(name: str) -> Any:
    terminal = stderr_is_terminal()
    shown = [0]

    def report(p: RebuildProgress) -> None:
        if terminal:
            click.echo(f"\r{name}: {p.position} of {p.head}", err=True, nl=p.done)
        elif p.done or p.events - shown[0] >= 10_000:
            shown[0] = p.events
            click.echo(f"{name}: {p.events} events, at {p.position} of {p.head}", err=True)

    return report
