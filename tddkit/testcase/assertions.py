"""TDDTestCase's query assertions: statement counts of a block, query plans and index use.

They are ``tddkit.measure.query_checks`` (shared with the pytest fixture
``tddkit_queries``) on the test's connection, failing with ``self.fail``: the
counts see every statement on it (``self.conn``, ``self.pool``, SQLAlchemy);
the plan helpers run EXPLAIN in a savepoint that is rolled back. Failures show
the test's own line: unittest leaves this module's frames out of tracebacks
(``hide_from_unittest_tracebacks``).
"""

from __future__ import annotations

import unittest
from typing import TYPE_CHECKING, Any

from .._compat import hide_from_unittest_tracebacks
from ..isolation.connection import GuardedConnection
from ..measure.query_checks import QueryChecks, QueryCount

hide_from_unittest_tracebacks(globals())

if TYPE_CHECKING:  # a mixin of TestCase: its methods, as type checkers see them
    _Base = unittest.TestCase
else:
    _Base = object


class QueryAssertions(_Base):
    """Assertions on the SQL a test runs (mixed into TDDTestCase)."""

    conn: GuardedConnection

    def _tddkit_queries(self) -> QueryChecks:
        return QueryChecks(type(self).conn._tddkit.conn, self.fail)  # the sync connection (an async class too)

    def assertNumQueries(self, expected: int) -> QueryCount:
        """Fail unless the block runs exactly ``expected`` SQL statements on ``self.conn``."""
        return self._tddkit_queries().assert_num(expected)

    def assertMaxQueries(self, limit: int) -> QueryCount:
        """Fail when the block runs more than ``limit`` SQL statements on ``self.conn`` (listing them)."""
        return self._tddkit_queries().assert_max(limit)

    def explain(self, query: Any, params: Any = None, *, analyze: bool = False) -> dict[str, Any]:
        """PostgreSQL's JSON plan of ``query`` (``{"Plan": {...}, ...}``); ``analyze`` runs it too. Inside a
        savepoint that is rolled back: a write leaves nothing behind."""
        return self._tddkit_queries().explain(query, params, analyze=analyze)

    def assertUsesIndex(self, query: Any, params: Any, index_name: str) -> None:
        """Fail unless ``query`` finds its rows through ``index_name`` when sequential scans are discouraged
        (as on a realistic table: on a few rows the planner rightly prefers a sequential scan)."""
        self._tddkit_queries().assert_uses_index(query, params, index_name)

    def assertNoSeqScan(self, query: Any, params: Any, table: str) -> None:
        """Fail when ``query`` would read all of ``table`` even with sequential scans discouraged."""
        self._tddkit_queries().assert_no_seq_scan(query, params, table)
