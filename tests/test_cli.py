"""The esf command: the demo runs (and runs again) on a store; errors are one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ESF = str(Path(sys.executable).with_name("esf"))


def _esf(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ESF, *args], cwd=cwd, capture_output=True, text=True, check=False)


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
    ("url", "expected"),
    [
        ("nope://x", "no store serves the scheme 'nope'"),
        ("postgresql://u:hunter2@127.0.0.1:1/x", "u:***@127.0.0.1:1/x"),
        ("sqlite:///missing/dir/x.db", "cannot use SQLite database"),
    ],
)
def test_errors_are_one_line_without_traceback(tmp_path: Path, url: str, expected: str) -> None:
    """A bad or unreachable store: one line on stderr, non-zero exit, no password."""
    done = _esf("demo", "--url", url, cwd=tmp_path)
    assert done.returncode != 0
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("Error: ")
    assert expected in done.stderr
    assert "Traceback" not in done.stderr
    assert "hunter2" not in done.stderr


def test_version_and_help(tmp_path: Path) -> None:
    """esf --version names the version; esf --help lists the demo."""
    assert "esf, version" in _esf("--version", cwd=tmp_path).stdout
    assert "demo" in _esf("--help", cwd=tmp_path).stdout
