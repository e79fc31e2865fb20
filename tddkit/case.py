"""TDDTestCase: a unittest.TestCase whose tests each run in a rolled-back savepoint.

Per class: borrow one pooled connection, open a transaction, run
``setUpTestData``, set ``SAVEPOINT tddkit_test``. Per test: run it, then
``ROLLBACK TO SAVEPOINT tddkit_test`` (one round trip; the savepoint survives
and serves the next test). After the class: roll back, return the connection.
"""

from __future__ import annotations

import contextlib
import functools
import unittest
from typing import Any, ClassVar, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import psycopg
from psycopg import pq, sql

from .connection import GuardedConnection, QueryLog
from .database import TestDatabase
from .errors import IsolationError
from .instruments import memory_snapshot, record, tracer
from .metrics import ClassMetrics, TestMetrics, now, rss_bytes
from .resources import resources_of
from .session import get_session
from .templates import resolve_template, schema_cache

_SAVEPOINT = b"SAVEPOINT tddkit_test"
_ROLLBACK_TO = b"ROLLBACK TO SAVEPOINT tddkit_test"

TableName = Union[str, Tuple[str, ...]]


def _raw(conn: psycopg.Connection, statement: bytes) -> None:
    """Run a framework statement: not counted, not guarded, never prepared."""
    psycopg.Cursor(conn).execute(statement, prepare=False)


def _identifier(name: TableName) -> sql.Identifier:
    return sql.Identifier(*name) if isinstance(name, tuple) else sql.Identifier(name)


class _class_or_instance:
    """A method that receives the instance when called on one, else the class."""

    def __init__(self, func) -> None:
        self.func = func
        functools.update_wrapper(self, func)

    def __get__(self, instance, owner):
        return functools.partial(self.func, owner if instance is None else instance)


class TDDTestCase(unittest.TestCase):
    """Base class for database tests: ``self.conn`` is isolated per test and per class."""

    #: The class's connection (a psycopg Connection), inside the class transaction.
    conn: ClassVar[GuardedConnection]
    #: Extra temp-table templates for ``create_temp_table``: name -> column definitions.
    table_templates: ClassVar[Dict[str, str]] = {}

    _tddkit_db: ClassVar[Optional[TestDatabase]] = None
    _tddkit_class: ClassVar[Optional[ClassMetrics]] = None

    # --- class level -------------------------------------------------------------------

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls._tddkit_open_class()

    @classmethod
    def tearDownClass(cls) -> None:
        try:
            cls._tddkit_close_class()
        finally:
            super().tearDownClass()

    @classmethod
    def setUpTestData(cls) -> None:
        """Create data shared by every test of the class (rolled back after the class)."""

    @classmethod
    def _tddkit_open_class(cls) -> None:
        started = now()
        db = get_session().database
        assert db is not None
        conn = db.getconn()
        schema_cache.prepare(conn)
        metrics = ClassMetrics(f"{cls.__module__}.{cls.__qualname__}", connection_ms=(now() - started) * 1000)
        cls._tddkit_db, cls.conn, cls._tddkit_class = db, conn, metrics
        queries = conn.query_count
        try:
            conn.guard(True)
            cls.setUpTestData()
            conn.guard(False)
            _raw(conn, _SAVEPOINT)  # psycopg sends BEGIN first if setUpTestData ran nothing
        except BaseException:
            cls._tddkit_release()
            raise
        metrics.query_count = conn.query_count - queries
        metrics.setup_ms = (now() - started) * 1000

    @classmethod
    def _tddkit_close_class(cls) -> None:
        if cls.__dict__.get("_tddkit_db") is not None:
            cls._tddkit_release()

    @classmethod
    def _tddkit_release(cls) -> None:
        """Roll back the class transaction and return the connection to the pool."""
        conn, db = cls.conn, cls._tddkit_db
        cls._tddkit_db = None
        conn.guard(False)
        try:
            if not conn.closed:
                conn.rollback()
        except psycopg.Error:
            pass  # a broken connection: the pool discards it
        finally:
            assert db is not None
            db.putconn(conn)

    @classmethod
    def _tddkit_connection(cls) -> GuardedConnection:
        """The class connection, reopened (with setUpTestData) if it was lost."""
        if cls.__dict__.get("_tddkit_db") is None:
            raise RuntimeError(
                f"{cls.__qualname__}.setUpClass() did not call super().setUpClass(); "
                "TDDTestCase needs it to open the class transaction"
            )
        conn = cls.conn
        if conn.closed or conn.broken:
            cls._tddkit_release()
            cls._tddkit_open_class()
            conn = cls.conn
        return conn

    # --- test level --------------------------------------------------------------------

    def _callSetUp(self) -> None:
        metrics = self._tddkit_metrics = TestMetrics(self.id())
        names = resources_of(self)
        if names:  # wait for named resources first: the wait is not connection time
            metrics.resources = list(names)
            locks = get_session().resource_locks()
            metrics.resource_wait_ms = locks.acquire(names, self.id()) * 1000
            self.addCleanup(locks.release, names)  # runs after the rollback below
        self._tddkit_allocations = tracer.before_test()
        started = now()
        conn = type(self)._tddkit_connection()
        ready = now()
        metrics.connection_ms = (ready - started) * 1000
        metrics.class_metrics = type(self)._tddkit_class
        metrics.rss_before = rss_bytes()
        self._tddkit_queries = (conn.query_count, conn.query_time)
        self._tddkit_phase_end = ready
        self.addCleanup(self._tddkit_cleanup)  # registered first, so it runs last
        conn.guard(True)
        super()._callSetUp()
        self._tddkit_phase_end = now()
        metrics.setup_ms = (self._tddkit_phase_end - ready) * 1000

    def _callTestMethod(self, method) -> None:
        started = now()
        try:
            super()._callTestMethod(method)
        finally:
            self._tddkit_phase_end = now()
            self._tddkit_metrics.body_ms = (self._tddkit_phase_end - started) * 1000

    def _tddkit_cleanup(self) -> None:
        """Undo everything the test did; runs after tearDown and every other cleanup."""
        cls, conn, metrics = type(self), type(self).conn, self._tddkit_metrics
        conn.guard(False)
        count, elapsed = self._tddkit_queries
        metrics.query_count = conn.query_count - count
        metrics.query_ms = (conn.query_time - elapsed) * 1000
        try:
            self._tddkit_rollback(cls, conn)
        finally:
            metrics.rss_after = rss_bytes()
            metrics.cleanup_ms = (now() - self._tddkit_phase_end) * 1000
            if self._tddkit_allocations is not None and \
                    metrics.memory_delta > get_session().settings.memory_warning_mb * 2**20:
                metrics.allocations = tracer.top_sites(self._tddkit_allocations)
            self._tddkit_allocations = None

    @staticmethod
    def _tddkit_rollback(cls: type, conn: GuardedConnection) -> None:
        status = conn.info.transaction_status
        if conn.closed or conn.broken or status == pq.TransactionStatus.UNKNOWN:
            cls._tddkit_release()  # the pool discards it
            cls._tddkit_open_class()
            return
        if status == pq.TransactionStatus.IDLE:
            cls._tddkit_release()
            cls._tddkit_open_class()
            raise IsolationError(
                "the test ended the transaction that isolates it (a COMMIT or ROLLBACK hidden in the SQL it "
                "ran?); what it committed stays in the test database. tddkit started a new class transaction."
            )
        try:
            _raw(conn, _ROLLBACK_TO)
        except psycopg.Error as exc:
            cls._tddkit_release()
            cls._tddkit_open_class()
            raise IsolationError(
                f"could not roll back to the test's savepoint ({exc}); did the test release it? "
                "tddkit started a new class transaction"
            ) from None

    # --- instruments ---------------------------------------------------------------------

    @_class_or_instance
    def record_metric(owner: Any, name: str, value: float, **metadata: Any) -> None:
        """Record a custom metric on this test (``self``) or, in class setup, the class (``cls``).

        Over its threshold (``[tool.tddkit.thresholds]``) it emits a PerformanceWarning
        (or fails, with ``alerts_as_failures``).
        """
        if isinstance(owner, type):
            target, label = owner._tddkit_class.custom, owner._tddkit_class.class_name
        else:
            target, label = owner._tddkit_metrics.custom, owner.id()
        failure = record(target, get_session().settings, label, name, value, metadata)
        if failure is not None:
            raise AssertionError(failure)

    def memory_snapshot(self, label: str) -> Dict[str, Any]:
        """RSS and VMS of this process in MB after a garbage collection; kept in the test's metrics."""
        snapshot = memory_snapshot(label)
        self._tddkit_metrics.memory_snapshots.append(snapshot)
        return snapshot

    # --- helpers -----------------------------------------------------------------------

    @contextlib.contextmanager
    def assertNumQueries(self, expected: int) -> Iterator[QueryLog]:
        """Fail unless the block runs exactly ``expected`` SQL statements on ``self.conn``."""
        conn = type(self).conn
        log, previous = QueryLog(), conn._tddkit_log
        conn._tddkit_log = log
        try:
            yield log
        finally:
            conn._tddkit_log = previous
            if previous is not None:
                previous.statements.extend(log.statements)
        if len(log.statements) != expected:
            listing = "\n".join(f"  {i}. {text.strip()[:200]}" for i, (text, _) in enumerate(log.statements, 1))
            self.fail(f"{len(log.statements)} queries executed, {expected} expected\nQueries:\n{listing or '  (none)'}")

    @classmethod
    def create_temp_table(cls, template_name: str, table_name: Optional[str] = None) -> str:
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

    @classmethod
    def fetch_all(cls, query: Any, params: Any = None) -> List[tuple]:
        """Run a query on the test connection and return all rows."""
        return cls.conn.execute(query, params).fetchall()
