"""The ``esf`` command: one entry point, its subcommands grouped by job.

::

    esf init [DIR]                  a new project from the template
    esf demo [--url URL]            the bank-account demo, on an SQLite file by default
    esf verify URL                  walk the hash chains and the order (and a seal)
    esf seal URL                    seal the store as it is now
    esf export URL                  every event as JSON lines or CSV
    esf history URL STREAM          one stream's events (and state, with --app)
    esf events tail URL             the global log, and new events with --follow
    esf store info URL              what the store is and holds
    esf store migrate URL           bring an older schema to the current version

Errors end the command with one line on stderr and an exit status that says what kind
of error it was (``ExitCode``; docs/cli.md lists them); ``esf --debug`` adds the
traceback. Commands that read a store never create or migrate it.
"""

from __future__ import annotations

import click

from esframework import __version__
from esframework.cli import audit, project, projections, records, store
from esframework.cli._group import EsfGroup, ExitCode

__all__ = ["ExitCode", "main"]


@click.group(cls=EsfGroup)
@click.version_option(__version__, prog_name="esf")
@click.option(
    "--debug", is_flag=True, help="On an error, show the traceback, not only its one line."
)
def main(debug: bool) -> None:
    """esframework: event-sourced domain models with a hash-chained audit trail.

    Stores are named by URL: sqlite:///path/to/file.db, postgresql://user@host/db
    (?schema=name for a store in its own schema), memory://.
    """


assert isinstance(main, EsfGroup)
main.add_command(project.init, section="Projects")
main.add_command(project.demo, section="Projects")
main.add_command(audit.verify, section="Audit")
main.add_command(audit.seal, section="Audit")
main.add_command(records.export, section="Audit")
main.add_command(records.history, section="Audit")
main.add_command(records.events, section="Stores and events")
main.add_command(store.store, section="Stores and events")
main.add_command(projections.projections, section="Read side")
