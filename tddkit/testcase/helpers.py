"""TDDTestCase's helpers for test data and application code: temp tables, rows, more connections, SQLAlchemy.

A mixin of TDDTestCase; everything runs on the class's connection
(``cls.conn``; for an async class the sync connection under it) or, for the connections it lends, inside
the running test.
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
        schema_cache.create(cls.conn._tddkit.conn, name, columns)
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
        with cls.conn._tddkit.conn.cursor() as cur:
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

    def sqlalchemy_engine(self) -> Any:
        """A SQLAlchemy ``Engine`` (dialect ``postgresql+psycopg``) whose connections are the test's own, each a
        unit of work of its own: ``engine.begin()`` commits are kept within the test, closing one never undoes
        another's work, and nothing survives the test. Needs ``pip install 'tddkit[sqlalchemy]'``."""
        from ..integrations import sqlalchemy as bridge

        transaction = self._tddkit_current_transaction("sqlalchemy_engine()")
        return bridge.engine(transaction.active_connection, transaction.name)

    def sqlalchemy_connection(self) -> Any:
        """The test's SQLAlchemy ``Connection`` (the same one for every call in a test, closed after it), from
        ``sqlalchemy_engine()``: its commits are kept within the test and undone after it."""
        scope = self._tddkit_current_scope("sqlalchemy_connection()")
        connection = scope.extras.get("sqlalchemy_connection")
        if connection is None or connection.closed:
            connection = scope.extras["sqlalchemy_connection"] = self.sqlalchemy_engine().connect()
            self.addCleanup(connection.close)
        return connection

    def sqlalchemy_session(self, **session_kwargs: Any) -> Any:
        """An ORM ``Session`` on ``sqlalchemy_connection()`` (``join_transaction_mode="create_savepoint"``):
        ``commit()``, ``rollback()`` and ``begin_nested()`` behave as in production; nothing survives the test.
        Closed after the test."""
        from ..integrations import sqlalchemy as bridge

        session = bridge.session(self.sqlalchemy_connection(), **session_kwargs)
        self.addCleanup(session.close)
        return session

    @classmethod
    def fetch_all(cls, query: Any, params: Any = None) -> list[tuple[Any, ...]]:
        """Run a query on the test connection and return all rows."""
        return cls.conn._tddkit.conn.execute(query, params).fetchall()
