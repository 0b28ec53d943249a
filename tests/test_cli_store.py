"""esf store info and migrate, esf events tail, and esf init."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from decimal import Decimal
from pathlib import Path
from uuid import uuid4

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

import esframework as esf
from esframework.adapters.sql_schema import SCHEMA_VERSION
from esframework.cli import ExitCode, main
from esframework.cli.records import poll
from esframework.demo import Account, Deposit, MoneyDeposited

ESF = str(Path(sys.executable).with_name("esf"))


def esf_cli(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input)


def _engine(url: str) -> sa.Engine:
    """A plain engine on the store's database, its schema first on the search path."""
    parsed = sa.make_url(url)
    schema = parsed.query.get("schema")
    if schema is None:
        return sa.create_engine(parsed)
    return sa.create_engine(
        parsed.set(drivername="postgresql+psycopg", query={"options": f"-csearch_path={schema}"})
    )


def _make_v1(url: str) -> None:
    """Turn the store into what schema version 1 looked like (as test_sql_schema does)."""
    engine = _engine(url)
    try:
        with engine.begin() as conn:
            later = ("snapshots", "esf_conflicts", "esf_store", "esf_projections", "esf_views")
            for table in later:
                conn.exec_driver_sql(f"DROP TABLE {table}")
            conn.exec_driver_sql("DELETE FROM esf_schema_version")
            conn.execute(
                sa.text(
                    "INSERT INTO esf_schema_version (version, applied_at, esframework) "
                    "VALUES (1, :at, '0.0.1')"
                ),
                {"at": "2025-01-01T00:00:00.000000+00:00"},
            )
    finally:
        engine.dispose()


def _versions(url: str) -> list[int]:
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            query = "SELECT version FROM esf_schema_version ORDER BY version"
            return list(conn.exec_driver_sql(query).scalars())
    finally:
        engine.dispose()


# -- store info -----------------------------------------------------------------------


def test_store_info_tells_what_the_store_holds(bank) -> None:
    """Kind, where, schema version, store id and counts, as text and as JSON."""
    result = esf_cli("store", "info", bank.url)
    assert result.exit_code == 0, result.output
    assert f"schema version: {SCHEMA_VERSION} (current)" in result.stdout
    assert "events:         5" in result.stdout
    facts = json.loads(esf_cli("store", "info", bank.url, "--json").stdout)
    assert facts["kind"] in ("SQLite", "PostgreSQL")
    assert (facts["events"], facts["streams"], facts["last_position"]) == (5, 2, 5)
    assert facts["schema_version"] == facts["library_schema_version"] == SCHEMA_VERSION
    with esf.connect(bank.url) as store:
        assert facts["store_id"] == store.store_id


def test_store_info_hides_the_password(postgres_url: str) -> None:
    """A password in the URL is never printed, however the store is described."""
    url = sa.make_url(postgres_url).set(password="hunter2")  # noqa: S106 - a made-up one
    result = esf_cli("store", "info", url.render_as_string(hide_password=False))
    assert "hunter2" not in result.output
    assert "postgres:***@" in result.output


# -- store migrate --------------------------------------------------------------------


def test_migrate_check_then_migrate_an_older_schema(bank) -> None:
    """--check reports the needed step (exit 1, nothing changed); migrate does it."""
    _make_v1(bank.url)
    info = esf_cli("store", "info", bank.url)
    assert info.exit_code == 0
    assert "schema version: 1 (this esframework uses" in info.stdout
    refused = esf_cli("verify", bank.url)
    assert refused.exit_code == ExitCode.UNAVAILABLE
    assert "has schema version 1" in refused.stderr
    assert "esf store migrate" in refused.stderr
    check = esf_cli("store", "migrate", "--check", bank.url)
    assert check.exit_code == ExitCode.PROBLEMS
    assert f"schema version 1 needs migrating to {SCHEMA_VERSION}" in check.stdout
    assert _versions(bank.url) == [1]
    done = esf_cli("store", "migrate", bank.url)
    assert done.exit_code == 0, done.output
    assert f"migrated from schema version 1 to {SCHEMA_VERSION}" in done.stdout
    assert _versions(bank.url) == list(range(1, SCHEMA_VERSION + 1))
    again = esf_cli("store", "migrate", "--check", bank.url)
    assert again.exit_code == 0
    assert "is current; nothing to do" in again.stdout
    assert esf_cli("verify", bank.url).exit_code == 0


def test_migrate_creates_a_store_where_there_is_none(sql_url: str) -> None:
    """migrate on an empty database creates the current schema; --check only says so."""
    check = esf_cli("store", "migrate", "--check", sql_url)
    assert check.exit_code == ExitCode.PROBLEMS
    assert "no event store yet" in check.stdout
    created = esf_cli("store", "migrate", sql_url)
    assert created.exit_code == 0, created.output
    assert f"created the event store at schema version {SCHEMA_VERSION}" in created.stdout
    assert esf_cli("verify", sql_url).exit_code == 0


def test_migrate_refuses_a_memory_store() -> None:
    """A memory store has no schema to migrate: bad input, exit 2."""
    result = esf_cli("store", "migrate", "memory://")
    assert result.exit_code == ExitCode.USAGE
    assert "memory stores keep no schema" in result.stderr


# -- events tail ----------------------------------------------------------------------


def test_tail_prints_the_log_in_position_order(bank) -> None:
    """One line per event, by position; --after and --type select; --json parses."""
    result = esf_cli("events", "tail", bank.url)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [int(line.split()[0]) for line in lines] == [1, 2, 3, 4, 5]
    assert f"esf.demo.MoneyDeposited stream={bank.ann} version=2 user=clerk-7" in lines[2]
    assert lines[2].endswith('data={"amount": "100.00"}')
    after = esf_cli("events", "tail", bank.url, "--after", "3", "--json")
    assert [json.loads(line)["position"] for line in after.stdout.splitlines()] == [4, 5]
    typed = esf_cli("events", "tail", bank.url, "--type", "esf.demo.AccountOpened")
    assert [int(line.split()[0]) for line in typed.stdout.splitlines()] == [1, 2]


def test_poll_waits_only_when_nothing_is_new() -> None:
    """poll yields what is there, sleeps while nothing is new, then yields the newcomers."""
    with esf.connect("memory://") as store:
        sid = uuid4()
        store.append(sid, [MoneyDeposited(Decimal(1))])
        naps: list[float] = []

        def sleep(seconds: float) -> None:
            naps.append(seconds)
            store.append(sid, [MoneyDeposited(Decimal(len(naps) + 1))])

        seen = poll(store, after=0, types=None, interval=0.5, sleep=sleep)
        assert [next(seen).position for _ in range(3)] == [1, 2, 3]
        assert naps == [0.5, 0.5]


@pytest.mark.parametrize("sql_url", ["sqlite"], indirect=True)
def test_tail_follow_prints_new_events_until_ctrl_c(bank, tmp_path: Path) -> None:
    """esf events tail --follow prints the log, then each new event; Ctrl-C ends it with 0."""
    follow = subprocess.Popen(
        [ESF, "events", "tail", bank.url, "--follow", "--interval", "0.05", "--after", "4"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(120, follow.kill)  # a hung test fails instead of hanging CI
    watchdog.start()
    try:
        assert follow.stdout is not None
        assert follow.stdout.readline().split()[0] == "5"
        with esf.Application(esf.connect(bank.url), aggregates=[Account]) as app:
            app.handle(Deposit(bank.bob, Decimal("1.00")), user_id="clerk-9")
        new = follow.stdout.readline()
        assert new.split()[0] == "6"
        assert "user=clerk-9" in new
        follow.send_signal(signal.SIGINT)
        _, err = follow.communicate()
    finally:
        watchdog.cancel()
        follow.kill()
        follow.wait()
    assert follow.returncode == 0, err
    assert err == ""


# -- init -----------------------------------------------------------------------------


def test_init_renders_a_project_from_options(tmp_path: Path) -> None:
    """esf init with every answer as an option makes the project and says what next."""
    result = esf_cli(
        "init", str(tmp_path), "--project-name", "Bank Ledger", "--aggregate", "Ledger",
        "--store", "postgres", "--no-input",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    project = tmp_path / "bank-ledger"
    assert f"Created {project}" in result.stdout
    domain = (project / "src" / "bank_ledger" / "domain.py").read_text()
    assert "class Ledger(esf.Aggregate)" in domain
    assert "postgresql://" in (project / "src" / "bank_ledger" / "app.py").read_text()


def test_init_asks_for_what_no_option_gives(tmp_path: Path) -> None:
    """Without --no-input esf init prompts, offering the template's defaults."""
    answers = "Tea Shop\n\nOrder\nsqlite\n"
    result = esf_cli("init", str(tmp_path), input=answers)
    assert result.exit_code == 0, result.output
    assert "Python package name (letters, digits, underscores) [tea_shop]" in result.stdout
    assert (tmp_path / "tea-shop" / "src" / "tea_shop" / "domain.py").exists()


def test_init_stops_when_input_ends_early(tmp_path: Path) -> None:
    """Piped answers that run out are bad input (exit 2) naming the options, nothing made."""
    result = esf_cli("init", str(tmp_path), input="Tea Shop\n")
    assert result.exit_code == ExitCode.USAGE
    assert "standard input ended before every answer was given" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_init_refuses_bad_answers_in_one_line(tmp_path: Path) -> None:
    """A package name that cannot be imported: one line naming it, exit 2, nothing made."""
    result = esf_cli("init", str(tmp_path), "--package-name", "2fast", "--no-input")
    assert result.exit_code == ExitCode.USAGE
    assert result.stderr.count("\n") == 1
    assert "package_name '2fast' is not a Python package name" in result.stderr
    assert list(tmp_path.iterdir()) == []
    bad_store = esf_cli("init", str(tmp_path), "--store", "oracle", "--no-input")
    assert bad_store.exit_code == ExitCode.USAGE
