"""``esf init`` (a new project from the template) and ``esf demo``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from esframework.cli._group import CliError
from esframework.errors import ScaffoldError
from esframework.scaffold import STORES, render, template_dir

__all__ = ["demo", "init"]


def _template_defaults() -> dict[str, str]:
    """The template's own default answers, so that esf init and cookiecutter agree."""
    answers = json.loads((template_dir() / "cookiecutter.json").read_text(encoding="utf-8"))
    return {
        "project_name": str(answers["project_name"]),
        "aggregate_name": str(answers["aggregate_name"]),
        "store": str(answers["store"][0]),
    }


def _package_for(project_name: str) -> str:
    """The template's default package name for a project name (snake case)."""
    try:
        from slugify import slugify
    except ImportError:
        raise ScaffoldError(
            "generating a project needs cookiecutter: pip install 'esframework[scaffold]' "
            "(or pip install cookiecutter)"
        ) from None
    return str(slugify(project_name, separator="_"))


def _ask(question: str, default: str, choices: tuple[str, ...] = ()) -> str:
    """One answer; input that ends before it is bad input (exit 2), not an interruption."""
    try:
        kind = click.Choice(choices) if choices else None
        return str(click.prompt(question, default=default, type=kind))
    except click.Abort:
        if sys.stdin.isatty():
            raise  # Ctrl-C at the keyboard
        raise CliError(
            "standard input ended before every answer was given: give the answers as "
            "options (--project-name, --package-name, --aggregate, --store), or --no-input"
        ) from None


@click.command()
@click.argument(
    "directory", default=".", type=click.Path(file_okay=False, path_type=Path), metavar="[DIR]"
)
@click.option("--project-name", help="The project's name, free text (e.g. 'Bank Ledger').")
@click.option(
    "--package-name", help="Its Python package (default: the project name in snake case)."
)
@click.option("--aggregate", "aggregate_name", help="The first aggregate's class name.")
@click.option("--store", type=click.Choice(STORES), help="The event store it starts on.")
@click.option(
    "--no-input", is_flag=True, help="Ask nothing: the defaults answer what no option gives."
)
def init(
    directory: Path,
    project_name: str | None,
    package_name: str | None,
    aggregate_name: str | None,
    store: str | None,
    no_input: bool,
) -> None:
    """Create a new project from the esframework template.

    The project, made in DIR (default: here), holds one aggregate with its command,
    event and tests, an application wired to an SQLite or PostgreSQL store, and a CI
    script. Without --no-input, esf init asks for whatever no option gives.
    """
    defaults = _template_defaults()
    if project_name is None:
        project_name = defaults["project_name"]
        if not no_input:
            project_name = _ask("Project name (free text)", project_name)
    if package_name is None and not no_input:
        package_name = _ask(
            "Python package name (letters, digits, underscores)", _package_for(project_name)
        )
    if aggregate_name is None:
        aggregate_name = defaults["aggregate_name"]
        if not no_input:
            aggregate_name = _ask("First aggregate's class name", aggregate_name)
    if store is None:
        store = defaults["store"]
        if not no_input:
            store = _ask("Event store", store, STORES)
    project = render(
        directory,
        project_name=project_name,
        package_name=package_name,
        aggregate_name=aggregate_name,
        store=store,
    )
    click.echo(f"Created {project}")
    click.echo("Next: set it up and run its tests:")
    click.echo(
        f"  cd {project} && python3 -m venv .venv && .venv/bin/pip install -e '.[dev]' "
        "&& .venv/bin/python -m pytest"
    )


@click.command()
@click.option(
    "--url",
    default="sqlite:///esf-demo.db",
    show_default=True,
    help="The store to run on: sqlite:///file.db, sqlite://, postgresql://user@host/db.",
)
def demo(url: str) -> None:
    """Run the bank-account demo on a real store.

    Opens accounts, deposits, transfers, gets refused, looks back in time and
    verifies the audit chain.
    """
    from esframework.demo import run

    run(url, click.echo)
