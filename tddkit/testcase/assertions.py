"""TDDTestCase's query assertions: statement counts of a block, query plans and index use.

The statement counts see every statement on the test's connection (``self.conn``,
``self.pool``, SQLAlchemy); the plan helpers run EXPLAIN in a savepoint that is
rolled back (``tddkit.testcase.plans``). Failures show the test's own line: unittest
leaves this module's frames out of tracebacks (``hide_from_unittest_tracebacks``).
"""

from __future__ import annotations

import unittest
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from .._compat import hide_from_unittest_tracebacks
from ..isolation.connection import GuardedConnection, QueryCapture
from . import plans

hide_from_unittest_tracebacks(globals())

if TYPE_CHECKING:  # a mixin of TestCase: its methods, as type checkers see them
    _Base = unittest.TestCase
else:
    _Base = object


class _QueryCountContext:
    """The context manager behind assertNumQueries and assertMaxQueries: fails the test when the block's
    statement count is off (``at_most``: over ``expected``), listing the statements."""

    def __init__(self, test: unittest.TestCase, expected: int, *, at_most: bool = False) -> None:
        self.test = test
        self.expected = expected
        self.at_most = at_most
        self._capturing: AbstractContextManager[QueryCapture] = type(test).conn.capture_queries()  # type: ignore[attr-defined]

    def __enter__(self) -> QueryCapture:
        self._capture = self._capturing.__enter__()
        return self._capture

    def __exit__(self, *exc_info: Any) -> None:
        self._capturing.__exit__(*exc_info)
        if exc_info[0] is None:
            self.check(self._capture)

    def check(self, capture: QueryCapture) -> None:
        count = len(capture)
        if count > self.expected if self.at_most else count != self.expected:
            bound = "at most " if self.at_most else ""
            self.test.fail(f"{count} queries executed, {bound}{self.expected} expected\n"
                           f"Queries:\n{capture.listing()}")


class QueryAssertions(_Base):
    """Assertions on the SQL a test runs (mixed into TDDTestCase)."""

    conn: GuardedConnection

    def assertNumQueries(self, expected: int) -> _QueryCountContext:
        """Fail unless the block runs exactly ``expected`` SQL statements on ``self.conn``."""
        return _QueryCountContext(self, expected)

    def assertMaxQueries(self, limit: int) -> _QueryCountContext:
        """Fail when the block runs more than ``limit`` SQL statements on ``self.conn`` (listing them)."""
        return _QueryCountContext(self, limit, at_most=True)

    def explain(self, query: Any, params: Any = None, *, analyze: bool = False) -> dict[str, Any]:
        """PostgreSQL's JSON plan of ``query`` (``{"Plan": {...}, ...}``); ``analyze`` runs it too. Inside a
        savepoint that is rolled back: a write leaves nothing behind."""
        plan: dict[str, Any] = plans.explain(type(self).conn._tddkit.conn, query, params, analyze=analyze)
        return plan

    def assertUsesIndex(self, query: Any, params: Any, index_name: str) -> None:
        """Fail unless ``query`` finds its rows through ``index_name`` when sequential scans are discouraged
        (as on a realistic table: on a few rows the planner rightly prefers a sequential scan)."""
        failure = plans.uses_index_failure(type(self).conn._tddkit.conn, query, params, index_name)
        if failure:
            self.fail(failure)

    def assertNoSeqScan(self, query: Any, params: Any, table: str) -> None:
        """Fail when ``query`` would read all of ``table`` even with sequential scans discouraged."""
        failure = plans.seq_scan_failure(type(self).conn._tddkit.conn, query, params, table)
        if failure:
            self.fail(failure)
