"""TDDTestCase: a unittest.TestCase whose tests each run in a rolled-back savepoint.

Per class: borrow one pooled connection, open a transaction, run
``setUpTestData``, set ``SAVEPOINT tddkit_test``. Per test: run it, then
``ROLLBACK TO SAVEPOINT tddkit_test`` (one round trip; the savepoint survives
and serves the next test). After the class: roll back, release the session
advisory locks its tests kept, return the connection. A connection a test
left unusable (lost, or busy with an unfinished COPY) is let go, and the next
test of the class opens a new one (``setUpTestData`` runs again).
"""

from __future__ import annotations

import contextlib
import functools
import unittest
from typing import Any, Callable, ClassVar, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import psycopg
from psycopg import pq, sql

from .connection import GuardedConnection, QueryLog
from .database import TestDatabase
from .errors import IsolationError, ServerError, TddkitError
from .instruments import memory_snapshot, record, tracer
from .metrics import ClassMetrics, TestMetrics, now, rss_bytes
from .resources import resources_of
from .session import get_session
from .templates import resolve_template, schema_cache

_SAVEPOINT = b"SAVEPOINT tddkit_test"
_ROLLBACK_TO = b"ROLLBACK TO SAVEPOINT tddkit_test"
#: Ends the class transaction and frees the session-level advisory locks its tests kept.
_END_CLASS = b"ROLLBACK; SELECT pg_advisory_unlock_all()"

TableName = Union[str, Tuple[str, ...]]

#: unittest leaves the frames of modules that set this out of failure tracebacks, as it does its own:
#: a failing test shows its own lines, never tddkit's hooks around them.
__unittest = True


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


def _short_traceback(hook: Callable[..., None]) -> Callable[..., None]:
    """Errors tddkit finds after a test show their message, not the frames of tddkit's cleanup code."""
    @functools.wraps(hook)
    def call(*args: Any, **kwargs: Any) -> None:
        try:
            hook(*args, **kwargs)
        except (TddkitError, psycopg.OperationalError) as exc:
            raise exc.with_traceback(None)
    return call


def _add_note(exc: BaseException, note: str) -> None:
    if hasattr(exc, "add_note"):  # Python 3.11+
        exc.add_note(note)


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
        cls._tddkit_opened = True
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
        """Borrow a connection and open the class transaction; a dead pooled connection is replaced."""
        db = get_session().database
        assert db is not None
        attempts = db.settings.pool_max_size + 1
        for attempt in range(attempts):
            started = now()
            try:
                conn = db.getconn()
            except TddkitError as exc:  # the pool's or the server's state: tddkit's frames would hide the message
                raise exc.with_traceback(None)
            try:
                cls._tddkit_begin(db, conn, started)
                return
            except psycopg.OperationalError:
                if not conn.lost or attempt == attempts - 1:
                    raise
                gone = db.gone_reason()
                if gone:
                    raise ServerError(gone) from None
                # a pooled connection that died while idle: try another one

    @classmethod
    def _tddkit_begin(cls, db: TestDatabase, conn: GuardedConnection, started: float) -> None:
        metrics = ClassMetrics(f"{cls.__module__}.{cls.__qualname__}")
        cls._tddkit_db, cls.conn, cls._tddkit_class = db, conn, metrics
        queries = conn.query_count
        try:
            schema_cache.prepare(conn)
            metrics.connection_ms = (now() - started) * 1000
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
        cls._tddkit_opened = False
        if cls.__dict__.get("_tddkit_db") is not None:
            cls._tddkit_release()

    @classmethod
    def _tddkit_release(cls) -> None:
        """End the class transaction and return the connection (a lost or busy one is discarded)."""
        conn, db = cls.conn, cls._tddkit_db
        cls._tddkit_db = None
        conn.guard(False)
        if conn.busy:
            conn.close()  # nothing else can end a COPY or stream the test left behind
        try:
            if not conn.closed:
                _raw(conn, _END_CLASS)
        except psycopg.Error:
            conn.close()  # its state is unknown: the pool replaces it
        finally:
            assert db is not None
            db.putconn(conn)

    @classmethod
    def _tddkit_connection(cls) -> GuardedConnection:
        """The class connection; a new one (setUpTestData runs again) if the last was let go or lost."""
        if not cls.__dict__.get("_tddkit_opened"):
            raise RuntimeError(
                f"{cls.__qualname__}.setUpClass() did not call super().setUpClass(); "
                "TDDTestCase needs it to open the class transaction"
            )
        if cls.__dict__.get("_tddkit_db") is not None and (cls.conn.lost or cls.conn.busy):
            cls._tddkit_release()
        if cls.__dict__.get("_tddkit_db") is None:
            cls._tddkit_open_class()
        return cls.conn

    # --- test level --------------------------------------------------------------------

    def _callSetUp(self) -> None:
        metrics = self._tddkit_metrics = TestMetrics(self.id())
        names = resources_of(self)
        if names:  # wait for named resources first: the wait is not connection time
            metrics.resources = names
            locks = get_session().resource_locks()
            metrics.resource_wait_ms = locks.acquire(names, self.id()) * 1000
            self.addCleanup(locks.release, names)  # runs after the rollback below
        self._tddkit_allocations = tracer.before_test()
        started = now()
        cls = type(self)
        conn = cls._tddkit_connection()
        ready = now()
        metrics.connection_ms = (ready - started) * 1000
        metrics.class_metrics = cls._tddkit_class
        metrics.rss_before = rss_bytes()
        self._tddkit_queries = (conn.query_count, conn.query_time)
        self._tddkit_phase_end = ready
        assert cls._tddkit_db is not None
        self._tddkit_borrowed = cls._tddkit_db.track_borrowed()
        self.addCleanup(self._tddkit_cleanup)  # registered first, so it runs last
        conn.guard(True)
        self._tddkit_failed = True
        super()._callSetUp()
        self._tddkit_failed = False
        self._tddkit_phase_end = now()
        metrics.setup_ms = (self._tddkit_phase_end - ready) * 1000

    def _callTestMethod(self, method) -> None:
        started = now()
        try:
            super()._callTestMethod(method)
        except BaseException as exc:
            self._tddkit_failed = True
            note = self._tddkit_explain(exc) if isinstance(exc, psycopg.Error) else None
            if note:
                _add_note(exc, note)
            raise
        finally:
            self._tddkit_phase_end = now()
            self._tddkit_metrics.body_ms = (self._tddkit_phase_end - started) * 1000

    def _tddkit_explain(self, exc: psycopg.Error) -> Optional[str]:
        """A line on what tddkit knows about a database error's cause and what to do, if anything."""
        cls, settings = type(self), get_session().settings
        if isinstance(exc, psycopg.errors.QueryCanceled) and "statement timeout" in str(exc):
            return (f"tddkit: the statement ran longer than statement_timeout = {settings.statement_timeout:g} s; "
                    "make it faster or raise the setting (TDDKIT_STATEMENT_TIMEOUT, [tool.tddkit] "
                    "statement_timeout; 0 turns it off)")
        if isinstance(exc, psycopg.errors.LockNotAvailable) and "lock timeout" in str(exc):
            return (f"tddkit: the statement waited longer than lock_timeout = {settings.lock_timeout:g} s for a "
                    "lock another connection holds. If that is this test's own self.conn, the lock lasts until "
                    "the test ends: take it on one connection only. Setting: TDDKIT_LOCK_TIMEOUT, "
                    "[tool.tddkit] lock_timeout; 0 turns it off")
        db = cls.__dict__.get("_tddkit_db")
        if isinstance(exc, psycopg.OperationalError) and db is not None and cls.conn.lost:
            gone = db.gone_reason()
            if gone:
                return f"tddkit: {gone}"
            return ("tddkit: the test's connection was lost (its backend was terminated); tddkit discards it and "
                    "gives the next test a new one (setUpTestData runs again)")
        return None

    @_short_traceback
    def _tddkit_cleanup(self) -> None:
        """Undo everything the test did; runs after tearDown and every other cleanup."""
        conn, metrics = type(self).conn, self._tddkit_metrics
        conn.guard(False)
        count, elapsed = self._tddkit_queries
        metrics.query_count = conn.query_count - count
        metrics.query_ms = (conn.query_time - elapsed) * 1000
        try:
            self._tddkit_borrowed.reclaim()  # connections the test borrowed and kept
            self._tddkit_rollback(conn)
        finally:
            metrics.rss_after = rss_bytes()
            metrics.cleanup_ms = (now() - self._tddkit_phase_end) * 1000
            if self._tddkit_allocations is not None and \
                    metrics.memory_delta > get_session().settings.memory_warning_mb * 2**20:
                metrics.allocations = tracer.top_sites(self._tddkit_allocations)
            self._tddkit_allocations = None

    def _tddkit_rollback(self, conn: GuardedConnection) -> None:
        """ROLLBACK TO the test's savepoint; a connection that cannot is let go (the next test reopens the class)."""
        cls = type(self)
        if conn.busy:
            cls._tddkit_release()
            self._tddkit_raise_if_passed(IsolationError(
                "the test left a COPY or a streamed query unfinished on self.conn, so no statement could run "
                "on it any more; finish it (use 'with cursor.copy(...)', iterate a stream to its end) or close "
                "it. tddkit closed that connection; the next test gets a new one (setUpTestData runs again)"
            ))
            return
        if conn.lost:  # the test saw it break and reported (or expected) that
            cls._tddkit_release()
            return
        if conn.info.transaction_status == pq.TransactionStatus.IDLE:
            cls._tddkit_release()
            raise IsolationError(
                "the test ended the transaction that isolates it (a COMMIT or ROLLBACK hidden in the SQL it "
                "ran?); what it committed stays in the test database. The next test starts a new class "
                "transaction (setUpTestData runs again)."
            )
        try:
            _raw(conn, _ROLLBACK_TO)
        except psycopg.Error as exc:
            cls._tddkit_release()
            if conn.lost:  # broke after the test's last statement: the test did not see it
                _add_note(exc, "tddkit: the test's connection was lost while it ran; tddkit discarded it and the "
                               "next test gets a new one (setUpTestData runs again)")
                self._tddkit_raise_if_passed(exc)
                return
            raise IsolationError(
                f"could not roll back to the test's savepoint ({exc}); did the test release it? "
                "The next test starts a new class transaction (setUpTestData runs again)."
            ) from None

    def _tddkit_raise_if_passed(self, exc: BaseException) -> None:
        """Report a problem found after the test, unless its setUp or body already failed."""
        if not self._tddkit_failed:
            raise exc

    # --- instruments ---------------------------------------------------------------------

    @_class_or_instance
    def record_metric(owner: Any, name: str, value: float, **metadata: Any) -> None:
        """Record a custom metric on this test (``self``) or, in class setup, the class (``cls``).

        Over its threshold (``[tool.tddkit.thresholds]``) it emits a PerformanceWarning
        (or fails, with ``alerts_as_failures``).
        """
        if isinstance(owner, type):
            target, label = owner._tddkit_class, owner._tddkit_class.class_name
        else:
            target, label = owner._tddkit_metrics, owner.id()
        failure = record(target, get_session().settings, label, name, value, metadata)
        if failure is not None:
            raise AssertionError(failure)

    def memory_snapshot(self, label: str) -> Dict[str, Any]:
        """RSS and VMS of this process in MB after a garbage collection; kept in the test's metrics."""
        snapshot = memory_snapshot(label)
        metrics = self._tddkit_metrics
        metrics.memory_snapshots = (*metrics.memory_snapshots, snapshot)
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

    def extra_connection(self) -> GuardedConnection:
        """Borrow one more pooled connection for this test: a separate session, in a transaction of its own.

        It does not see what ``self.conn`` has not committed (use it to test
        locking or what other sessions see); it is guarded like ``self.conn``.
        After the test it is rolled back, reset (``DISCARD ALL``) and returned.
        """
        db = type(self)._tddkit_db
        assert db is not None, "extra_connection() is for use inside a test"
        conn = db.getconn()
        conn.guard(True)
        return conn

    @classmethod
    def fetch_all(cls, query: Any, params: Any = None) -> List[tuple]:
        """Run a query on the test connection and return all rows."""
        return cls.conn.execute(query, params).fetchall()
