"""The exceptions esframework raises.

Everything derives from one root, so ``except esf.EsfError`` catches all of it.
Where a builtin's meaning fits, the error inherits it too (an unknown event type is
also a ``LookupError``), so code written against the builtins keeps working::

    EsfError
    ├── DefinitionError (TypeError)          a decorator or application is declared wrongly
    │   ├── DuplicateRegistration            two classes under one (name, version)
    │   ├── MissingApplier                   record() of an event the aggregate cannot apply
    │   └── UpcasterChainError               a gap in an upcaster chain
    ├── DomainError                          a business rule refused a command (users subclass it)
    ├── CommandError
    │   ├── NoHandler (LookupError)          no aggregate handles this command type
    │   ├── InvalidTarget (ValueError)       the command's target field is missing or not an id
    │   ├── AggregateNotFound (LookupError)  a non-creation command for a missing aggregate
    │   ├── AggregateAlreadyExists           a creation command for an existing aggregate
    │   └── RecordOutsideHandler             record() on an aggregate nobody is changing
    ├── SerializationError (ValueError)      a payload cannot become JSON, or JSON the class
    ├── UnknownEventType (LookupError)       a stored event type no class is registered for
    ├── UpcastError                          an upcaster raised or produced an unusable payload
    ├── InvalidResolution (TypeError)        a conflict strategy returned no Resolution
    ├── AttributionRequired (ValueError)     an event without user_id where one is required
    ├── InvalidSeal (ValueError)             a seal document that is malformed
    ├── ConflictNotFound (LookupError)       resolve() of an unknown or settled conflict
    ├── ScaffoldError                        a new project cannot be generated as asked
    ├── ReadModelError                       the read side cannot do what was asked
    │   ├── InvalidQuery (ValueError)        a view query with a bad operator or value
    │   │   ├── UnknownViewField (LookupError) a field the view class does not have
    │   │   ├── FieldNotIndexed              a field that is not the key or an index
    │   │   └── InvalidCursor                a page cursor of another view or order
    │   ├── ProjectionNotFound (LookupError) no projection of that name is registered
    │   └── ProjectionFailed                 a projection stopped at an event it could not handle
    └── StoreError
        ├── ConcurrencyError                 the stream moved on since it was loaded
        ├── DuplicateEventId                 an event id reused with different content
        ├── InvalidStreamId (TypeError)      a stream id that is not a UUID
        ├── InvalidExpectedVersion (ValueError)
        ├── InvalidStoreUrl (ValueError)     a URL no adapter understands
        ├── StoreUnavailable (ConnectionError) the database cannot be reached
        ├── SchemaVersionError               the database schema is newer than this library
        ├── ImmutableEventError              the database refused to change a stored event
        └── StoreClosed                      the store was used after close()
"""

from __future__ import annotations

__all__ = [
    "AggregateAlreadyExists",
    "AggregateNotFound",
    "AttributionRequired",
    "CommandError",
    "ConcurrencyError",
    "ConflictNotFound",
    "DefinitionError",
    "DomainError",
    "DuplicateEventId",
    "DuplicateRegistration",
    "EsfError",
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
    "MissingApplier",
    "NoHandler",
    "ProjectionFailed",
    "ProjectionNotFound",
    "ReadModelError",
    "RecordOutsideHandler",
    "ScaffoldError",
    "SchemaVersionError",
    "SerializationError",
    "StoreClosed",
    "StoreError",
    "StoreUnavailable",
    "UnknownEventType",
    "UnknownViewField",
    "UpcastError",
    "UpcasterChainError",
]


class EsfError(Exception):
    """The root of every error esframework raises."""


class DefinitionError(EsfError, TypeError):
    """A class, decorator or application is declared in a way that cannot work."""


class DuplicateRegistration(DefinitionError):
    """Two classes were registered under the same (name, version)."""


class MissingApplier(DefinitionError):
    """An aggregate recorded an event type it has no ``@esf.applies`` method for."""


class UpcasterChainError(DefinitionError):
    """An event type's upcaster chain misses a step between version 1 and the current one."""


class DomainError(EsfError):
    """A business rule refused a command. Subclass it for your own domain errors.

    Raising it (or a subclass) in a handler stores nothing and reaches the caller as is.
    """


class CommandError(EsfError):
    """A command could not be routed to, or run on, an aggregate."""


class NoHandler(CommandError, LookupError):
    """No aggregate of the application handles this command type."""


class InvalidTarget(CommandError, ValueError):
    """The command's target field is missing or does not hold an aggregate id."""


class AggregateNotFound(CommandError, LookupError):
    """The aggregate does not exist (or did not exist at the requested time)."""


class AggregateAlreadyExists(CommandError):
    """A creation command was sent for an aggregate that already exists."""


class RecordOutsideHandler(CommandError):
    """``record()`` was called on an aggregate that is not being changed.

    Aggregates change only inside ``app.handle()`` or a unit of work, so that every
    recorded event is stored or none is.
    """


class SerializationError(EsfError, ValueError):
    """A payload could not be turned into JSON, or JSON back into its class."""


class UnknownEventType(EsfError, LookupError):
    """A stored event names a type (or version) that no registered class matches."""


class UpcastError(EsfError):
    """An upcaster failed or produced a payload its event class cannot take."""


class InvalidResolution(EsfError, TypeError):
    """A conflict strategy's ``resolve()`` returned something that is not a Resolution."""


class AttributionRequired(EsfError, ValueError):
    """An event without a ``user_id`` where the store or application requires one."""


class InvalidSeal(EsfError, ValueError):
    """A seal document that is malformed or not a seal at all."""


class ConflictNotFound(EsfError, LookupError):
    """``resolve()`` named a conflict that is unknown or already settled."""


class ScaffoldError(EsfError):
    """A new project cannot be generated: a bad answer, a missing tool, or a taken directory.

    The message says which, and what to do instead.
    """


class ReadModelError(EsfError):
    """The read side (projections, views, subscriptions) cannot do what was asked."""


class InvalidQuery(ReadModelError, ValueError):
    """A view query with an unknown operator, or a value its field cannot hold."""


class UnknownViewField(InvalidQuery, LookupError):
    """A view query names a field the view class does not have; the message lists them."""


class FieldNotIndexed(InvalidQuery):
    """A view query filters or sorts on a field that is neither the key nor an index.

    Only those are real columns in SQL; declare the field in ``@esf.view(indexes=...)``.
    """


class InvalidCursor(InvalidQuery):
    """A page cursor that is malformed, or was made by another view or ordering."""


class ProjectionNotFound(ReadModelError, LookupError):
    """No registered projection has that name; the message lists the registered ones."""


class ProjectionFailed(ReadModelError):
    """A projection stopped at an event: its handler raised, or the event's type is unknown.

    Carries ``projection``, ``position`` and the ``message`` recorded in its status.
    """

    def __init__(self, projection: str, position: int, message: str) -> None:
        self.projection = projection
        self.position = position
        self.message = message
        super().__init__(
            f"projection {projection!r} stopped at position {position}: {message}; fix "
            f"the handler (or register the event type), then app.projections.resume("
            f"{projection!r}) to retry the event, or rebuild it"
        )

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.projection, self.position, self.message))


class StoreError(EsfError):
    """Something went wrong in an event store."""


class ConcurrencyError(StoreError):
    """Another writer appended to the stream since it was read.

    Carries ``stream_id``, ``expected`` and ``actual`` versions.
    """

    def __init__(self, stream_id: object, expected: object, actual: int) -> None:
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual
        if expected == 0:
            what = f"stream {stream_id} already exists at version {actual}, expected none"
        else:
            what = f"stream {stream_id} is at version {actual}, expected {expected}"
        super().__init__(
            f"{what}: reload the aggregate and retry, or choose a conflict strategy "
            "(see docs/conflicts.md)"
        )

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.stream_id, self.expected, self.actual))


class DuplicateEventId(StoreError):
    """An event id that is already stored was appended again with different content."""


class InvalidStreamId(StoreError, TypeError):
    """A stream id that is not a ``uuid.UUID``."""


class InvalidExpectedVersion(StoreError, ValueError):
    """An ``expected_version`` that is neither a non-negative int nor ``esf.ANY``."""


class InvalidStoreUrl(StoreError, ValueError):
    """A store URL that is malformed or names a scheme no adapter serves."""


class StoreUnavailable(StoreError, ConnectionError):
    """The database behind a store cannot be reached."""


class SchemaVersionError(StoreError):
    """The database's schema is newer than this version of esframework understands."""


class ImmutableEventError(StoreError):
    """The database refused to update or delete a stored event: events are immutable."""


class StoreClosed(StoreError):
    """The store was used after ``close()``."""
