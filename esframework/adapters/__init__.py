"""Event stores, and ``connect(url)`` that opens the right one."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from esframework.adapters.base import ANY, AnyVersion, EventStore, ExpectedVersion
from esframework.adapters.memory import MemoryStore
from esframework.errors import InvalidStoreUrl

__all__ = ["ANY", "AnyVersion", "EventStore", "ExpectedVersion", "MemoryStore", "connect"]


def connect(url: str, **options: Any) -> EventStore:
    """Open the store a URL names.

    ``memory://`` is an in-process store; SQL URLs (``sqlite:///path``,
    ``postgresql://...``) are served by the SQL adapters. Options (``codec``, ``clock``
    and adapter-specific ones) are passed to the store.
    """
    if not isinstance(url, str) or "://" not in url:
        raise InvalidStoreUrl(
            f"{url!r} is not a store URL: use memory://, sqlite:///path/to/file.db or "
            "postgresql://user@host/db"
        )
    scheme = urlsplit(url).scheme.lower()
    base = scheme.split("+", 1)[0]
    if base == "memory":
        return MemoryStore(**options)
    raise InvalidStoreUrl(
        f"no store serves the scheme {scheme!r} in {url!r}: use memory://, "
        "sqlite:///path/to/file.db or postgresql://user@host/db"
    )
