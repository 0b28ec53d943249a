"""esf projections status|run|rebuild on a real SQLite file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import esframework as esf
from esframework.cli import main

PROJECT = """
from uuid import UUID
import esframework as esf

@esf.event(name="clip.Counted")
class Counted:
    n: int

@esf.view(key="stream", indexes=("total",))
class Total:
    stream: UUID
    total: int

@esf.projection(name="totals", views=[Total])
class Totals:
    @esf.on
    def counted(self, event: Counted, ctx: esf.ProjectionContext) -> None:
        view = ctx.view(Total)
        found = view.get(ctx.stream_id)
        view.put(Total(ctx.stream_id, (found.total if found else 0) + event.n))
        if event.n < 0:
            raise ValueError("negative counts are refused")
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A user's projection module in the current directory, and a store with events."""
    (tmp_path / "clip_project.py").write_text(textwrap.dedent(PROJECT))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    import clip_project

    url = f"sqlite:///{tmp_path / 'events.db'}"
    with esf.connect(url) as store:
        for n in (1, 2, 3):
            store.append(esf_uuid(n), [clip_project.Counted(n=n), clip_project.Counted(n=10)])
    return url


def esf_uuid(n: int):
    from uuid import UUID

    return UUID(int=n)


def test_status_shows_how_far_behind(project: str) -> None:
    """status lists each projection with its position and lag, exit 0 when none failed."""
    result = CliRunner().invoke(main, ["projections", "status", project, "clip_project:Totals"])
    assert result.exit_code == 0, result.output
    assert "totals: behind" in result.output
    assert "at 0 of 6 (6 events" in result.output


def test_rebuild_brings_the_views_up_to_date(project: str) -> None:
    """rebuild runs the projection from the start and reports it caught up."""
    result = CliRunner().invoke(main, ["projections", "rebuild", project, "clip_project:Totals"])
    assert result.exit_code == 0, result.output
    assert "totals: caught_up" in result.output
    import clip_project

    with esf.connect(project) as store:
        app = esf.Application(store, projections=[clip_project.Totals])
        assert app.view(clip_project.Total).get(esf_uuid(2)).total == 12


def test_a_failed_projection_makes_status_exit_1(project: str) -> None:
    """A handler that raises stops the projection; status says where and exits 1."""
    import clip_project

    with esf.connect(project) as store:
        store.append(esf_uuid(9), [clip_project.Counted(n=-1)])
        app = esf.Application(store, projections=[clip_project.Totals])
        app.projections.catch_up()
    result = CliRunner().invoke(main, ["projections", "status", project, "clip_project:Totals"])
    assert result.exit_code == 1
    assert "stopped at position 7" in result.output
    assert "negative counts are refused" in result.output


def test_an_unknown_projection_is_one_line_and_exit_2(project: str) -> None:
    """A projection that cannot be imported is a usage error, not a traceback."""
    result = CliRunner().invoke(main, ["projections", "status", project, "nowhere:Nothing"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "nowhere:Nothing" in result.output


def test_run_keeps_views_up_to_date_until_stopped(project: str, tmp_path: Path) -> None:
    """esf projections run, as its own process, catches up and stops cleanly on SIGTERM."""
    esf_script = Path(sys.executable).with_name("esf")
    proc = subprocess.Popen(
        [
            str(esf_script),
            "projections",
            "run",
            project,
            "clip_project:Totals",
            "--poll-interval",
            "0.2",
        ],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    import clip_project

    try:
        deadline = time.monotonic() + 30
        total = None
        while time.monotonic() < deadline:
            with esf.connect(project) as store:
                app = esf.Application(store, projections=[clip_project.Totals])
                found = app.view(clip_project.Total).get(esf_uuid(3))
                total = found.total if found else None
            if total == 13:
                break
            time.sleep(0.2)
        assert total == 13
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
    assert proc.returncode == 0
