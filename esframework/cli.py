"""The ``esf`` command.

    esf demo [--url URL]      the bank-account demo, on an SQLite file by default

Errors end the command with one line on stderr and a non-zero exit status.
"""

from __future__ import annotations

import os
import sys

import click

from esframework import __version__
from esframework.errors import EsfError

__all__ = ["main"]


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


@click.group()
@click.version_option(__version__, prog_name="esf")
def main() -> None:
    """esframework: event-sourced domain models with a hash-chained audit trail."""


@main.command()
@click.option(
    "--url",
    default="sqlite:///esf-demo.db",
    show_default=True,
    help="The store to run on: sqlite:///file.db, sqlite://, postgresql://user@host/db.",
)
def demo(url: str) -> None:
    """Open accounts, deposit, transfer, get refused, look back in time, verify."""
    from esframework.demo import run

    try:
        run(url, click.echo)
    except BrokenPipeError:  # the reader went away (esf demo | head): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    except EsfError as exc:
        raise click.ClickException(_one_line(exc)) from None
    except Exception as exc:  # a bug: still one line, but say what it was
        raise click.ClickException(f"{type(exc).__name__}: {_one_line(exc)}") from None
