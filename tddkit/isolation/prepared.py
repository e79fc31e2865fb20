"""Prepared statements on a test's connection: psycopg's (``prepare_threshold``) and SQL ``PREPARE``'s.

Both outlive a rollback. psycopg's stay prepared from test to test, so a
statement a suite runs often is parsed and planned once per connection, as on a
hand-written one. A test that runs DDL, SET, a DO block or a procedure
(``statements.SCHEMA``) may change what they were planned for, and so does the
rollback that undoes it (PostgreSQL: ``cached plan must not change result
type``): psycopg forgets them when the statement is screened, and the rollback
deallocates them in its own round trip. Shared data's DDL lasts until its
scope's rollback, which deallocates them then. Statements a test made with SQL
``PREPARE`` are deallocated by its rollback, and so is tddkit's own
after-test statement, which the next rollback prepares again.

The statement that follows each test's rollback (the release of the session
advisory locks the test took, the leak check's probe) is tddkit's own: in the
common case (the scope holds no advisory locks, nothing to deallocate) the
connection prepares it once with SQL ``PREPARE`` and runs it with ``EXECUTE``,
so the server neither parses nor plans it again for each test. When it has
vanished (``DEALLOCATE ALL`` or ``DISCARD ALL`` from the test or from psycopg)
the ``EXECUTE`` fails after the rollback has run, and the round trip is sent
again, preparing it anew. With ``prepare_threshold = 0`` (PgBouncer in
transaction mode) it is sent as plain SQL.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import psycopg

from .._compat import forget_prepared

if TYPE_CHECKING:
    from psycopg import pq


class ConnectionState(Protocol):
    """What of a connection's tddkit state (``connection.ConnectionState``) this module reads and sets."""

    prepared: bool
    schema_changed: bool
    after_test: bytes | None

    @property
    def conn(self) -> Any: ...

    def run_internal(self, statement: bytes, while_waiting: Callable[[], None] | None = None) -> pq.abc.PGresult: ...

ROLLBACK_TO = b"ROLLBACK TO SAVEPOINT tddkit_test"

#: Deallocates every statement SQL ``PREPARE`` made on the connection (psycopg's own are not made by SQL).
DEALLOCATE_SQL_PREPARED = (b"; DO $$DECLARE n text; BEGIN FOR n IN SELECT name FROM pg_prepared_statements WHERE "
                           b"from_sql LOOP EXECUTE format('DEALLOCATE %I', n); END LOOP; END $$")
#: Deallocates every prepared statement: psycopg's and SQL ``PREPARE``'s.
DEALLOCATE_ALL = b"; DEALLOCATE ALL"


def schema_changed(state: ConnectionState) -> None:
    """A test's statement may change the schema: psycopg's statements go now, and again after the rollback."""
    state.schema_changed = True
    state.after_test = None  # psycopg's DEALLOCATE ALL takes it too
    forget_prepared(state.conn, deallocate=True)


def deallocation(state: ConnectionState, scope_changed: bool = False) -> bytes:
    """What to send with a rollback (b"" when nothing): after a schema change (the test's, or ``scope_changed``: its
    scope's shared data's), deallocate every prepared statement, and psycopg forgets its own; after a SQL
    ``PREPARE`` (even one that failed), the statements SQL made."""
    if state.schema_changed or scope_changed:
        state.schema_changed = state.prepared = False
        state.after_test = None
        forget_prepared(state.conn, deallocate=False)
        return DEALLOCATE_ALL
    if not state.prepared:
        return b""
    state.prepared = False
    state.after_test = None  # made by SQL PREPARE too
    return DEALLOCATE_SQL_PREPARED


def _prepared_name(body: bytes) -> bytes:
    """The name of the statement ``body`` prepared (one name per text: a connection may serve both kinds of
    leak check)."""
    return b"tddkit_after_test_%08x" % zlib.crc32(body)


def run_after_test(state: ConnectionState, body: Callable[[], bytes],
                   while_waiting: Callable[[], None] | None = None) -> pq.abc.PGresult:
    """``ROLLBACK TO`` the test's savepoint, then ``body()`` (the statement that follows it, the same for every test
    of the connection), prepared once: one round trip (``while_waiting`` runs meanwhile); the result of ``body()``."""
    statement = state.after_test
    if statement is not None:
        try:
            return state.run_internal(statement, while_waiting)
        except psycopg.errors.InvalidSqlStatementName:  # deallocated since: the rollback ran, prepare it again
            state.after_test = None
            while_waiting = None  # it ran
    text = body()
    name = _prepared_name(text)
    execute = ROLLBACK_TO + b"; EXECUTE " + name
    try:
        result = state.run_internal(ROLLBACK_TO + b"; PREPARE " + name + b" AS " + text + b"; EXECUTE " + name,
                                    while_waiting)
    except psycopg.errors.DuplicatePreparedStatement:  # still prepared, though the state had lost track of it
        result = state.run_internal(execute)
    state.after_test = execute
    return result
