"""The public face of the package: exactly these names, all importable, typed."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.resources
import pkgutil
import subprocess
import sys

import pytest

import esframework as esf

PUBLIC_NAMES = [
    "ANY",
    "Aggregate",
    "AggregateAlreadyExists",
    "AggregateNotFound",
    "Application",
    "AttributionRequired",
    "AuditProblem",
    "AuditReport",
    "Changes",
    "CommandError",
    "CommandResult",
    "ConcurrencyError",
    "Conflict",
    "ConflictNotFound",
    "ConflictResolved",
    "ConflictStrategy",
    "DefinitionError",
    "DomainError",
    "DuplicateEventId",
    "DuplicateRegistration",
    "EsfError",
    "EventCodec",
    "EventStore",
    "EventType",
    "FieldNotIndexed",
    "ImmutableEventError",
    "InvalidCursor",
    "InvalidExpectedVersion",
    "InvalidQuery",
    "InvalidResolution",
    "InvalidSeal",
    "InvalidStoreUrl",
    "InvalidStreamId",
    "InvalidTarget",
    "LastWriteWins",
    "Manual",
    "MemoryStore",
    "Merge",
    "MissingApplier",
    "NewEvent",
    "NoHandler",
    "OpenConflict",
    "Page",
    "ProjectionContext",
    "ProjectionFailed",
    "ProjectionNotFound",
    "ProjectionStatus",
    "Projections",
    "ReadModelError",
    "RebuildProgress",
    "RecordOutsideHandler",
    "RecordedEvent",
    "Registry",
    "Reject",
    "Resolution",
    "RetryCommand",
    "ScaffoldError",
    "SchemaVersionError",
    "Seal",
    "SerializationError",
    "Snapshot",
    "StoreClosed",
    "StoreError",
    "StoreUnavailable",
    "Subscription",
    "UnitOfWork",
    "UnknownEventType",
    "UnknownViewField",
    "UpcastError",
    "UpcasterChainError",
    "ViewQuery",
    "ViewReader",
    "ViewWriter",
    "aggregate",
    "applies",
    "canonical_json",
    "command",
    "connect",
    "context",
    "current_metadata",
    "default_registry",
    "event",
    "handles",
    "make_converter",
    "on",
    "projection",
    "reacting_to",
    "testing",
    "upcaster",
    "view",
]

MODULES = sorted(m.name for m in pkgutil.walk_packages(esf.__path__, "esframework."))


def test_all_is_exactly_the_public_names():
    """esframework.__all__ lists the public API, no more and no less."""
    assert esf.__all__ == PUBLIC_NAMES


def test_all_is_sorted():
    """The public names are kept in sorted order, so additions land in one place."""
    assert esf.__all__ == sorted(esf.__all__)


@pytest.mark.parametrize("name", PUBLIC_NAMES)
def test_every_public_name_is_importable(name):
    """`from esframework import <name>` works for every public name."""
    namespace: dict[str, object] = {}
    exec(f"from esframework import {name}", namespace)  # noqa: S102
    assert namespace[name] is getattr(esf, name)


def test_star_import_gives_the_public_names():
    """`from esframework import *` binds exactly the names of __all__."""
    namespace: dict[str, object] = {}
    exec("from esframework import *", namespace)  # noqa: S102
    assert sorted(k for k in namespace if k != "__builtins__") == sorted(PUBLIC_NAMES)


def test_every_error_derives_from_esf_error():
    """Every exported exception can be caught with `except esf.EsfError`."""
    errors = [
        getattr(esf, n)
        for n in PUBLIC_NAMES
        if isinstance(getattr(esf, n), type) and issubclass(getattr(esf, n), BaseException)
    ]
    assert len(errors) > 20
    assert all(issubclass(e, esf.EsfError) for e in errors)


def test_py_typed_ships():
    """The package carries py.typed, so type checkers read its annotations."""
    assert (importlib.resources.files("esframework") / "py.typed").is_file()


def test_version_matches_the_distribution():
    """esframework.__version__ is the version the package was installed as."""
    assert esf.__version__ == importlib.metadata.version("esframework")


@pytest.mark.parametrize("module_name", MODULES)
def test_each_module_declares_existing_names(module_name):
    """Each module has an __all__ without duplicates whose every name exists."""
    module = importlib.import_module(module_name)
    names = module.__all__
    assert len(names) == len(set(names))
    assert [n for n in names if not hasattr(module, n)] == []


def test_importing_the_package_needs_no_test_dependencies():
    """`import esframework` (with .testing) loads neither pytest nor hypothesis."""
    code = (
        "import sys, esframework, esframework.testing; "
        "print(sorted(m for m in ('pytest', 'hypothesis', 'esframework.testing.strategies', "
        "'esframework.testing.contract') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"
