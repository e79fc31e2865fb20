"""The ``tddkit_queries`` fixture: TDDTestCase's query assertions for pytest tests.

``with tddkit_queries.assert_num(n):`` / ``assert_max(n)`` count the block's
statements on the test's connection (``tddkit_conn``, ``tddkit_pool``'s
connections and the ``tddkit_sqlalchemy_*`` fixtures all run on it), never
tddkit's own; ``explain``, ``assert_uses_index`` and ``assert_no_seq_scan``
plan a query in a savepoint that is rolled back. A failed check fails the
test with the statements (or the plan) listed. The checks are
``tddkit.measure.query_checks``, as TDDTestCase's are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn

import pytest

if TYPE_CHECKING:
    from ..measure.query_checks import QueryChecks


def _fail(message: str) -> NoReturn:
    __tracebackhide__ = True
    pytest.fail(message)


@pytest.fixture
def tddkit_queries(_tddkit_test: Any) -> QueryChecks:
    """Query checks on the test's connection: ``assert_num(n)`` / ``assert_max(n)`` blocks, ``explain(query)``,
    ``assert_uses_index(query, params, index)``, ``assert_no_seq_scan(query, params, table)``."""
    from ..measure.query_checks import QueryChecks

    return QueryChecks(_tddkit_test.conn, _fail)
