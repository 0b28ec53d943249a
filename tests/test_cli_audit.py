"""esf verify, seal, export and history: the audit trail from the command line."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

import esframework as esf
from esframework.cli import ExitCode, main
from esframework.export import CSV_COLUMNS

ESF = str(Path(sys.executable).with_name("esf"))

APP_MODULE = """
import esframework as esf
from esframework.demo import Account

def make_app(url=None):
    return esf.Application(esf.connect(url or "memory://"), aggregates=[Account])

app = esf.Application(esf.connect("memory://"), aggregates=[Account])
empty = esf.Application(esf.connect("memory://"))
not_an_app = 42
"""


def esf_cli(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env)


@pytest.fixture
def in_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project directory holding bankapp.py (the demo's aggregate), as the cwd."""
    (tmp_path / "bankapp.py").write_text(APP_MODULE, encoding="utf-8")
    (tmp_path / "broken.py").write_text("raise RuntimeError('no config')\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    for name in ("bankapp", "broken", "otherapp"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    return tmp_path


def _sqlite_path(url: str) -> str:
    return sa.make_url(url).database or ""


def _tamper(url: str, sql: str) -> None:
    """Run SQL on an SQLite store after dropping the triggers that guard its events."""
    db = sqlite3.connect(_sqlite_path(url))
    try:
        db.execute("DROP TRIGGER events_refuse_update")
        db.execute("DROP TRIGGER events_refuse_delete")
        db.execute(sql)
        db.commit()
    finally:
        db.close()


# -- verify ---------------------------------------------------------------------------


def test_verify_passes_on_a_clean_store(bank) -> None:
    """A store as written verifies: counts, last position, OK, exit 0."""
    result = esf_cli("verify", bank.url)
    assert result.exit_code == ExitCode.OK, result.output
    assert "5 events in 2 streams, last position 5" in result.stdout
    assert "OK: no problems found" in result.stdout
    assert result.stderr == ""


@pytest.mark.parametrize("sql_url", ["sqlite"], indirect=True)
def test_verify_finds_an_edited_payload_in_a_real_file(bank, tmp_path: Path) -> None:
    """Editing a stored payload on disk is reported (kind, stream, version, position), exit 1."""
    _tamper(bank.url, """UPDATE events SET data = '{"amount":"1000.00"}' WHERE position = 3""")
    done = subprocess.run(
        [ESF, "verify", bank.url], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert done.returncode == ExitCode.PROBLEMS, done.stderr
    assert "FAILED: 1 problem(s)" in done.stdout
    assert f"edited: stream {bank.ann}, version 2, position 3:" in done.stdout
    assert done.stderr == ""


@pytest.mark.parametrize("sql_url", ["sqlite"], indirect=True)
def test_truncation_passes_plain_verify_but_not_the_seal(bank, tmp_path: Path) -> None:
    """Deleting the newest event leaves valid chains; only verify --seal catches it."""
    seal_file = tmp_path / "before.seal.json"
    assert esf_cli("seal", bank.url, "--out", str(seal_file)).exit_code == 0
    _tamper(bank.url, "DELETE FROM events WHERE position = 5")
    assert esf_cli("verify", bank.url).exit_code == ExitCode.OK
    result = esf_cli("verify", bank.url, "--seal", str(seal_file))
    assert result.exit_code == ExitCode.PROBLEMS
    assert "truncated: store: the store ends at position 4, the seal at 5" in result.stdout
    assert "against the seal of" in result.stdout


def test_signed_seal_needs_the_right_key(bank, tmp_path: Path) -> None:
    """A seal signed with a key verifies with it, and fails with another key or none."""
    seal_file = tmp_path / "signed.seal.json"
    signed = esf_cli(
        "seal", bank.url, "--out", str(seal_file), "--hmac-key-env", "SEAL_KEY",
        env={"SEAL_KEY": "kept-in-a-vault"},
    )  # fmt: skip
    assert signed.exit_code == 0, signed.output
    assert "Wrote a signed seal of 5 events in 2 streams" in signed.stderr
    assert json.loads(seal_file.read_text())["hmac"]

    def check(key: str | None) -> Result:
        options = ["--hmac-key-env", "SEAL_KEY"] if key is not None else []
        return esf_cli(
            "verify", bank.url, "--seal", str(seal_file), *options, env={"SEAL_KEY": key or ""}
        )

    assert check("kept-in-a-vault").exit_code == ExitCode.OK
    wrong = check("guessed")
    assert wrong.exit_code == ExitCode.PROBLEMS
    assert "the seal's HMAC does not match" in wrong.stdout
    unkeyed = check(None)
    assert unkeyed.exit_code == ExitCode.PROBLEMS
    assert "the seal is signed: give its HMAC key" in unkeyed.stdout


def test_the_key_comes_only_from_a_set_variable(bank, tmp_path: Path) -> None:
    """--hmac-key-env naming an unset variable is bad input, exit 2, before any work."""
    result = esf_cli("seal", bank.url, "--hmac-key-env", "NO_SUCH_VAR_FOR_ESF")
    assert result.exit_code == ExitCode.USAGE
    assert "NO_SUCH_VAR_FOR_ESF (--hmac-key-env) is not set" in result.stderr
    alone = esf_cli("verify", bank.url, "--hmac-key-env", "NO_SUCH_VAR_FOR_ESF")
    assert alone.exit_code == ExitCode.USAGE
    assert "give --seal FILE too" in alone.stderr


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"not json at all", "a seal is JSON"),
        (b'{"format": "something-else"}', "not an esframework seal"),
        (b"\xff\xfe\x00binary", "not even text"),
    ],
    ids=["not-json", "not-a-seal", "binary"],
)
def test_a_malformed_seal_file_is_one_line(bank, tmp_path: Path, content: bytes, expected: str):
    """A seal file that is no seal: one line saying so, exit 2, nothing verified."""
    seal_file = tmp_path / "bad.seal.json"
    seal_file.write_bytes(content)
    result = esf_cli("verify", bank.url, "--seal", str(seal_file))
    assert result.exit_code == ExitCode.USAGE
    assert result.stderr.count("\n") == 1
    assert expected in result.stderr
    assert result.stdout == ""


def test_seal_prints_json_and_never_overwrites_a_file(bank, tmp_path: Path) -> None:
    """Without --out the seal goes to stdout as JSON; --out refuses an existing file."""
    result = esf_cli("seal", bank.url)
    assert result.exit_code == 0
    sealed = esf.Seal.from_json(result.stdout)
    assert (sealed.position, sealed.events, sealed.streams) == (5, 5, 2)
    taken = tmp_path / "taken.json"
    taken.write_text("keep me")
    again = esf_cli("seal", bank.url, "--out", str(taken))
    assert again.exit_code == ExitCode.USAGE
    assert "never overwrites" in again.stderr
    assert taken.read_text() == "keep me"


def test_verify_checks_chosen_streams_and_prints_json(bank, tmp_path: Path) -> None:
    """--stream limits the walk (and rules out a seal); --json prints one object."""
    result = esf_cli("verify", bank.url, "--stream", str(bank.bob), "--json")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert (report["events"], report["streams"], report["problems"]) == (2, 1, [])
    seal_file = tmp_path / "s.json"
    seal_file.write_text(esf_cli("seal", bank.url).stdout)
    both = esf_cli("verify", bank.url, "--stream", str(bank.bob), "--seal", str(seal_file))
    assert both.exit_code == ExitCode.USAGE
    assert "a seal covers the whole store" in both.stderr


@pytest.mark.parametrize("sql_url", ["sqlite"], indirect=True)
def test_verify_json_names_each_problem(bank) -> None:
    """Each problem in --json has its kind, stream, version, position and detail."""
    _tamper(
        bank.url, """UPDATE events SET metadata = '{"user_id":"mallory"}' WHERE position = 2"""
    )
    result = esf_cli("verify", bank.url, "--json")
    assert result.exit_code == ExitCode.PROBLEMS
    (problem,) = json.loads(result.stdout)["problems"]
    assert problem == {
        "kind": "edited",
        "stream_id": str(bank.bob),
        "version": 1,
        "position": 2,
        "detail": problem["detail"],
    }


def test_verify_checks_event_types_only_with_the_app(bank, in_project: Path) -> None:
    """Without --app event types are not judged; with an app that lacks them, they are."""
    assert "event types not checked" in esf_cli("verify", bank.url).stdout
    knows = esf_cli("verify", bank.url, "--app", "bankapp:app")
    assert knows.exit_code == ExitCode.OK, knows.output
    assert "not checked" not in knows.stdout
    # A registry without the demo's classes: every stored type is unknown to it.
    (in_project / "otherapp.py").write_text(
        "import esframework as esf\n"
        "app = esf.Application(esf.connect('memory://', codec=esf.EventCodec(esf.Registry())))\n",
        encoding="utf-8",
    )
    blind = esf_cli("verify", bank.url, "--app", "otherapp:app")
    assert blind.exit_code == ExitCode.PROBLEMS, blind.output
    assert "unknown_type:" in blind.stdout


# -- --app ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("bankapp", "is not module:attribute"),
        ("nosuchmodule_for_esf:app", "cannot import 'nosuchmodule_for_esf'"),
        ("bankapp:nothing", "has no attribute 'nothing'"),
        ("bankapp:not_an_app", "is a int, not an esf.Application"),
        ("broken:app", "RuntimeError: no config"),
    ],
)
def test_a_bad_app_is_one_line_saying_what_to_do(
    bank, in_project: Path, spec: str, expected: str
) -> None:
    """An --app that cannot give an application: one line on stderr, exit 2."""
    result = esf_cli("history", bank.url, str(bank.ann), "--app", spec)
    assert result.exit_code == ExitCode.USAGE, result.output
    assert result.stderr.startswith("Error: ")
    assert result.stderr.count("\n") == 1
    assert expected in result.stderr
    assert "Traceback" not in result.output


def test_an_unimportable_app_in_a_subprocess(bank, tmp_path: Path) -> None:
    """The installed esf says what to do about --app, in one line, exit 2."""
    done = subprocess.run(
        [ESF, "verify", bank.url, "--app", "nosuchmodule_for_esf:app"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == ExitCode.USAGE
    assert done.stderr.count("\n") == 1
    assert "run esf from your project's directory" in done.stderr


# -- export ---------------------------------------------------------------------------


def test_export_jsonl_has_every_event_and_field(bank) -> None:
    """JSON lines: one object per event in position order, with payload and metadata."""
    result = esf_cli("export", bank.url, "--format", "jsonl")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["position"] for r in rows] == [1, 2, 3, 4, 5]
    assert rows[2]["data"] == {"amount": "100.00"}
    assert rows[2]["stream_id"] == str(bank.ann)
    assert {r["metadata"]["user_id"] for r in rows} == {"clerk-7"}
    assert all(len(r["hash"]) == 64 for r in rows)


def test_export_csv_to_a_file(bank, tmp_path: Path) -> None:
    """CSV into --out: the standard columns, one row per event, a count on stderr."""
    out = tmp_path / "audit.csv"
    result = esf_cli("export", bank.url, "--format", "csv", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert result.stderr == f"Exported 5 events to {out}\n"
    assert result.stdout == ""
    with out.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == 6
    row = dict(zip(CSV_COLUMNS, rows[4], strict=True))
    assert (row["position"], row["user_id"]) == ("4", "clerk-7")
    assert json.loads(row["data"]) == {"amount": "30.00"}
    assert not (tmp_path / "audit.csv.partial").exists()


def test_export_filters_by_stream_type_and_time(bank) -> None:
    """--stream, --type, --since and --until select what is written."""

    def positions(*args: str) -> list[int]:
        result = esf_cli("export", bank.url, *args)
        assert result.exit_code == 0, result.output
        return [json.loads(line)["position"] for line in result.stdout.splitlines()]

    assert positions("--stream", str(bank.bob)) == [2, 5]
    assert positions("--type", "esf.demo.MoneyDeposited") == [3, 5]
    assert positions("--type", "esf.demo.AccountOpened", "--type", "esf.demo.MoneyWithdrawn") == [
        1,
        2,
        4,
    ]
    assert positions("--since", "2999-01-01") == []
    assert positions("--until", "2000-01-01T00:00:00+01:00") == []
    assert positions("--since", "2000-01-01T00:00:00Z") == [1, 2, 3, 4, 5]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2026-11-22T10:00:00", "has no time zone"), ("yesterday", "is not an ISO 8601 time")],
)
def test_export_refuses_times_without_a_zone(bank, value: str, expected: str) -> None:
    """A time that names no single instant is bad input, exit 2."""
    result = esf_cli("export", bank.url, "--since", value)
    assert result.exit_code == ExitCode.USAGE
    assert expected in result.stderr


# -- history --------------------------------------------------------------------------


def test_history_up_to_a_version(bank) -> None:
    """--at-version stops at that version; each event shows its envelope and payload."""
    result = esf_cli("history", bank.url, str(bank.ann), "--at-version", "2")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 4
    assert lines[0].startswith("#1 v1 ")
    assert lines[0].endswith(" esf.demo.AccountOpened user=clerk-7")
    assert lines[1] == '    payload {"owner": "Ann"}'
    assert lines[2].startswith("#3 v2 ")
    assert lines[3] == '    payload {"amount": "100.00"}'


def test_history_with_the_app_shows_state(bank, in_project: Path) -> None:
    """With --app (a factory taking the URL) each event comes with the state after it."""
    result = esf_cli("history", bank.url, str(bank.ann), "--app", "bankapp:make_app", "--json")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["state"]["balance"] for r in rows] == ["0", "100.00", "70.00"]
    assert rows[2]["state"]["owner"] == "Ann"
    text = esf_cli("history", bank.url, str(bank.ann), "--app", "bankapp:app", "--at-version", "2")
    assert text.stdout.splitlines()[-1] == '    state   {"balance": "100.00", "owner": "Ann"}'


def test_history_at_a_time(bank) -> None:
    """--at-time shows the events recorded up to then."""
    export = esf_cli("export", bank.url, "--stream", str(bank.ann)).stdout.splitlines()
    second = json.loads(export[1])["recorded_at"]
    result = esf_cli("history", bank.url, str(bank.ann), "--at-time", second, "--json")
    assert [json.loads(line)["version"] for line in result.stdout.splitlines()] == [1, 2]


def test_history_of_an_unknown_stream_or_version(bank, in_project: Path) -> None:
    """No such stream, version or aggregate: one line, exit 2."""
    missing = esf_cli("history", bank.url, "00000000-0000-0000-0000-000000000000")
    assert missing.exit_code == ExitCode.USAGE
    assert "has no events" in missing.stderr
    beyond = esf_cli("history", bank.url, str(bank.bob), "--at-version", "9")
    assert beyond.exit_code == ExitCode.USAGE
    assert "is at version 2" in beyond.stderr
    early = esf_cli("history", bank.url, str(bank.bob), "--at-time", "2000-01-01")
    assert early.exit_code == ExitCode.USAGE
    assert "had no events at" in early.stderr
    no_agg = esf_cli("history", bank.url, str(bank.bob), "--app", "bankapp:empty")
    assert no_agg.exit_code == ExitCode.USAGE
    assert "holds a 'BankAccount'" in no_agg.stderr
    not_uuid = esf_cli("history", bank.url, "ann")
    assert not_uuid.exit_code == ExitCode.USAGE
    assert "is not a stream id" in not_uuid.stderr


def test_history_json_lines_parse(bank) -> None:
    """--json writes one JSON object per line, in version order."""
    result = esf_cli("history", bank.url, str(bank.bob), "--json")
    rows = [json.loads(line) for line in io.StringIO(result.stdout)]
    assert [(r["version"], r["event_type"]) for r in rows] == [
        (1, "esf.demo.AccountOpened"),
        (2, "esf.demo.MoneyDeposited"),
    ]
