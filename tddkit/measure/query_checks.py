"""Checks on the SQL a test runs: a block's statement count, a query's plan and index use.

TDDTestCase's ``assertNumQueries`` / ``assertMaxQueries`` / ``explain`` /
``assertUsesIndex`` / ``assertNoSeqScan`` and the pytest fixture
``tddkit_queries`` are both a ``QueryChecks`` on the test's connection,
failing the test their own way (``fail``). The counts see every statement
run on that connection (the test's own, its pool's, SQLAlchemy's), never
tddkit's (its savepoints, the plans' EXPLAIN). Failures show the test's
line: unittest and pytest leave this module's frames out of tracebacks.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, NoReturn, Protocol

from .._compat import hide_from_unittest_tracebacks
from . import plans

hide_from_unittest_tracebacks(globals())
__tracebackhide__ = True  # pytest's name for the same


class Captured(Protocol):
    """The statements of a ``capture_queries()`` block (``tddkit.measure.queries.QueryCapture``)."""

    def __len__(self) -> int: ...

    def listing(self, limit: int = 200) -> str: ...


class Guarded(plans.Guarded, Protocol):
    """What the checks use of the test's connection (a ``tddkit.isolation.connection.GuardedConnection``)."""

    def capture_queries(self) -> AbstractContextManager[Captured]: ...


Fail = Callable[[str], NoReturn]


class QueryCount:
    """A block whose statement count is checked when it ends: ``expected`` exactly, or with ``at_most`` no more;
    else ``fail`` with the statements listed. Entering it gives the capture (its statements so far)."""

    def __init__(self, conn: Guarded, expected: int, fail: Fail, *, at_most: bool = False) -> None:
        self.expected = expected
        self.at_most = at_most
        self._fail = fail
        self._capturing = conn.capture_queries()

    def __enter__(self) -> Captured:
        self._capture = self._capturing.__enter__()
        return self._capture

    def __exit__(self, *exc_info: Any) -> None:
        self._capturing.__exit__(*exc_info)
        if exc_info[0] is None:
            self.check(self._capture)

    def check(self, capture: Captured) -> None:
        count = len(capture)
        if count > self.expected if self.at_most else count != self.expected:
            bound = "at most " if self.at_most else ""
            self._fail(f"{count} queries executed, {bound}{self.expected} expected\nQueries:\n{capture.listing()}")


class QueryChecks:
    """The query checks of one test, on its connection ``conn``; a failed check calls ``fail(message)``."""

    def __init__(self, conn: Guarded, fail: Fail) -> None:
        self.conn = conn
        self._fail = fail

    def assert_num(self, expected: int) -> QueryCount:
        """A block that must run exactly ``expected`` SQL statements."""
        return QueryCount(self.conn, expected, self._fail)

    def assert_max(self, limit: int) -> QueryCount:
        """A block that may run at most ``limit`` SQL statements."""
        return QueryCount(self.conn, limit, self._fail, at_most=True)

    def explain(self, query: Any, params: Any = None, *, analyze: bool = False) -> dict[str, Any]:
        """PostgreSQL's JSON plan of ``query`` (``{"Plan": {...}, ...}``); ``analyze`` runs it too. Inside a
        savepoint that is rolled back: a write leaves nothing behind."""
        plan: dict[str, Any] = plans.explain(self.conn, query, params, analyze=analyze)
        return plan

    def assert_uses_index(self, query: Any, params: Any, index_name: str) -> None:
        """Fail unless ``query`` finds its rows through ``index_name`` when sequential scans are discouraged."""
        failure = plans.uses_index_failure(self.conn, query, params, index_name)
        if failure:
            self._fail(failure)

    def assert_no_seq_scan(self, query: Any, params: Any, table: str) -> None:
        """Fail when ``query`` would read all of ``table`` even with sequential scans discouraged."""
        failure = plans.seq_scan_failure(self.conn, query, params, table)
        if failure:
            self._fail(failure)
