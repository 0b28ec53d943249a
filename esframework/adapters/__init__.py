"""Event stores, and ``connect(url)`` that opens the right one.

The SQL stores are imported when first used, so that ``import esframework`` does not
load SQLAlchemy or a database driver.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from esframework.adapters.base import ANY, AnyVersion, EventStore, ExpectedVersion
from esframework.adapters.memory import MemoryStore
from esframework.errors import InvalidStoreUrl

if TYPE_CHECKING:
    from esframework.adapters.postgres import PostgresStore
    from esframework.adapters.sql import SqlStore
    from esframework.adapters.sqlite import SqliteStore

__all__ = [
    "ANY",
    "AnyVersion",
    "EventStore",
    "ExpectedVersion",
    "MemoryStore",
    "PostgresStore",
    "SqlStore",
    "SqliteStore",
    "connect",
    "redact",
]

_USE = "use memory://, sqlite:///path/to/file.db, sqlite:// or postgresql://user@host/db"
_PASSWORD = re.compile(r"(://[^/:@]*:)[^/@]*@")


def redact(url: str) -> str:
    """``url`` with any password replaced by ``***``, for messages and logs."""
    return _PASSWORD.sub(r"\1***@", url)


def connect(url: str, **options: Any) -> EventStore:
    """Open the store a URL names.

    - ``memory://``: an in-process store;
    - ``sqlite:///path/to/file.db`` (created if missing) or ``sqlite://`` (in memory);
    - ``postgresql://user:password@host:port/db`` (also ``postgresql+psycopg://``),
      with ``?schema=name`` or ``schema="name"`` to keep this store in its own schema.

    Options (``codec``, ``clock`` and the adapter's own, see docs/adapters.md) are
    passed to the store. Stores are context managers; close them when done.
    """
    if not isinstance(url, str) or "://" not in url:
        raise InvalidStoreUrl(f"{url!r} is not a store URL: {_USE}")
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError as exc:
        raise InvalidStoreUrl(f"{redact(url)!r} is not a valid URL ({exc}): {_USE}") from None
    base = scheme.split("+", 1)[0]
    if base == "memory":
        return MemoryStore(**options)
    if base == "sqlite":
        from esframework.adapters.sqlite import SqliteStore

        return SqliteStore(url, **options)
    if base in ("postgresql", "postgres"):
        from esframework.adapters.postgres import PostgresStore

        return PostgresStore(url, **options)
    raise InvalidStoreUrl(f"no store serves the scheme {scheme!r} in {redact(url)!r}: {_USE}")


def __getattr__(name: str) -> Any:
    if name == "SqlStore":
        from esframework.adapters.sql import SqlStore

        return SqlStore
    if name == "SqliteStore":
        from esframework.adapters.sqlite import SqliteStore

        return SqliteStore
    if name == "PostgresStore":
        from esframework.adapters.postgres import PostgresStore

        return PostgresStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
