"""The Python-side state of a psycopg connection that tests can change, and putting it back.

``DISCARD ALL`` and a rollback reset the server side of a pooled connection;
what a test set on the ``psycopg.Connection`` object itself (``row_factory``,
cursor factories, ``prepare_threshold``, adapters, notice and notify
handlers) would otherwise follow the connection into the next class that
borrows it. ``ClientState`` is taken when the pool first lends a connection
and restored each time it comes back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg

from .._compat import forget_adapters, notice_handlers, notify_handlers


class ClientState:
    """What a connection looked like on the Python side when it was first lent."""

    __slots__ = ("row_factory", "cursor_factory", "server_cursor_factory", "prepare_threshold", "prepared_max",
                 "notice_handlers", "notify_handlers")

    def __init__(self, conn: psycopg.Connection) -> None:
        self.row_factory = conn.row_factory
        self.cursor_factory = conn.cursor_factory
        self.server_cursor_factory = conn.server_cursor_factory
        self.prepare_threshold = conn.prepare_threshold
        self.prepared_max = conn.prepared_max
        self.notice_handlers = list(notice_handlers(conn))
        self.notify_handlers = list(notify_handlers(conn))

    def restore(self, conn: psycopg.Connection) -> None:
        """Put the connection's Python-side state back as it was."""
        conn.row_factory = self.row_factory
        conn.cursor_factory = self.cursor_factory
        conn.server_cursor_factory = self.server_cursor_factory
        conn.prepare_threshold = self.prepare_threshold
        conn.prepared_max = self.prepared_max
        _drop_extra(notice_handlers(conn), self.notice_handlers, conn.remove_notice_handler)
        _drop_extra(notify_handlers(conn), self.notify_handlers, conn.remove_notify_handler)
        # Adapters registered on the connection (register_loader, register_hstore, ...): psycopg builds a fresh
        # map from the global adapters on next use. tddkit's pool passes no adapters context of its own.
        forget_adapters(conn)


def _drop_extra(current: list[Callable[..., Any]], kept: list[Callable[..., Any]],
                remove: Callable[[Callable[..., Any]], None]) -> None:
    for handler in list(current):
        if handler not in kept:
            remove(handler)
