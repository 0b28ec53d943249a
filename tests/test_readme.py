"""The README runs as written, and CI runs the test command it tells people to run."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", README, flags=re.MULTILINE | re.DOTALL)


def test_readme_has_python_examples():
    """The README shows code (so the next test cannot pass by finding none)."""
    assert len(_blocks("python")) >= 3


def test_python_blocks_run_in_order():
    """Every ```python block of README.md runs, in order, in one namespace."""
    namespace: dict[str, object] = {"__name__": "readme_example"}
    for number, block in enumerate(_blocks("python"), start=1):
        # dont_inherit: the blocks run as a reader runs them, without this module's
        # `from __future__ import annotations`.
        code = compile(block, f"README.md python block {number}", "exec", dont_inherit=True)
        exec(code, namespace)  # noqa: S102


def _test_command() -> str:
    (line,) = [line for block in _blocks("sh") for line in block.splitlines() if "pytest" in line]
    (command,) = [part.strip() for part in line.split("&&") if "pytest" in part]
    return command


def test_readme_test_command_is_what_ci_runs():
    """The pytest command of the README's set-up line is a command line of .ci/run."""
    command = _test_command()
    assert shlex.split(command)[-2:] == ["-m", "pytest"]
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert command in ci_lines
