"""esframework: event-sourced domain models for Python.

Declare events, commands and aggregates with decorators, hand the aggregates to an
``Application`` over a store from ``connect(url)``, and send it commands.
"""

from __future__ import annotations

from esframework import testing
from esframework.adapters import ANY, EventStore, MemoryStore, connect
from esframework.aggregate import Aggregate, aggregate, applies
from esframework.application import Application, CommandResult, OpenConflict
from esframework.audit import AuditProblem, AuditReport, Seal
from esframework.commands import command, handles
from esframework.conflicts import (
    Conflict,
    ConflictResolved,
    ConflictStrategy,
    LastWriteWins,
    Manual,
    Merge,
    Reject,
    Resolution,
    RetryCommand,
)
from esframework.context import context, current_metadata, reacting_to
from esframework.errors import (
    AggregateAlreadyExists,
    AggregateNotFound,
    AttributionRequired,
    CommandError,
    ConcurrencyError,
    ConflictNotFound,
    DefinitionError,
    DomainError,
    DuplicateEventId,
    DuplicateRegistration,
    EsfError,
    FieldNotIndexed,
    ImmutableEventError,
    InvalidCursor,
    InvalidExpectedVersion,
    InvalidQuery,
    InvalidResolution,
    InvalidSeal,
    InvalidStoreUrl,
    InvalidStreamId,
    InvalidTarget,
    MissingApplier,
    NoHandler,
    ProjectionFailed,
    ProjectionNotFound,
    ReadModelError,
    RecordOutsideHandler,
    ScaffoldError,
    SchemaVersionError,
    SerializationError,
    StoreClosed,
    StoreError,
    StoreUnavailable,
    UnknownEventType,
    UnknownViewField,
    UpcasterChainError,
    UpcastError,
)
from esframework.events import NewEvent, RecordedEvent, event
from esframework.projection_runner import Projections, ProjectionStatus, RebuildProgress
from esframework.projections import ProjectionContext, ViewWriter, on, projection
from esframework.registry import EventType, Registry, default_registry
from esframework.serialization import EventCodec, canonical_json, make_converter
from esframework.snapshots import Snapshot
from esframework.subscriptions import Subscription
from esframework.unit_of_work import UnitOfWork
from esframework.upcasting import upcaster
from esframework.view_queries import Changes, Page, ViewQuery, ViewReader
from esframework.views import view

__version__ = "0.1.0.dev0"

__all__ = [
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
