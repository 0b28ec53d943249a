"""mypy checks what users write against esframework: constructors and field types.

The decorators carry ``dataclass_transform``, so a wrong constructor call of an event,
a command or an aggregate is a type error before the program runs. These tests run
mypy --strict on small snippets and read what it reports, line by line.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

DECLARATIONS = textwrap.dedent(
    """\
    from decimal import Decimal
    from uuid import UUID, uuid4

    import attrs

    import esframework as esf


    @esf.event
    class Opened:
        owner: str


    @esf.event(name="Deposited", version=1)
    class Deposited:
        amount: Decimal
        note: str = ""


    @esf.command(target="account_id")
    class Open:
        account_id: UUID
        owner: str


    @esf.command(target="account_id")
    class Deposit:
        account_id: UUID
        amount: Decimal


    @esf.command(target="account_id")
    class Close:
        account_id: UUID


    @esf.aggregate(snapshot_every=10)
    class Account(esf.Aggregate):
        owner: str = ""
        balance: Decimal = Decimal(0)

        @esf.handles(Open, create=True)
        def open(self, cmd: Open) -> None:
            self.record(Opened(owner=cmd.owner))

        @esf.handles(Deposit)
        def deposit(self, cmd: Deposit) -> None:
            self.record(Deposited(amount=cmd.amount))

        @esf.handles
        def close(self, cmd: Close) -> None:
            pass

        @esf.applies(Opened)
        def _opened(self, e: Opened) -> None:
            self.owner = e.owner

        @esf.applies
        def _deposited(self, e: Deposited) -> None:
            self.balance += e.amount


    @esf.view(key="account_id", indexes=("owner",))
    class Balance:
        account_id: UUID
        owner: str
        balance: Decimal = Decimal(0)


    @esf.projection(views=[Balance])
    class Balances:
        @esf.on
        def opened(self, e: Opened, ctx: esf.ProjectionContext) -> None:
            ctx.view(Balance).put(Balance(ctx.stream_id, e.owner))


    app = esf.Application(esf.connect("memory://"), projections=[Balances])
    row: Balance | None = app.view(Balance).get(uuid4())
    page: esf.Page[Balance] = app.view(Balance).where(owner="ann").order_by("-owner").page()
    first: Balance = page.items[0]
    opened = Opened(owner="ann")
    deposited = Deposited(Decimal(1), note="first")
    command = Deposit(account_id=uuid4(), amount=Decimal(1))
    account = Account(id=uuid4(), owner="ann")
    balance: Decimal = account.balance
    version: int = account.version
    state = attrs.fields(Account)
    account.deposit(command)
    """
)

# Each line ends with the error code mypy must report on it; no other line may have one.
MISTAKES = textwrap.dedent(
    """\
    Opened()  # E: call-arg
    Deposit(account_id=uuid4())  # E: call-arg
    Opened(owner=1)  # E: arg-type
    Deposit(account_id="not-a-uuid", amount=Decimal(1))  # E: arg-type
    opened.owner = "bob"  # E: misc
    account.balance = "lots"  # E: assignment
    Account(owner=3)  # E: arg-type
    text: str = account.balance  # E: assignment
    account.deposit(opened)  # E: arg-type
    Balance(account_id=uuid4())  # E: call-arg
    Balance(uuid4(), owner=1)  # E: arg-type
    first.owner = "bob"  # E: misc
    found: Balance = app.view(Balance).get(uuid4())  # E: assignment
    """
)

ERROR = re.compile(
    r"^(?P<file>[\w.]+):(?P<line>\d+): error: (?P<message>.*)  \[(?P<code>[\w-]+)\]$"
)


README = Path(__file__).resolve().parent.parent / "README.md"


def _readme_python() -> str:
    text = README.read_text(encoding="utf-8")
    return "\n".join(re.findall(r"^```python\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL))


def _expected_errors(source: str) -> dict[int, str]:
    return {
        n: line.rsplit("# E: ", 1)[1].strip()
        for n, line in enumerate(source.splitlines(), start=1)
        if "# E: " in line
    }


@pytest.fixture(scope="module")
def mypy_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[int, list[str]]]:
    """mypy --strict over the snippets and the README: {file: {line: [code: message]}}."""
    work = tmp_path_factory.mktemp("typing")
    (work / "clean_snippet.py").write_text(DECLARATIONS)
    (work / "faulty_snippet.py").write_text(DECLARATIONS + MISTAKES)
    (work / "readme_snippet.py").write_text(_readme_python())
    config = work / "mypy.ini"
    config.write_text("[mypy]\n")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--config-file",
            str(config),
            "--cache-dir",
            str(work / ".mypy_cache"),
            "--no-color-output",
            "--no-pretty",
            "--no-error-summary",
            "clean_snippet.py",
            "faulty_snippet.py",
            "readme_snippet.py",
        ],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode in (0, 1), done.stdout + done.stderr
    report: dict[str, dict[int, list[str]]] = {
        name: {} for name in ("clean_snippet.py", "faulty_snippet.py", "readme_snippet.py")
    }
    for line in done.stdout.splitlines():
        found = ERROR.match(line)
        assert found is not None or ": note: " in line, f"unexpected mypy output: {line}"
        if found is not None:
            by_line = report[found["file"]].setdefault(int(found["line"]), [])
            by_line.append(f"{found['code']}: {found['message']}")
    return report


def _errors_at(report: dict[int, list[str]], source_line: str) -> list[str]:
    lines = (DECLARATIONS + MISTAKES).splitlines()
    return report.get(lines.index(source_line) + 1, [])


def test_correct_code_passes_cleanly(mypy_report):
    """Events, commands and aggregates used as declared type-check under --strict."""
    assert mypy_report["clean_snippet.py"] == {}


def test_readme_examples_pass_cleanly(mypy_report):
    """The README's python blocks, read as one module, type-check under --strict."""
    assert "esf.Application" in _readme_python()
    assert mypy_report["readme_snippet.py"] == {}


def test_missing_field_is_reported(mypy_report):
    """Leaving out a required field of an event or command is a type error."""
    faulty = mypy_report["faulty_snippet.py"]
    for line in ("Opened()  # E: call-arg", "Deposit(account_id=uuid4())  # E: call-arg"):
        errors = _errors_at(faulty, line)
        assert any(e.startswith("call-arg") and "Missing" in e for e in errors), (line, errors)


def test_wrong_field_type_is_reported(mypy_report):
    """Passing a value of the wrong type to an event or command field is a type error."""
    faulty = mypy_report["faulty_snippet.py"]
    assert any(
        'Argument "owner" to "Opened"' in e
        for e in _errors_at(faulty, "Opened(owner=1)  # E: arg-type")
    )
    line = 'Deposit(account_id="not-a-uuid", amount=Decimal(1))  # E: arg-type'
    assert any('"account_id"' in e and '"UUID"' in e for e in _errors_at(faulty, line))


def test_assigning_to_an_event_field_is_reported(mypy_report):
    """Events are frozen to mypy as well: assigning to a field is a type error."""
    errors = _errors_at(mypy_report["faulty_snippet.py"], 'opened.owner = "bob"  # E: misc')
    assert any("read-only" in e for e in errors), errors


def test_aggregate_fields_are_typed(mypy_report):
    """Aggregate state fields keep their types in assignments, reads and the constructor."""
    faulty = mypy_report["faulty_snippet.py"]
    assert _errors_at(faulty, 'account.balance = "lots"  # E: assignment')
    assert _errors_at(faulty, "Account(owner=3)  # E: arg-type")
    assert _errors_at(faulty, "text: str = account.balance  # E: assignment")


def test_decorated_methods_keep_their_signature(mypy_report):
    """Every form of @esf.handles and @esf.applies leaves the method's type as declared."""
    errors = _errors_at(mypy_report["faulty_snippet.py"], "account.deposit(opened)  # E: arg-type")
    assert any('"Opened"' in e and '"Deposit"' in e for e in errors), errors


def test_views_and_their_queries_are_typed(mypy_report):
    """View constructors are checked, views are frozen, and queries return the view type."""
    faulty = mypy_report["faulty_snippet.py"]
    assert _errors_at(faulty, "Balance(account_id=uuid4())  # E: call-arg")
    assert _errors_at(faulty, "Balance(uuid4(), owner=1)  # E: arg-type")
    assert _errors_at(faulty, 'first.owner = "bob"  # E: misc')
    line = "found: Balance = app.view(Balance).get(uuid4())  # E: assignment"
    assert any('"Balance | None"' in e for e in _errors_at(faulty, line))


def test_every_mistake_and_nothing_else_is_reported(mypy_report):
    """Each faulty line gets exactly the expected error code, and no other line any."""
    faulty = mypy_report["faulty_snippet.py"]
    got = {line: sorted({e.split(":", 1)[0] for e in errors}) for line, errors in faulty.items()}
    expected = {line: [code] for line, code in _expected_errors(DECLARATIONS + MISTAKES).items()}
    assert got == expected
