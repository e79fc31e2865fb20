"""The per-test round trip: ``ROLLBACK TO`` the test's savepoint, and the statements that follow it.

After the rollback come the release of the session advisory locks the test
took (``advisory_locks``) and the leak check's probe (``leaks``). In the
common case (the scope holds no advisory locks, nothing to deallocate) they
are one ``SELECT`` that the connection prepares once, with SQL ``PREPARE``,
and runs with ``EXECUTE``: the server neither parses nor plans it again for
each test. A prepared statement can vanish under it (``DEALLOCATE ALL`` or
``DISCARD ALL`` from the test or from psycopg, tddkit's own deallocation):
the ``EXECUTE`` then fails with ``invalid_sql_statement_name`` after the
rollback has run, and the same round trip is sent again, preparing it anew.
With ``prepare_threshold = 0`` (PgBouncer in transaction mode) nothing is
prepared: the statements are sent as they are.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

import psycopg

from . import advisory_locks
from .leaks.watch import LeakWatch, with_probe
from .prepared import deallocation

if TYPE_CHECKING:
    from psycopg import pq

    from .connection import ConnectionState

ROLLBACK_TO = b"ROLLBACK TO SAVEPOINT tddkit_test"


def _prepared_name(body: bytes) -> bytes:
    """The name of the statement ``body`` prepared (one name per text: a connection may serve both kinds of
    leak check)."""
    return b"tddkit_after_test_%08x" % zlib.crc32(body)


def roll_back_test(state: ConnectionState, release_locks: bytes, watch: LeakWatch | None,
                   prepare: bool) -> pq.abc.PGresult:
    """Send the per-test round trip on the connection of ``state``; the result of its last statement (the probe's
    value is its last column). ``prepare``: the after-test statement may be prepared."""
    owed = deallocation(state)
    if owed or not prepare or release_locks != advisory_locks.RELEASE_ALL:
        return state.run_internal(with_probe(ROLLBACK_TO + release_locks + owed, watch))
    name = state.after_test
    if name is not None:
        try:
            return state.run_internal(ROLLBACK_TO + b"; EXECUTE " + name)
        except psycopg.errors.InvalidSqlStatementName:  # deallocated since: the rollback ran, prepare it again
            state.after_test = None
    body = with_probe(release_locks, watch)[2:]  # without the leading "; "
    name = _prepared_name(body)
    try:
        result = state.run_internal(ROLLBACK_TO + b"; PREPARE " + name + b" AS " + body + b"; EXECUTE " + name)
    except psycopg.errors.DuplicatePreparedStatement:  # still prepared, though the state had lost track of it
        result = state.run_internal(ROLLBACK_TO + b"; EXECUTE " + name)
    state.after_test = name
    return result
