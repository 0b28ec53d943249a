"""The diary application: every change attributed, the record verifiable and sealed.

``require_user=True`` refuses any command without a ``user_id``: pass it to
``handle()`` or set it for a block with ``esf.context(user_id=...)``. Auditors check
the hash chains with ``app.verify()``, and seals taken on a schedule (kept outside the
database) let ``verify(against=seal)`` detect deleted events and streams too.
"""

from __future__ import annotations

import os

import esframework as esf

from .domain import Diary

__all__ = ["STORE_URL_VARIABLE", "make_app"]

STORE_URL_VARIABLE = "DIARY_STORE_URL"


def make_app(url: str | None = None) -> esf.Application:
    """The diary over the store at ``url``, else ``$DIARY_STORE_URL``, else in memory."""
    url = url or os.environ.get(STORE_URL_VARIABLE) or "memory://"
    return esf.Application(esf.connect(url), aggregates=[Diary], require_user=True)
