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
after-test statement (``after_test``), which the next rollback prepares again.
"""

from __future__ import annotations

from typing import Any, Protocol

from .._compat import forget_prepared


class ConnectionState(Protocol):
    """What of a connection's tddkit state (``connection.ConnectionState``) this module reads and sets."""

    prepared: bool
    schema_changed: bool
    after_test: bytes | None

    @property
    def conn(self) -> Any: ...

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
