"""A new project from the esframework template: one aggregate, its tests, CI.

::

    from esframework.scaffold import render

    project = render("~/code", project_name="Bank Ledger", aggregate_name="Account")

The template is a cookiecutter template, shipped inside the package (and kept at
``cookiecutter-template/`` in the source tree), so ``cookiecutter`` can render it too.
Rendering needs ``cookiecutter`` installed: ``pip install 'esframework[scaffold]'``.
"""

from __future__ import annotations

import json
import keyword
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from esframework.errors import ScaffoldError

__all__ = ["STORES", "check_answers", "render", "template_dir"]

STORES = ("sqlite", "postgres")
"""The store choices the template knows."""

# Kept in step with the template's hooks/pre_gen_project.py (a test checks both refuse
# the same answers): the hook serves people who run cookiecutter themselves.
_TAKEN_PACKAGES = frozenset({"esframework", "tests", "test", "pytest", "hypothesis"})
_TAKEN_CLASSES = frozenset({"UUID"})
_EXAMPLE_PACKAGE = "(e.g. 'my_ledger')"


def template_dir() -> Path:
    """The project template's directory: in the installed package, else the source tree."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_template", here.parent / "cookiecutter-template"):
        if (candidate / "cookiecutter.json").is_file():
            return candidate
    raise ScaffoldError(
        f"the project template is missing from this installation of esframework ({here}): "
        "reinstall esframework"
    )


def check_answers(
    *, project_name: str, package_name: str, aggregate_name: str, store: str
) -> None:
    """Raise ``ScaffoldError`` naming every answer that would make a broken project."""
    problems = []
    if (
        not project_name.strip()
        or any(c in project_name for c in '"\\')
        or not project_name.isprintable()
    ):
        problems.append(
            f"project_name {project_name!r} must be a non-empty line of text without "
            "quotes or backslashes (e.g. 'My Ledger')"
        )
    if not (package_name.isascii() and package_name.isidentifier()):
        problems.append(
            f"package_name {package_name!r} is not a Python package name: use letters, "
            f"digits and underscores, not starting with a digit {_EXAMPLE_PACKAGE}"
        )
    elif keyword.iskeyword(package_name):
        problems.append(
            f"package_name {package_name!r} is a Python keyword and cannot be imported: "
            f"choose another name {_EXAMPLE_PACKAGE}"
        )
    elif package_name in _TAKEN_PACKAGES or package_name in sys.stdlib_module_names:
        problems.append(
            f"package_name {package_name!r} would shadow the module of that name: "
            f"choose another name {_EXAMPLE_PACKAGE}"
        )
    if not (
        aggregate_name.isascii()
        and aggregate_name.isidentifier()
        and aggregate_name[0].isupper()
        and not keyword.iskeyword(aggregate_name)
    ):
        problems.append(
            f"aggregate_name {aggregate_name!r} is not a class name: use letters and digits "
            "in CapWords, starting with a capital letter (e.g. 'Account')"
        )
    elif aggregate_name in _TAKEN_CLASSES:
        problems.append(
            f"aggregate_name {aggregate_name!r} would shadow a name the domain module "
            "imports: choose another name"
        )
    if store not in STORES:
        problems.append(f"store {store!r} is not one of {', '.join(STORES)}")
    if problems:
        raise ScaffoldError("; ".join(problems))


def render(
    output_dir: str | os.PathLike[str],
    *,
    project_name: str,
    package_name: str | None = None,
    aggregate_name: str = "Account",
    store: str = "sqlite",
    esframework_requirement: str | None = None,
) -> Path:
    """Generate a new project inside ``output_dir``; returns the project's directory.

    ``package_name`` defaults to ``project_name`` in snake case and the project's
    directory to the package name with dashes. ``esframework_requirement`` is the
    dependency line of the generated ``pyproject.toml`` (default ``esframework>=0.1``).
    Raises ``ScaffoldError`` for bad answers (all of them at once), a project directory
    that already exists, or a missing ``cookiecutter``; nothing is written then.
    """
    try:
        from cookiecutter.exceptions import CookiecutterException, OutputDirExistsException
        from cookiecutter.main import cookiecutter
        from slugify import slugify
    except ImportError as exc:
        raise ScaffoldError(
            f"generating a project needs cookiecutter ({exc}): "
            "pip install 'esframework[scaffold]' (or pip install cookiecutter)"
        ) from None
    if package_name is None:
        package_name = slugify(project_name, separator="_")
    check_answers(
        project_name=project_name,
        package_name=package_name,
        aggregate_name=aggregate_name,
        store=store,
    )
    answers: dict[str, Any] = {
        "project_name": project_name,
        "package_name": package_name,
        "aggregate_name": aggregate_name,
        "store": store,
    }
    if esframework_requirement is not None:
        answers["__esframework_requirement"] = esframework_requirement
    output = Path(output_dir).expanduser()
    target = output / package_name.replace("_", "-")
    if target.exists():
        raise ScaffoldError(
            f"{target} already exists: choose another output directory or package name, "
            "or remove it first"
        )
    with tempfile.TemporaryDirectory(prefix="esf-scaffold-") as scratch:
        # cookiecutter keeps a replay of every run in the user's home unless told where;
        # a throwaway config keeps a library call from writing there.
        config = Path(scratch) / "config.yaml"
        config.write_text(
            json.dumps(
                {
                    "replay_dir": str(Path(scratch) / "replay"),
                    "cookiecutters_dir": str(Path(scratch) / "templates"),
                }
            ),
            encoding="utf-8",
        )
        try:
            created = cookiecutter(
                str(template_dir()),
                no_input=True,
                extra_context=answers,
                output_dir=str(output),
                config_file=str(config),
            )
        except OutputDirExistsException as exc:
            raise ScaffoldError(f"{target} already exists ({exc}): remove it first") from None
        except CookiecutterException as exc:
            raise ScaffoldError(f"the project template could not be rendered: {exc}") from exc
    return Path(created)
