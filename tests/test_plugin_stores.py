"""The pytest plugin runs users' tests on any store: --esf-store and esf_store_url."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

USER_TEST = '''
import uuid
from esframework.testing.contract import Noted

def test_store_is_fresh(event_store, fake_clock):
    """The fixture's store is empty, on the fake clock, of the kind asked for."""
    assert list(event_store.read_all()) == []
    (rec,) = event_store.append(uuid.uuid4(), [Noted("x")], expected_version=0)
    assert rec.recorded_at == fake_clock.now()
    print("STORE", type(event_store).__name__)
'''


def _run(tmp_path: Path, *args: str, conftest: str = "") -> str:
    (tmp_path / "test_user.py").write_text(USER_TEST)
    (tmp_path / "conftest.py").write_text(conftest)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_memory_is_the_default(tmp_path: Path) -> None:
    """Without options, event_store is a memory store."""
    assert "STORE MemoryStore" in _run(tmp_path)


def test_option_selects_sqlite(tmp_path: Path) -> None:
    """--esf-store=sqlite gives each test a new SQLite file."""
    assert "STORE SqliteStore" in _run(tmp_path, "--esf-store=sqlite")


@pytest.mark.postgres
def test_option_takes_a_postgres_url(tmp_path: Path, postgres_url: str) -> None:
    """--esf-store=postgresql://... gives each test a schema of its own."""
    assert "STORE PostgresStore" in _run(tmp_path, f"--esf-store={postgres_url}")


def test_url_fixture_can_be_overridden(tmp_path: Path) -> None:
    """A conftest.py may override esf_store_url, e.g. to parametrize over stores."""
    conftest = (
        "import pytest\n\n"
        "@pytest.fixture(params=['memory://', 'sqlite://'])\n"
        "def esf_store_url(request):\n"
        "    return request.param\n"
    )
    out = _run(tmp_path, conftest=conftest)
    assert "STORE MemoryStore" in out
    assert "STORE SqliteStore" in out
    assert "2 passed" in out
