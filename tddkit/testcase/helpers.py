"""TDDTestCase's helpers for test data and application code: temp tables, rows, more connections, SQLAlchemy.

A mixin of TDDTestCase; everything runs on the class's connection
(``cls.conn``) or, for the connections it lends, inside the running test.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from psycopg import sql

from ..isolation.connection import GuardedConnection
from ..isolation.temp_tables import resolve_template, schema_cache
from ..session.session import get_session

if TYPE_CHECKING:
    from ..isolation.class_transaction import ClassTransaction
    from ..isolation.scope import TestScope

TableName = str | tuple[str, ...]


def _identifier(name: TableName) -> sql.Identifier:
    return sql.Identifier(*name) if isinstance(name, tuple) else sql.Identifier(name)


class DataHelpers:
    """Helpers for test data and application code (mixed into TDDTestCase)."""

    conn: GuardedConnection
    table_templates: ClassVar[dict[str, str]]

    if TYPE_CHECKING:  # provided by TDDTestCase and unittest.TestCase
        def _tddkit_current_scope(self, what: str) -> TestScope: ...

        def _tddkit_current_transaction(self, what: str) -> ClassTransaction: ...

        def addCleanup(self, function: Any, /, *args: Any, **kwargs: Any) -> None: ...

    @classmethod
    def create_temp_table(cls, template_name: str, table_name: str | None = None) -> str:
        """Create a temp table from a named template; return its name (default: the template's).

        Served from the SchemaCache when the connection already holds it (no DDL).
        """
        _, columns = resolve_template(template_name, get_session().settings.table_templates, cls.table_templates)
        name = table_name or template_name
        schema_cache.create(cls.conn, name, columns)
        return name

    @classmethod
    def insert_rows(cls, table: TableName, rows: Sequence[Mapping[str, Any]]) -> int:
        """Insert dicts as rows (column names from the first row); return how many."""
        if not rows:
            return 0
        columns = list(rows[0])
        query = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
            _identifier(table),
            sql.SQL(", ").join(map(sql.Identifier, columns)),
            sql.SQL(", ").join(sql.Placeholder() * len(columns)),
        )
        with cls.conn.cursor() as cur:
            cur.executemany(query, [[row[c] for c in columns] for row in rows])
        return len(rows)

    def extra_connection(self) -> GuardedConnection:
        """Borrow one more pooled connection for this test: a separate session, in a transaction of its own.

        It does not see what ``self.conn`` has not committed (use it to test
        locking or what other sessions see); it is guarded like ``self.conn``.
        After the test it is rolled back, reset (``DISCARD ALL``) and returned.
        """
        conn = self._tddkit_current_transaction("extra_connection()").lender.getconn()
        conn._tddkit.guard(True)
        return conn

    # --- application code --------------------------------------------------------------

    def sqlalchemy_connection(self) -> Any:
        """A SQLAlchemy ``Connection`` on the test's connection (dialect ``postgresql+psycopg``).

        Its commits are kept within the test and undone after it, like ``self.pool``'s.
        Needs ``pip install 'tddkit[sqlalchemy]'``.
        """
        from ..integrations import sqlalchemy as bridge

        scope = self._tddkit_current_scope("sqlalchemy_connection()")
        extras = self._tddkit_current_transaction("sqlalchemy_connection()").connection_extras
        if "sqlalchemy_engine" not in extras:
            extras["sqlalchemy_engine"] = bridge.engine_for(scope.conn)
        connection = bridge.connect(extras["sqlalchemy_engine"], scope.conn)
        self.addCleanup(connection.close)
        return connection

    def sqlalchemy_session(self, **session_kwargs: Any) -> Any:
        """An ORM ``Session`` joined to the test's transaction (``join_transaction_mode="create_savepoint"``):
        ``commit()``, ``rollback()`` and ``begin_nested()`` behave as in production; nothing survives the test."""
        from ..integrations import sqlalchemy as bridge

        session = bridge.session(self.sqlalchemy_connection(), **session_kwargs)
        self.addCleanup(session.close)
        return session

    @classmethod
    def fetch_all(cls, query: Any, params: Any = None) -> list[tuple[Any, ...]]:
        """Run a query on the test connection and return all rows."""
        return cls.conn.execute(query, params).fetchall()
