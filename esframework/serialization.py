"""Payloads to JSON and back: the cattrs converter, canonical JSON and the event codec.

``make_converter()`` knows UUID, Decimal (exact, as a string), timezone-aware datetime
(ISO 8601), date, enums, bytes (base64), sets, nested attrs classes, the typing
containers and unions of JSON scalars. Stores receive a codec built on it; nobody
subclasses it.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any
from uuid import UUID

import cattrs
from cattrs.errors import BaseValidationError
from cattrs.strategies import configure_union_passthrough

from esframework.errors import EsfError, SerializationError, UnknownEventType, UpcastError
from esframework.registry import EventType, Registry, default_registry
from esframework.upcasting import upcast

if TYPE_CHECKING:
    from esframework.events import RecordedEvent

__all__ = [
    "EventCodec",
    "canonical_from_stored",
    "canonical_json",
    "load_stored",
    "located",
    "make_converter",
    "stored_json",
]


def _unstructure_datetime(value: datetime) -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        raise SerializationError(
            f"naive datetime {value.isoformat()} cannot be stored unambiguously: "
            "use a timezone-aware datetime, e.g. datetime.now(UTC)"
        )
    return value.isoformat()


def _structure_datetime(value: Any, _: Any) -> datetime:
    if isinstance(value, datetime):
        result = value
    else:
        result = datetime.fromisoformat(value)
    if result.tzinfo is None:
        raise ValueError(f"datetime {value!r} has no timezone")
    return result


def _structure_date(value: Any, _: Any) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    return date.fromisoformat(value)


def _structure_decimal(value: Any, _: Any) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        raise ValueError(f"{value!r} is a float; Decimal payloads are stored as strings")
    try:
        return Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a decimal number") from None


def _structure_uuid(value: Any, _: Any) -> UUID:
    return value if isinstance(value, UUID) else UUID(value)


def _structure_bytes(value: Any, _: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    return base64.b64decode(value, validate=True)


def _sorted_list(items: Iterable[Any]) -> list[Any]:
    """A set's elements in one order, whatever the process: sorted by canonical JSON.

    Iteration order of sets changes between processes (hash randomisation), and a
    retried append must produce the same payload to be recognised as a retry.
    """
    values = list(items)
    try:
        return sorted(values, key=canonical_json)
    except SerializationError:
        return values


def make_converter() -> cattrs.Converter:
    """A cattrs converter preconfigured for the payload types esframework stores."""
    converter = cattrs.Converter(
        unstruct_collection_overrides={frozenset: _sorted_list, set: _sorted_list},
    )
    converter.register_unstructure_hook(UUID, str)
    converter.register_structure_hook(UUID, _structure_uuid)
    converter.register_unstructure_hook(Decimal, str)
    converter.register_structure_hook(Decimal, _structure_decimal)
    converter.register_unstructure_hook(datetime, _unstructure_datetime)
    converter.register_structure_hook(datetime, _structure_datetime)
    converter.register_unstructure_hook(date, date.isoformat)
    converter.register_structure_hook(date, _structure_date)
    converter.register_unstructure_hook(bytes, lambda b: base64.b64encode(b).decode("ascii"))
    converter.register_structure_hook(bytes, _structure_bytes)
    # Unions of JSON scalars (int | str, bool | str, ...) are stored as they are and read
    # back as they come, as in cattrs' preconfigured JSON converter.
    configure_union_passthrough(str | bool | int | float | None, converter)
    return converter


def _hashable_form(value: Any) -> Any:
    """Normalise numbers so that every store's JSON round trip hashes the same.

    PostgreSQL's JSONB keeps numbers as ``numeric``, parsed from the JSON text: ``1e16``
    comes back as ``10000000000000000`` and ``1e300`` as ten to the 300th (ints in
    Python). Hashing an integral float as the integer its JSON text spells (not the
    float's binary value, which differs above 2**53) keeps the digest independent of
    where the payload has been.
    """
    if isinstance(value, float):
        if not math.isfinite(value):
            raise SerializationError(f"{value!r} cannot be stored: JSON has no NaN or infinity")
        if value.is_integer():
            return int(Decimal(repr(value)))
        return value
    if isinstance(value, dict):
        return {k: _hashable_form(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_hashable_form(v) for v in value]
    return value


def _sorted_encoder() -> Callable[[Any], str]:
    """Sorted keys, no whitespace, no NaN: the C encoder made once, not once per call.

    ``JSONEncoder.encode`` builds its C encoder anew on every call, which costs as much
    as encoding a small payload. Where the C encoder is there and agrees with
    ``JSONEncoder`` on a probe, it is made once here; elsewhere ``JSONEncoder`` is used.
    Without a shared circular-reference table (it would not be thread-safe), a payload
    that contains itself fails with ``RecursionError``.
    """
    python = json.JSONEncoder(
        sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return python.encode
    try:
        chunks = make(
            None,
            python.default,
            json.encoder.encode_basestring,
            None,
            ":",
            ",",
            True,
            False,
            False,
        )
    except TypeError:  # another signature than CPython 3.11-3.13's
        return python.encode

    def encode(value: Any) -> str:
        return "".join(chunks(value, 0))

    probe = {"b": [1, 2.5, None, True, 'é"\n'], "a": {"z": -1e300}, "c": 10**30}
    try:
        agrees = encode(probe) == python.encode(probe)
    except Exception:
        agrees = False
    return encode if agrees else python.encode


_ENCODE_SORTED = _sorted_encoder()


def canonical_json(value: Any) -> str:
    """The one JSON text of ``value`` that hashing uses: sorted keys, no whitespace."""
    try:
        return _ENCODE_SORTED(_hashable_form(value))
    except (TypeError, ValueError, RecursionError) as exc:
        raise SerializationError(f"value is not JSON-serializable: {exc}") from exc


def stored_json(value: Any) -> str:
    """The JSON text stores keep: sorted keys, no whitespace, floats as they are.

    For payloads without floats this is also their canonical form, so hashing reuses it.
    """
    return _ENCODE_SORTED(value)


# The scanner json.loads runs (typeshed does not declare the attribute).
_SCAN: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def load_stored(text: str) -> Any:
    """``json.loads(text)``, faster on the whitespace-free text stores keep.

    ``json.loads`` strips whitespace around the value with two regular expressions
    before and after running the scanner; stored payloads have none, so the scanner
    (the very one ``json.loads`` runs, with its defaults) is called directly. Any text
    it does not consume whole, or cannot read, goes to ``json.loads``: the same value,
    or the same error.
    """
    try:
        value, end = _SCAN(text, 0)
    except (StopIteration, ValueError):
        return json.loads(text)
    if end != len(text):
        return json.loads(text)
    return value


_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})

_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_FLOAT_MARK = re.compile(r"[.eE]")


def canonical_from_stored(data: Any, data_json: str) -> str:
    """The canonical JSON of ``data``, given its ``stored_json`` text.

    They differ only where a float is written (``1.0`` hashes as ``1``); outside its
    strings, a JSON text holds a float exactly when it has a ``.``, ``e`` or ``E``.
    """
    if _FLOAT_MARK.search(_JSON_STRING.sub("", data_json)) is None:
        return data_json
    return canonical_json(data)


def _validation_message(exc: BaseException) -> str:
    if isinstance(exc, BaseValidationError):
        return "; ".join(cattrs.transform_error(exc))
    return f"{type(exc).__name__}: {exc}"


class EventCodec:
    """Encodes event instances to (type, payload) and decodes stored payloads back.

    Decoding upcasts older payloads through the registry's chain first. The cattrs
    hooks of each class are looked up once and cached.
    """

    def __init__(
        self, registry: Registry | None = None, converter: cattrs.Converter | None = None
    ) -> None:
        self.registry = registry if registry is not None else default_registry
        self.converter = converter if converter is not None else make_converter()
        self._unstructure: dict[type, tuple[EventType, Callable[[Any], Any]]] = {}
        self._structure: dict[str, tuple[type, int, Callable[[Any, Any], Any]]] = {}

    def __repr__(self) -> str:
        return f"<EventCodec {self.registry!r}>"

    def encode(self, event: object) -> tuple[EventType, dict[str, Any]]:
        """The registered type of ``event`` and its payload as JSON-compatible data."""
        cls = type(event)
        entry = self._unstructure.get(cls)
        if entry is None:
            event_type = self.registry.type_of(cls)
            # Refuse to store what could not be read back: an unreadable event in an
            # append-only log cannot be fixed later.
            self._structure_hook(event_type.name, cls)
            entry = (event_type, self.converter.get_unstructure_hook(cls))
            self._unstructure[cls] = entry
        event_type, hook = entry
        try:
            data = hook(event)
        except SerializationError as exc:
            raise SerializationError(f"event {event_type.name}: {exc}") from exc
        except Exception as exc:
            raise SerializationError(
                f"event {event_type.name} cannot be serialized ({type(exc).__name__}: {exc}); "
                "use field types the converter knows or register a hook on it"
            ) from exc
        return event_type, data

    def is_current(self, event: object) -> bool:
        """Whether ``event`` is an instance of the newest class of its type name."""
        entry = self._unstructure.get(type(event))
        name = entry[0].name if entry else self.registry.type_of(type(event)).name
        return self.registry.current(name) is type(event)

    def encode_metadata(self, metadata: Mapping[str, Any]) -> dict[str, Any]:
        """Metadata as JSON-compatible data (UUIDs, datetimes and the like become text)."""
        try:
            return {
                str(k): v if type(v) in _JSON_SCALARS else self.converter.unstructure(v)
                for k, v in metadata.items()
            }
        except Exception as exc:
            raise SerializationError(f"metadata cannot be serialized: {exc}") from exc

    def decode(self, name: str, version: int, data: Mapping[str, Any], *, where: str = "") -> Any:
        """The payload ``data`` stored as (name, version), as its current class."""
        entry = self._structure.get(name)
        if entry is None:
            cls = self.registry.current(name)
            current = self.registry.type_of(cls).version
            entry = (cls, current, self._structure_hook(name, cls))
            self._structure[name] = entry
        cls, current, hook = entry
        if version > current:
            raise UnknownEventType(
                f"{where}event {name!r} is stored at version {version}, but the newest class "
                f"registered for it ({cls.__qualname__}) is version {current}: upgrade the "
                "code that reads this store"
            )
        payload: Any = data
        if version < current:
            payload = upcast(self.registry, name, version, current, data, where=where)
        try:
            return hook(payload, cls)
        except Exception as exc:
            step = f" after upcasting from version {version}" if version < current else ""
            error = UpcastError if version < current else SerializationError
            raise error(
                f"{where}stored {name!r} (version {version}) does not fit "
                f"{cls.__qualname__}{step}: {_validation_message(exc)}"
            ) from exc

    def _structure_hook(self, name: str, cls: type) -> Callable[[Any, Any], Any]:
        try:
            return self.converter.get_structure_hook(cls)
        except Exception as exc:
            raise SerializationError(
                f"event {name} ({cls.__qualname__}) cannot be read back from JSON "
                f"({type(exc).__name__}: {exc}); use field types the converter knows or "
                "register a structure hook on it"
            ) from exc

    def decode_record(self, record: RecordedEvent) -> Any:
        """``record.event``: decode a stored record, naming it in any error."""
        try:
            return self.decode(record.event_type, record.schema_version, record.data)
        except EsfError as exc:  # say which record, only when something went wrong
            raise located(exc, record) from exc


def located(exc: EsfError, record: RecordedEvent) -> EsfError:
    """``exc`` raised decoding ``record``, its message prefixed with where the record is."""
    where = f"position {record.position}, stream {record.stream_id} v{record.version}"
    return type(exc)(f"{where}: {exc}")
