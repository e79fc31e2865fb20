"""TestScope: one running test inside a ClassTransaction, rolled back to the scope's savepoint when it ends."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Optional

import psycopg
from psycopg import pq

from .._compat import running_threads
from ..errors import IsolationError
from ..measure.instruments import tracer
from ..measure.meter import TestMeter
from ..measure.metrics import TestMetrics
from ..measure.queries import alert_repeated
from . import leaks
from .connection import GuardedConnection
from .lending import Borrowed

if TYPE_CHECKING:
    from .class_transaction import ClassTransaction

ROLLBACK_TO = b"ROLLBACK TO SAVEPOINT tddkit_test"

LOST_NOTE = ("tddkit: the test's connection was lost while it ran; tddkit discarded it and the next test gets a "
             "new one (setUpTestData runs again)")


class TestScope:
    """One running test: ``end()`` rolls back everything it did and returns its metrics."""

    __test__ = False

    def __init__(self, transaction: "ClassTransaction", conn: GuardedConnection, meter: TestMeter,
                 borrowed: Borrowed) -> None:
        self.transaction = transaction
        self.conn = conn
        self.meter = meter
        self.borrowed = borrowed
        #: Set by the caller when the test's setUp or body failed: problems found afterwards are not reported.
        self.failed = False
        self._allocations = tracer.before_test()
        self._threads = frozenset(running_threads())

    def end(self) -> TestMetrics:
        """Undo the test: return what it borrowed, roll back to the savepoint; raise what went wrong after it."""
        conn, meter = self.conn, self.meter
        self.transaction.in_use = False
        conn.guard(False)
        conn.joins.clear()  # units of work app code left open: the rollback below undoes them
        conn.statement_log = None
        meter.queries_done(conn.query_count, conn.query_time)
        try:
            self.borrowed.reclaim()  # connections the test borrowed and kept
            self._check_threads()
            self._rollback()
            self.transaction.clean_at = conn.query_count
        finally:
            self.transaction.between_tests()
            metrics = meter.finish()
            if self._allocations is not None and \
                    metrics.memory_delta > self.transaction.settings.memory_warning_mb * 2**20:
                metrics.allocations = tracer.top_sites(self._allocations)
            self._allocations = None
        if metrics.repeated_statements:
            failure = alert_repeated(metrics.test_id, metrics.repeated_statements,
                                     as_failure=self.transaction.settings.alerts_as_failures)
            if failure:
                self._report(AssertionError(failure))
        return metrics

    def _check_threads(self) -> None:
        """A thread the test started and left running could write into the next test: close the connection
        (its next statement fails) and fail the test naming it."""
        if threading.active_count() <= len(self._threads):
            return
        left = [t for t in threading.enumerate() if t.ident not in self._threads and t.is_alive()]
        if not left:
            return
        names = ", ".join(repr(t.name) for t in left)
        self.conn.cancel_running()  # a statement the thread is waiting on ends now, not when the server is done
        self.transaction.release(close=True)
        raise IsolationError(
            f"the test left thread {names} running; it could still use the test's connection and write into the "
            "next test. Join the threads a test starts before it ends (thread.join()). tddkit closed the "
            "connection; the next test gets a new one (setUpTestData runs again)")

    def _rollback(self) -> None:
        """ROLLBACK TO the test's savepoint; a connection that cannot is let go (the next test reopens the scope)."""
        conn, transaction = self.conn, self.transaction
        if conn.busy:
            transaction.release()
            self._report(IsolationError(
                "the test left a COPY or a streamed query unfinished on self.conn, so no statement could run "
                "on it any more; finish it (use 'with cursor.copy(...)', iterate a stream to its end) or close "
                "it. tddkit closed that connection; the next test gets a new one (setUpTestData runs again)"
            ))
            return
        if conn.lost:  # the test saw it break and reported (or expected) that
            transaction.release()
            return
        if conn.info.transaction_status == pq.TransactionStatus.IDLE:
            transaction.release()
            transaction.lender.reset_database()
            raise IsolationError(
                "the test ended the transaction that isolates it (a COMMIT or ROLLBACK hidden in the SQL it "
                "ran?). tddkit cloned the test database again from the schema template, so what it committed "
                "is gone; the next test starts a new class transaction (setUpTestData runs again)."
            )
        try:
            leaked = self._rollback_to_savepoint(conn)
        except psycopg.Error as exc:
            transaction.release()
            if conn.lost:  # broke after the test's last statement: the test did not see it
                exc.add_note(LOST_NOTE)
                self._report(exc)
                return
            raise IsolationError(
                f"could not roll back to the test's savepoint ({exc}); did the test release it? "
                "The next test starts a new class transaction (setUpTestData runs again)."
            ) from None
        if leaked:
            transaction.release()
            transaction.lender.reset_database()
            raise leaks.leak_error(leaked)

    def _rollback_to_savepoint(self, conn: GuardedConnection) -> Optional[str]:
        """The per-test rollback (with the release of the advisory locks the test took); with the leak check,
        what other connections changed (else None)."""
        transaction = self.transaction
        also = transaction.release_locks + conn.deallocate_sql() if conn.prepared else transaction.release_locks
        if not transaction.settings.leak_check:
            conn.run_internal(ROLLBACK_TO + also)
            return None
        if not conn.run_internal(leaks.rollback_and_check(transaction.leak_mark, also)).ntuples:
            return None
        return leaks.changes_since(conn.internal_cursor(), transaction.leak_mark)

    def _report(self, exc: BaseException) -> None:
        """Raise a problem found after the test, unless its setUp or body already failed."""
        if not self.failed:
            raise exc
