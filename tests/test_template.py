"""The project template: answers are checked, and the projects it makes install and pass.

The slow tests render two projects, install both into one fresh virtual environment
and run each project's own test suite there. That environment sees this one's
packages (this checkout of esframework, pytest, hatchling) through a ``.pth`` file, so
nothing is downloaded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path
from typing import Any

import pytest

import esframework as esf
from esframework.scaffold import render, template_dir

pytest.importorskip("cookiecutter", reason="the template tests need cookiecutter (dev extra)")

from cookiecutter.exceptions import FailedHookException
from cookiecutter.main import cookiecutter

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "cookiecutter-template"

# (answers, the answer a message must name); each is refused by render() and the hook.
BAD_ANSWERS = [
    ({"package_name": "my-ledger"}, "package_name 'my-ledger' is not a Python package name"),
    ({"package_name": "2fast"}, "package_name '2fast' is not a Python package name"),
    ({"package_name": "my ledger"}, "package_name 'my ledger' is not a Python package name"),
    ({"package_name": "class"}, "package_name 'class' is a Python keyword"),
    ({"package_name": "json"}, "package_name 'json' would shadow the module of that name"),
    ({"package_name": "esframework"}, "package_name 'esframework' would shadow"),
    ({"aggregate_name": "account"}, "aggregate_name 'account' is not a class name"),
    ({"aggregate_name": "Bank Account"}, "aggregate_name 'Bank Account' is not a class name"),
    ({"aggregate_name": "None"}, "aggregate_name 'None' is not a class name"),
    ({"aggregate_name": "UUID"}, "aggregate_name 'UUID' would shadow a name"),
    ({"project_name": 'The "Best" Ledger', "package_name": "best"}, "project_name"),
]


def _ids(cases: list[tuple[dict[str, str], str]]) -> list[str]:
    return ["-".join(f"{k}={v}" for k, v in answers.items()) for answers, _ in cases]


def _run_cookiecutter(output_dir: Path, **answers: str) -> Path:
    """The template rendered by cookiecutter itself, with no replay file in $HOME."""
    config = output_dir.parent / f"{output_dir.name}-cookiecutter.yaml"
    config.write_text(
        json.dumps(
            {
                "replay_dir": str(output_dir.parent / "replay"),
                "cookiecutters_dir": str(output_dir.parent / "cookiecutters"),
            }
        )
    )
    created = cookiecutter(
        str(TEMPLATE),
        no_input=True,
        extra_context={"project_name": "Test Ledger", **answers},
        output_dir=str(output_dir),
        config_file=str(config),
    )
    return Path(created)


# -- answers ---------------------------------------------------------------------------


def test_template_dir_is_the_source_tree_template_in_a_checkout():
    """From a source checkout, the template is cookiecutter-template/ itself."""
    assert template_dir() == TEMPLATE


def test_render_makes_the_promised_files(tmp_path):
    """render() makes a project with domain, app, tests, README, .gitignore and CI."""
    project = render(tmp_path, project_name="Bank Ledger")
    assert project == tmp_path / "bank-ledger"
    files = sorted(str(p.relative_to(project)) for p in project.rglob("*") if p.is_file())
    assert files == [
        ".ci/run",
        ".gitignore",
        "README.md",
        "pyproject.toml",
        "src/bank_ledger/__init__.py",
        "src/bank_ledger/app.py",
        "src/bank_ledger/domain.py",
        "src/bank_ledger/py.typed",
        "tests/test_app.py",
        "tests/test_domain.py",
    ]
    assert os.access(project / ".ci" / "run", os.X_OK)
    app = (project / "src" / "bank_ledger" / "app.py").read_text()
    assert 'STORE_URL_VARIABLE = "BANK_LEDGER_STORE_URL"' in app
    assert 'DEFAULT_STORE_URL = "sqlite:///bank_ledger.db"' in app
    domain = (project / "src" / "bank_ledger" / "domain.py").read_text()
    assert "class Account(esf.Aggregate):" in domain
    assert '@esf.event(name="bank_ledger.AccountCreated")' in domain
    assert '"esframework>=0.1",' in (project / "pyproject.toml").read_text()


def test_render_postgres_defaults_to_postgres_and_its_driver(tmp_path):
    """store='postgres' makes PostgreSQL the default store and pulls in its driver."""
    project = render(
        tmp_path,
        project_name="Clinic",
        package_name="clinic_records",
        aggregate_name="PatientFile",
        store="postgres",
        esframework_requirement="esframework>=0.2",
    )
    assert project.name == "clinic-records"
    app = (project / "src" / "clinic_records" / "app.py").read_text()
    assert 'DEFAULT_STORE_URL = "postgresql://postgres@127.0.0.1:5432/clinic_records"' in app
    pyproject = (project / "pyproject.toml").read_text()
    assert '"esframework>=0.2",' in pyproject
    assert '"esframework[postgres]",' in pyproject
    domain = (project / "src" / "clinic_records" / "domain.py").read_text()
    assert '@esf.command(target="patient_file_id")' in domain


@pytest.mark.parametrize(("answers", "message"), BAD_ANSWERS, ids=_ids(BAD_ANSWERS))
def test_render_refuses_bad_answers(tmp_path, answers, message):
    """A bad answer is a ScaffoldError naming it, and nothing is written."""
    with pytest.raises(esf.ScaffoldError) as caught:
        render(tmp_path, **{"project_name": "Test Ledger", **answers})
    assert message in str(caught.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("answers", "message"), BAD_ANSWERS, ids=_ids(BAD_ANSWERS))
def test_hook_refuses_what_render_refuses(tmp_path, capfd, answers, message):
    """Plain cookiecutter runs refuse the same answers with the same message, and exit."""
    with pytest.raises(esf.ScaffoldError) as caught:
        render(tmp_path / "render", **{"project_name": "Test Ledger", **answers})
    output = tmp_path / "out"
    with pytest.raises(FailedHookException):
        _run_cookiecutter(output, **answers)
    stderr = capfd.readouterr().err
    assert f"ERROR: {caught.value}" in stderr
    assert message in stderr
    assert "No project was generated." in stderr
    assert not output.exists() or list(output.iterdir()) == []


def test_render_refuses_an_unknown_store(tmp_path):
    """The store must be one the template knows."""
    with pytest.raises(esf.ScaffoldError, match="store 'mysql' is not one of sqlite, postgres"):
        render(tmp_path, project_name="Test Ledger", store="mysql")


def test_render_reports_every_bad_answer_at_once(tmp_path):
    """All refused answers are named in one error, so one retry can fix them all."""
    with pytest.raises(esf.ScaffoldError) as caught:
        render(tmp_path, project_name="x", package_name="1x", aggregate_name="x")
    assert "package_name '1x'" in str(caught.value)
    assert "aggregate_name 'x'" in str(caught.value)


def test_render_refuses_an_existing_project_directory(tmp_path):
    """render() never writes into an existing project directory."""
    (tmp_path / "bank-ledger").mkdir()
    (tmp_path / "bank-ledger" / "mine.txt").write_text("keep me")
    with pytest.raises(esf.ScaffoldError, match="already exists"):
        render(tmp_path, project_name="Bank Ledger")
    assert [p.name for p in (tmp_path / "bank-ledger").iterdir()] == ["mine.txt"]


def test_render_without_cookiecutter_says_what_to_install(tmp_path, monkeypatch):
    """Without cookiecutter, render() says how to install it instead of an ImportError."""
    for name in ("cookiecutter", "cookiecutter.main", "cookiecutter.exceptions"):
        monkeypatch.setitem(sys.modules, name, None)  # what an uninstalled package looks like
    with pytest.raises(esf.ScaffoldError, match=r"pip install 'esframework\[scaffold\]'"):
        render(tmp_path, project_name="Bank Ledger")


def test_render_leaves_no_replay_file_behind(tmp_path, monkeypatch):
    """A library call keeps cookiecutter's replay file out of the user's home."""
    import cookiecutter.main

    replay_dirs = []
    real_dump = cookiecutter.main.dump

    def dump(replay_dir, template_name, context):
        replay_dirs.append(Path(replay_dir))
        real_dump(replay_dir, template_name, context)

    monkeypatch.setattr(cookiecutter.main, "dump", dump)
    render(tmp_path, project_name="Bank Ledger")
    (replay_dir,) = replay_dirs
    assert not replay_dir.is_relative_to(Path.home())
    assert not replay_dir.exists()


# -- the generated projects, installed and tested -----------------------------------------

PROJECTS: dict[str, dict[str, Any]] = {
    "sqlite": {"project_name": "Bank Ledger", "aggregate_name": "Account", "store": "sqlite"},
    "postgres": {
        "project_name": "Clinical Diary",
        "package_name": "diary_app",
        "aggregate_name": "PatientDiary",
        "store": "postgres",
    },
}


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PIP_"))}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _run(
    args: list[str], cwd: Path, *, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        cwd=cwd,
        env={**_clean_env(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, dict[str, Path]]:
    """Both projects rendered, built and installed into one fresh venv."""
    base = tmp_path_factory.mktemp("generated")
    projects = {
        key: render(base / "src", esframework_requirement="esframework", **answers)
        for key, answers in PROJECTS.items()
    }
    env_dir = base / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # addsitedir (not a plain path line) also runs this environment's .pth files, which
    # is where the editable install of this checkout of esframework lives.
    here = sysconfig.get_paths()["purelib"]
    (Path(purelib) / "dev_environment.pth").write_text(f"import site; site.addsitedir({here!r})\n")
    for project in projects.values():
        done = _run(
            [
                str(python),
                *("-m", "pip", "install", "--quiet", "--no-index", "--no-deps"),
                *("--no-build-isolation", str(project)),
            ],
            cwd=base,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    return python, projects


@pytest.mark.slow
@pytest.mark.parametrize("key", sorted(PROJECTS))
def test_generated_project_passes_its_own_tests(installed, key):
    """A generated project, installed in a fresh venv, passes its own test suite."""
    python, projects = installed
    done = _run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider"], projects[key])
    assert done.returncode == 0, done.stdout + done.stderr
    summary = done.stdout.strip().splitlines()[-1]
    assert "passed" in summary
    assert "failed" not in summary
    assert "error" not in summary
    if "skipped" in summary:  # only the app tests, while esframework has no SQLite store
        assert "has no SQLite store" in done.stdout


@pytest.mark.slow
@pytest.mark.parametrize("key", sorted(PROJECTS))
def test_generated_app_tests_run_on_the_store_they_are_given(installed, key):
    """With <PKG>_TEST_STORE_URL set, every generated test runs on that store, none skips."""
    python, projects = installed
    variable = f"{projects[key].name.replace('-', '_').upper()}_TEST_STORE_URL"
    done = _run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        projects[key],
        env={variable: "memory://"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    summary = done.stdout.strip().splitlines()[-1]
    assert summary.startswith("7 passed in"), summary


@pytest.mark.slow
def test_generated_project_imports_from_its_install(installed):
    """The built package is installed (not read from its source tree), its app wired."""
    python, _ = installed
    code = (
        "import bank_ledger.app as a, diary_app.app as d; "
        "print(a.STORE_URL_VARIABLE, d.DEFAULT_STORE_URL, a.__file__)"
    )
    done = _run([str(python), "-c", code], cwd=python.parent)
    assert done.returncode == 0, done.stderr
    variable, default, where = done.stdout.split()
    assert variable == "BANK_LEDGER_STORE_URL"
    assert default == "postgresql://postgres@127.0.0.1:5432/diary_app"
    assert Path(where).is_relative_to(python.parent.parent)


@pytest.mark.slow
def test_generated_projects_type_check_strictly(installed):
    """The generated packages pass mypy --strict, as their CI script requires."""
    _, projects = installed
    sources = [str(p / "src") for p in projects.values()]
    done = _run([sys.executable, "-m", "mypy", "--strict", "--no-incremental", *sources], cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.slow
def test_template_ships_inside_the_wheel(tmp_path):
    """A built wheel carries the template, and render() uses that copy when installed."""
    pytest.importorskip("hatchling", reason="building the wheel needs hatchling (dev extra)")
    built = _run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(tmp_path / "dist")],
        cwd=ROOT,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    unpacked = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(unpacked)
        names = zf.namelist()
        run_script = zf.getinfo("esframework/_template/{{cookiecutter.__project_slug}}/.ci/run")
    assert "esframework/_template/cookiecutter.json" in names
    assert "esframework/_template/hooks/pre_gen_project.py" in names
    assert run_script.external_attr >> 16 & 0o111
    code = (
        "import sys; from esframework.scaffold import render, template_dir; "
        "print(template_dir()); print(render(sys.argv[1], project_name='From Wheel'))"
    )
    env = {**_clean_env(), "PYTHONPATH": str(unpacked)}
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "out")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    where, project = done.stdout.split()
    assert Path(where) == unpacked / "esframework" / "_template"
    assert (Path(project) / "src" / "from_wheel" / "domain.py").is_file()
