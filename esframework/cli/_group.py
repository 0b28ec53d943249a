"""What every ``esf`` command shares: exit statuses, one-line errors, sectioned help.

Commands raise esframework's own errors (or ``CliError``) and never print tracebacks
themselves: ``EsfGroup.invoke`` turns any error into one line on stderr and the exit
status its kind calls for, and shows the traceback as well under ``esf --debug``.
"""

from __future__ import annotations

import contextlib
import enum
import os
import sys
import traceback
from typing import Any

import click

from esframework.adapters import redact
from esframework.errors import (
    EsfError,
    InvalidSeal,
    InvalidStoreUrl,
    InvalidStreamId,
    ScaffoldError,
    SchemaVersionError,
    StoreUnavailable,
)

__all__ = [
    "CliError",
    "CommandFailed",
    "EsfGroup",
    "ExitCode",
    "Interrupted",
    "StoreNotUsable",
    "as_cli_error",
    "one_line",
]


class ExitCode(enum.IntEnum):
    """What an ``esf`` exit status means (docs/cli.md lists them for users)."""

    OK = 0
    PROBLEMS = 1
    """The check ran and failed: verify found problems, or a migration is needed."""
    USAGE = 2
    """Bad usage or input: options, URL, stream id, time, seal file, --app, answers."""
    UNAVAILABLE = 3
    """The store cannot be used as it is: unreachable, absent, or of another schema."""
    FAILED = 4
    """Anything else went wrong while the command ran (esf --debug shows where)."""
    INTERRUPTED = 130
    """Ctrl-C (as shells report SIGINT)."""
    OUTPUT_CLOSED = 141
    """The reader of the output went away, e.g. ``esf export URL | head`` (as SIGPIPE)."""


class CliError(click.ClickException):
    """Ends a command with ``Error: <message>`` on stderr: bad usage or input (status 2)."""

    exit_code = ExitCode.USAGE


class StoreNotUsable(CliError):
    """The store cannot be used as it is (status 3)."""

    exit_code = ExitCode.UNAVAILABLE


class CommandFailed(CliError):
    """Something else went wrong while the command ran (status 4)."""

    exit_code = ExitCode.FAILED


class Interrupted(CliError):
    """Ctrl-C (status 130)."""

    exit_code = ExitCode.INTERRUPTED


_USAGE: tuple[type[Exception], ...] = (
    InvalidStoreUrl,
    InvalidSeal,
    InvalidStreamId,
    ScaffoldError,
)
_UNAVAILABLE: tuple[type[Exception], ...] = (StoreUnavailable, SchemaVersionError)


def one_line(exc: BaseException) -> str:
    """The error's message on one line, without any password a URL in it carried."""
    return redact(" ".join(str(exc).split())) or type(exc).__name__


def as_cli_error(exc: Exception) -> CliError:
    """The one-line error, of the class that gives its exit status, for an exception."""
    if isinstance(exc, _USAGE):
        return CliError(one_line(exc))
    if isinstance(exc, _UNAVAILABLE):
        return StoreNotUsable(one_line(exc))
    if isinstance(exc, EsfError):
        return CommandFailed(one_line(exc))
    return CommandFailed(
        f"{type(exc).__name__}: {one_line(exc)} (unexpected: run esf --debug ... to see "
        "where it came from)"
    )


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that flushing at exit cannot fail on a closed pipe."""
    # Under a test runner stdout is no real file: then there is nothing to silence.
    with contextlib.suppress(OSError, ValueError, AttributeError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


class EsfGroup(click.Group):
    """The ``esf`` group: errors become one line and an exit status; help by section."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sections: dict[str, list[str]] = {}

    def add_command(
        self, cmd: click.Command, name: str | None = None, *, section: str = "Commands"
    ) -> None:
        """Add a command, listed in ``esf --help`` under ``section``."""
        super().add_command(cmd, name)
        self.sections.setdefault(section, []).append(name or cmd.name or "")

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List the commands by job, each section in the order they were added."""
        width = formatter.width or 80
        for section, names in self.sections.items():
            rows: list[tuple[str, str]] = []
            for name in names:
                cmd = self.get_command(ctx, name)
                if cmd is not None and not cmd.hidden:
                    rows.append((name, cmd.get_short_help_str(limit=width - 6 - len(name))))
            if rows:
                with formatter.section(section):
                    formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        debug = bool(ctx.params.get("debug"))
        try:
            return super().invoke(ctx)
        except click.ClickException as exc:
            if debug and exc.__cause__ is not None:
                traceback.print_exception(exc.__cause__)
            raise
        except click.exceptions.Exit:
            raise
        except (KeyboardInterrupt, click.Abort):  # click turns Ctrl-C at a prompt into Abort
            raise Interrupted("interrupted") from None
        except BrokenPipeError:
            _silence_stdout()
            raise click.exceptions.Exit(ExitCode.OUTPUT_CLOSED) from None
        except Exception as exc:
            if debug:
                traceback.print_exc()
            raise as_cli_error(exc) from None
