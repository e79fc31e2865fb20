"""While the server rolls a test back, tddkit does the bookkeeping that needs no database: the memory reading, and
the runner's record of the test before (unless a parallel worker, which reports each test as it ends). A run's
records, sinks and report are the same."""

import io
import unittest

from psycopg import pq

from tddkit.testcase.runner import TDDTestRunner
from tests.cases import overlap
from tests.support import problems_by_name, run_suite, suite_of


class StatusSink:
    """Notes each record it takes with the transaction status of ``Recorded``'s connection at that moment
    (``ACTIVE``: the server is running a statement, the rollback of the next test)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str]] = []

    def add(self, tm, text: str) -> None:
        status = pq.TransactionStatus(overlap.Recorded.conn.pgconn.transaction_status).name
        self.seen.append((tm.test_id.rsplit(".", 1)[1], tm.outcome, status))


class SinkRunner(TDDTestRunner):
    def __init__(self, sink: StatusSink, **kwargs) -> None:
        super().__init__(**kwargs)
        self.sink = sink

    def _makeResult(self):
        result = super()._makeResult()
        result.sinks.append(self.sink)
        return result


class OverlapTests(unittest.TestCase):
    def test_while_waiting_runs_before_the_result_and_its_failure_leaves_the_connection_usable(self):
        result = run_suite(suite_of(overlap.WhileWaiting))
        self.assertEqual(problems_by_name(result), {}, result.output)
        self.assertEqual(result.testsRun, 2)

    def test_a_test_is_recorded_while_the_next_is_rolled_back_and_the_last_when_the_run_ends(self):
        sink = StatusSink()
        result = SinkRunner(sink, stream=io.StringIO(), verbosity=2, show_report=False).run(
            suite_of(overlap.Recorded))
        self.assertEqual(sink.seen, [("test_a", "passed", "ACTIVE"), ("test_b_fails", "failed", "ACTIVE"),
                                     ("test_c", "passed", "IDLE")])
        self.assertEqual([(tm.test_id.rsplit(".", 1)[1], tm.outcome, tm.query_count) for tm in result.records],
                         [("test_a", "passed", 1), ("test_b_fails", "failed", 0), ("test_c", "passed", 1)])
