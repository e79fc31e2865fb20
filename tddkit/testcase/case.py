"""TDDTestCase: a unittest.TestCase whose tests each run in a rolled-back savepoint.

The isolation itself lives in ``tddkit.isolation.class_transaction``; this module connects
unittest's hooks to it: ``setUpClass`` opens the class transaction (and runs
``setUpTestData``), ``_callSetUp`` starts the test's scope and meter, the
last cleanup rolls the test back and hands its metrics to the result
(``result.addMetrics(test, metrics)`` when the result has that method).
"""

from __future__ import annotations

import functools
import sys
import unittest
from collections.abc import Callable
from typing import Any, ClassVar

import psycopg

from .._compat import hide_from_unittest_tracebacks, method_name_of, run_as_cleanup
from ..errors import TddkitError
from ..isolation import timeouts
from ..isolation.class_transaction import ClassTransaction
from ..isolation.connection import GuardedConnection
from ..isolation.joined import JoinedPool
from ..isolation.scope import TestScope
from ..measure.instruments import memory_snapshot, record
from ..measure.meter import TestMeter
from ..measure.metrics import TestMetrics
from ..session.session import get_session
from .assertions import QueryAssertions
from .helpers import DataHelpers
from .marks import is_async, marks_of

# unittest leaves this module's frames out of failure tracebacks, as it does its own:
# a failing test shows its own lines, never tddkit's hooks around them.
hide_from_unittest_tracebacks(globals())

ASYNC_TEST = (
    "{test} is an 'async def' test: TDDTestCase runs tests synchronously on a psycopg (sync) connection, "
    "so its body would never run. Write it as a plain 'def' test, or derive the class from "
    "tddkit.AsyncTDDTestCase (self.conn is then a psycopg AsyncConnection)"
)


class _class_or_instance:
    """A method that receives the instance when called on one, else the class."""

    def __init__(self, func: Callable[..., Any]) -> None:
        self.func = func
        functools.update_wrapper(self, func)  # type: ignore[arg-type]  # a descriptor, not a callable

    def __get__(self, instance: Any, owner: type) -> Callable[..., Any]:
        return functools.partial(self.func, owner if instance is None else instance)


class _SetUpByClass:
    """A class attribute that exists once setUpClass has run (a clear error before that)."""

    def __init__(self, what: str) -> None:
        self.what = what

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = f"_tddkit_{name}"

    def __get__(self, instance: Any, owner: type) -> Any:
        value = owner.__dict__.get(self.slot)
        if value is None:
            raise TddkitError(f"{owner.__qualname__}.{self.what} exists once setUpClass has run: use it in a "
                              "test, setUp or setUpTestData (and call super().setUpClass() in your own)")
        return value


class TDDTestCase(QueryAssertions, DataHelpers, unittest.TestCase):
    """Base class for database tests: ``self.conn`` is isolated per test and per class."""

    #: The connection (a psycopg Connection), inside the class transaction: on the class, and on each test.
    conn: GuardedConnection
    #: A ``psycopg_pool.ConnectionPool`` stand-in for application code: its connections are the test's own.
    pool = _SetUpByClass("pool")
    #: The test database's connection string, for code that must open a connection of its own.
    dsn = _SetUpByClass("dsn")
    #: True: ``self.conn.commit()`` / ``rollback()`` act as on ``self.pool``'s connections (None: the setting).
    commit_as_savepoint: ClassVar[bool | None] = None
    #: Extra temp-table templates for ``create_temp_table``: name -> column definitions.
    table_templates: ClassVar[dict[str, str]] = {}
    #: True: no N+1 alert for this class's tests (``@tddkit.allow_repeated_queries`` does it per test).
    allow_repeated_queries: ClassVar[bool] = False

    _tddkit_transaction: ClassVar[ClassTransaction | None] = None
    _tddkit_timeout: ClassVar[float] = 0.0  # test_timeout (0: off)
    _tddkit_pool: ClassVar[JoinedPool]
    _tddkit_pool_type: ClassVar[type[JoinedPool]] = JoinedPool  # what self.pool is (AsyncTDDTestCase: the async one)
    _tddkit_dsn: ClassVar[str]
    _tddkit_scope: TestScope | None = None
    _tddkit_async: ClassVar[bool] = False  # async def tests run (AsyncTDDTestCase)
    _tddkit_result: Any = None
    _tddkit_async_method = False  # the running test's method is 'async def'
    _tddkit_held: tuple[str, ...] = ()  # the named resources the running test holds

    # --- class level -------------------------------------------------------------------

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        session = get_session(config_near=getattr(sys.modules.get(cls.__module__), "__file__", None))
        if session._lender is None:
            raise TddkitError("the tddkit session has no test database (a parallel run's parent process?)")
        transaction = cls._tddkit_transaction = ClassTransaction(
            session._lender, name=f"{cls.__module__}.{cls.__qualname__}", shared_data=cls._tddkit_shared_data,
            commit_as_savepoint=cls.commit_as_savepoint)
        cls._tddkit_pool = cls._tddkit_pool_type(transaction, name=f"tddkit pool of {cls.__qualname__}")
        cls._tddkit_dsn = session.dsn
        cls._tddkit_timeout = session.settings.test_timeout
        cls.conn = transaction.connection()

    @classmethod
    def tearDownClass(cls) -> None:
        try:
            transaction = cls.__dict__.get("_tddkit_transaction")
            if transaction is not None:
                transaction.release()
                cls._tddkit_transaction = None
        finally:
            super().tearDownClass()

    @classmethod
    def setUpTestData(cls) -> None:
        """Create data shared by every test of the class (rolled back after the class)."""

    @classmethod
    def _tddkit_shared_data(cls, conn: GuardedConnection) -> None:
        cls.conn = conn
        cls.setUpTestData()

    @classmethod
    def _tddkit_class_transaction(cls) -> ClassTransaction:
        transaction: ClassTransaction | None = cls.__dict__.get("_tddkit_transaction")
        if transaction is None:
            raise TddkitError(
                f"{cls.__qualname__}.setUpClass() did not call super().setUpClass(); "
                "TDDTestCase needs it to open the class transaction"
            )
        return transaction

    # --- test level --------------------------------------------------------------------

    def run(self, result: unittest.TestResult | None = None) -> unittest.TestResult | None:
        self._tddkit_result = result  # the test's metrics go to it (addMetrics) after the test
        try:
            return super().run(result)
        finally:
            timeouts.disarm()  # also when an interrupt skipped the cleanups

    def _callSetUp(self) -> None:
        cls = type(self)
        allow_repeated, names, is_async = marks_of(cls, method_name_of(self))
        meter = TestMeter.start(self.id(), allow_repeated)
        if names:  # wait for named resources first: the wait is not connection time
            locks = get_session()._resource_locks()
            meter.metrics.resources = names
            meter.metrics.resource_wait_ms = locks.acquire(names, self.id()) * 1000
            self._tddkit_held = names  # released after the rollback (``_tddkit_end_test``)
            meter.restart()
        scope = self._tddkit_scope = cls._tddkit_class_transaction().begin_test(meter)
        self._tddkit_async_method = is_async
        # A new connection if the last one was lost.
        self._tddkit_bind(scope.conn)
        if self._tddkit_timeout:
            timeouts.arm(self._tddkit_timeout, scope.conn._tddkit.cancel_running)
        scope.failed = True
        super()._callSetUp()  # type: ignore[misc]  # private, not in typeshed (see _compat.OVERRIDDEN_HOOKS)
        scope.failed = False
        meter.set_up()

    def _tddkit_bind(self, conn: GuardedConnection) -> None:
        """Hand the test its connection: on the instance too, so a thread the test starts keeps this test's
        connection (closed if the thread outlives the test) rather than the next test's."""
        cls = type(self)
        if cls.__dict__.get("conn") is not conn:  # setting a class attribute costs every later lookup on the class
            cls.conn = conn
        self.conn = conn

    def _callTestMethod(self, method: Callable[[], Any]) -> None:
        scope = self._tddkit_scope
        if scope is None:
            raise TddkitError(f"{type(self).__qualname__}._callSetUp() did not run TDDTestCase's; call super()")
        try:
            if self._tddkit_async_method and not self._tddkit_async and is_async(method):
                raise TddkitError(ASYNC_TEST.format(test=self.id()))
            super()._callTestMethod(method)  # type: ignore[misc]  # private, not in typeshed
        except BaseException as exc:
            scope.failed = True
            note = scope.explain(exc) if isinstance(exc, psycopg.Error) else None
            if note:
                exc.add_note(note)
            raise
        finally:
            failure = scope.body_done()
        if failure:  # alerts_as_failures: an N+1 fails the test
            raise AssertionError(failure)

    def doCleanups(self) -> bool:  # type: ignore[override]  # unittest's returns a bool; typeshed says None
        """unittest's cleanups (the test's own, last added first), then the test's rollback, whose error is the
        test's as a cleanup's would be."""
        done: bool = super().doCleanups()  # type: ignore[assignment]
        if self._tddkit_scope is None:
            return done
        return run_as_cleanup(self, self._tddkit_end_test) and done

    def debug(self) -> None:
        try:
            super().debug()
        finally:
            self._tddkit_end_test()  # TestCase.debug runs the cleanups itself, not doCleanups

    def _tddkit_end_test(self) -> None:
        """Undo everything the test did and hand its metrics to the result; runs after every other cleanup."""
        timeouts.disarm()
        scope = self._tddkit_scope
        if scope is None:
            return
        try:
            scope.catch_up = getattr(self._tddkit_result, "catch_up", None)  # the result's bookkeeping, meanwhile
            type(self)._tddkit_class_transaction().end_test(scope)
        except (TddkitError, psycopg.OperationalError, AssertionError) as exc:
            # Errors tddkit finds after a test show their message, not the frames of tddkit's cleanup code.
            raise exc.with_traceback(None)  # noqa: B904 - the same exception, without tddkit's frames
        finally:
            self._tddkit_scope = None
            if self._tddkit_held:
                held, self._tddkit_held = self._tddkit_held, ()
                get_session()._resource_locks().release(held)
            add_metrics = getattr(self._tddkit_result, "addMetrics", None)
            if add_metrics is not None:
                add_metrics(self, scope.meter.metrics)

    def _tddkit_metrics(self) -> TestMetrics:
        return self._tddkit_current_scope("record_metric() and memory_snapshot()").meter.metrics

    # --- instruments ---------------------------------------------------------------------

    @_class_or_instance
    def record_metric(owner: Any, name: str, value: float, **metadata: Any) -> None:
        """Record a custom metric on this test (``self``) or, in class setup, the class (``cls``).

        Over its threshold (``[tool.tddkit.thresholds]``) it emits a PerformanceWarning
        (or fails, with ``alerts_as_failures``).
        """
        if isinstance(owner, type):
            transaction = owner._tddkit_class_transaction()  # type: ignore[attr-defined]  # a TDDTestCase class
            target, label = transaction.metrics, transaction.name
        else:
            target, label = owner._tddkit_metrics(), owner.id()
        failure = record(target, get_session().settings, label, name, value, metadata)
        if failure is not None:
            raise AssertionError(failure)

    def memory_snapshot(self, label: str) -> dict[str, Any]:
        """RSS and VMS of this process in MB after a garbage collection; kept in the test's metrics."""
        snapshot = memory_snapshot(label)
        metrics = self._tddkit_metrics()
        metrics.memory_snapshots = (*metrics.memory_snapshots, snapshot)
        return snapshot

    def _tddkit_current_scope(self, what: str) -> TestScope:
        if self._tddkit_scope is None:
            raise TddkitError(f"{what} is for use inside a test (a test method, setUp or tearDown)")
        return self._tddkit_scope

    def _tddkit_current_transaction(self, what: str) -> ClassTransaction:
        self._tddkit_current_scope(what)
        return type(self)._tddkit_class_transaction()
