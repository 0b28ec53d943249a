"""The esf command as a whole: help everywhere, the demo, errors as one line with an
exit status that says what went wrong, and the installed console script."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import click
import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from esframework.adapters.sql_schema import SCHEMA_VERSION
from esframework.cli import ExitCode, main

ESF = str(Path(sys.executable).with_name("esf"))


def _esf(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ESF, *args], cwd=cwd, capture_output=True, text=True, check=False)


def esf(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def _commands(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [path]
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            found += _commands(cmd, (*path, name))
        else:
            found.append((*path, name))
    return found


COMMANDS = _commands(main)


def test_every_command_is_listed() -> None:
    """The commands issue 5 and 7 ask for are all there (so the help test sees them)."""
    assert {" ".join(c) for c in COMMANDS} >= {
        "init",
        "demo",
        "verify",
        "seal",
        "export",
        "history",
        "events tail",
        "store info",
        "store migrate",
    }


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c) or "esf" for c in COMMANDS])
def test_every_command_has_help(command: tuple[str, ...]) -> None:
    """--help works on the group and on every command, and says what it does."""
    result = esf(*command, "--help")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Usage: {' '.join(('main', *command))}")
    assert len(result.stdout.splitlines()) > 3


def test_help_groups_the_commands_by_job() -> None:
    """esf --help lists the commands under sections named for their job."""
    out = esf("--help").stdout
    assert out.index("Projects:") < out.index("init") < out.index("Audit:")
    assert out.index("Audit:") < out.index("verify") < out.index("Stores and events:")


def test_demo_runs_and_runs_again_on_an_sqlite_file(tmp_path: Path) -> None:
    """esf demo --url sqlite:///x.db tells the story and verifies the chain, twice."""
    url = f"sqlite:///{tmp_path / 'x.db'}"
    first = _esf("demo", "--url", url, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    out = first.stdout
    assert "Transferred 30.00 from Ann to Bob in one unit of work" in out
    assert "Refused: Bob cannot withdraw 500.00: the balance is 30.00" in out
    assert "Ann's balance is 70.00 at version 3; at version 2 it was 100.00" in out
    assert out.count(" chained to ") == 5
    assert "user_id=clerk-7" in out
    assert "5 events in 2 streams, hash chains intact" in out
    second = _esf("demo", "--url", url, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "10 events in 4 streams, hash chains intact" in second.stdout
    assert first.stderr == second.stderr == ""


def test_demo_defaults_to_a_file_in_the_current_directory(tmp_path: Path) -> None:
    """Without --url the demo writes esf-demo.db where it runs."""
    done = _esf("demo", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "esf-demo.db").exists()


@pytest.mark.parametrize(
    ("url", "expected", "status"),
    [
        ("nope://x", "no store serves the scheme 'nope'", ExitCode.USAGE),
        ("bank.db", "is not a store URL", ExitCode.USAGE),
        ("postgresql://u:hunter2@127.0.0.1:1/x", "u:***@127.0.0.1:1/x", ExitCode.UNAVAILABLE),
        ("sqlite:///missing/dir/x.db", "cannot use SQLite database", ExitCode.UNAVAILABLE),
    ],
)
def test_demo_errors_are_one_line_without_traceback(
    tmp_path: Path, url: str, expected: str, status: ExitCode
) -> None:
    """A bad or unreachable store: one line on stderr, its exit status, no password."""
    done = _esf("demo", "--url", url, cwd=tmp_path)
    assert done.returncode == status
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("Error: ")
    assert expected in done.stderr
    assert "Traceback" not in done.stderr
    assert "hunter2" not in done.stderr


@pytest.mark.parametrize(
    "command",
    [
        ("verify",),
        ("seal",),
        ("export",),
        ("history", "--at-version", "1", "URL", "00000000-0000-0000-0000-000000000001"),
        ("events", "tail"),
        ("store", "info"),
        ("store", "migrate", "--check"),
    ],
    ids=lambda c: " ".join(c[:2]),
)
@pytest.mark.parametrize(
    ("url", "expected", "status"),
    [
        ("nope://x", "no store serves the scheme 'nope'", ExitCode.USAGE),
        ("postgresql://u:hunter2@127.0.0.1:1/x", "u:***@127.0.0.1:1/x", ExitCode.UNAVAILABLE),
    ],
    ids=["bad-url", "unreachable"],
)
def test_every_command_reports_a_bad_store_in_one_line(
    command: tuple[str, ...], url: str, expected: str, status: ExitCode
) -> None:
    """Each command that takes a URL says what is wrong with it in one line, no password."""
    args = [url if a == "URL" else a for a in command]
    if "URL" not in command:
        args.append(url)
    result = esf(*args)
    assert result.exit_code == status, result.output
    assert result.stderr.startswith("Error: ")
    assert result.stderr.count("\n") == 1
    assert expected in result.stderr
    assert "hunter2" not in result.output


def test_debug_adds_the_traceback(tmp_path: Path) -> None:
    """esf --debug shows where an error came from, and keeps its exit status."""
    plain = _esf("verify", "nope://x", cwd=tmp_path)
    debug = _esf("--debug", "verify", "nope://x", cwd=tmp_path)
    assert plain.returncode == debug.returncode == ExitCode.USAGE
    assert "Traceback" not in plain.stderr
    assert "Traceback" in debug.stderr
    assert debug.stderr.rstrip().endswith(plain.stderr.rstrip())


def test_a_missing_sqlite_file_is_reported_and_not_created(tmp_path: Path) -> None:
    """Reading commands never create a store: a mistyped path is an error, not a new file."""
    path = tmp_path / "typo.db"
    for args in (["verify"], ["store", "info"], ["events", "tail"], ["export"]):
        result = esf(*args, f"sqlite:///{path}")
        assert result.exit_code == ExitCode.UNAVAILABLE, result.output
        assert "there is no SQLite database" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_empty_database_holds_no_store(sql_url: str) -> None:
    """A database (or schema) without an esframework store is reported, and left empty."""
    if sql_url.startswith("sqlite"):
        sqlite3_path = Path(sa.make_url(sql_url).database or "")
        sqlite3_path.touch()
    result = esf("verify", sql_url)
    assert result.exit_code == ExitCode.UNAVAILABLE, result.output
    assert "there is no event store at" in result.stderr
    assert esf("store", "migrate", "--check", sql_url).exit_code == ExitCode.PROBLEMS


def test_a_newer_schema_is_refused_by_every_command(bank) -> None:
    """A store written by a newer esframework: one line naming the upgrade, exit 3."""
    engine = sa.create_engine(_plain(bank.url))
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO esf_schema_version (version, applied_at, esframework) "
                    "SELECT :v, applied_at, '99.0' FROM esf_schema_version"
                ),
                {"v": SCHEMA_VERSION + 1},
            )
    finally:
        engine.dispose()
    for args in (["verify"], ["seal"], ["store", "info"], ["store", "migrate"]):
        result = esf(*args, bank.url)
        assert result.exit_code == ExitCode.UNAVAILABLE, result.output
        assert f"schema version {SCHEMA_VERSION + 1}" in result.stderr
        assert "upgrade esframework" in result.stderr
        assert result.stderr.count("\n") == 1


def _plain(url: str) -> sa.URL:
    """A SQLAlchemy URL for the store's database, its schema first on the search path."""
    parsed = sa.make_url(url)
    schema = parsed.query.get("schema")
    if schema is None:
        return parsed
    return parsed.set(
        drivername="postgresql+psycopg", query={"options": f"-csearch_path={schema}"}
    )


def test_closed_output_ends_quietly(bank, tmp_path: Path) -> None:
    """esf events tail URL | head: the command stops with 141 and no error message."""
    tail = subprocess.Popen(
        [ESF, "events", "tail", bank.url],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert tail.stdout is not None
    assert tail.stderr is not None
    tail.stdout.close()  # the reader went away before reading anything
    err = tail.stderr.read()
    tail.stderr.close()
    assert tail.wait() == ExitCode.OUTPUT_CLOSED
    assert err == b""


def test_progress_bar_on_a_terminal_and_plain_output_when_piped(bank, tmp_path: Path) -> None:
    """A terminal on stderr gets a progress bar; stdout, piped, stays plain text."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [ESF, "verify", bank.url], cwd=tmp_path, stdout=subprocess.PIPE, stderr=slave
    )
    os.close(slave)
    shown = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        shown += chunk
    os.close(master)
    out, _ = proc.communicate()
    assert proc.returncode == 0
    assert b"Verifying" in shown
    assert b"5/5" in shown
    assert out.decode().startswith("Verified ")
    assert b"\r" not in out
    assert b"Verifying" not in out
    piped = _esf("verify", bank.url, cwd=tmp_path)
    assert piped.returncode == 0
    assert piped.stderr == ""


def test_the_docs_describe_every_command_and_exit_status() -> None:
    """docs/cli.md has a section for each command and a row for each exit status."""
    text = (Path(__file__).resolve().parent.parent / "docs" / "cli.md").read_text()
    for command in COMMANDS:
        found: click.Command = main
        for name in command:
            assert isinstance(found, click.Group)
            found = found.commands[name]
        if command and not isinstance(found, click.Group):
            assert f"\n## esf {' '.join(command)}\n" in text
    for code in ExitCode:
        assert f"\n| {int(code)} | " in text


def test_version() -> None:
    """esf --version names the version."""
    assert "esf, version" in esf("--version").stdout
