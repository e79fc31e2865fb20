"""The benchmark suite behind ``python -m tddkit bench``.

Every tddkit operation is measured through the real machinery: the bodies are
TDDTestCase tests, run as unittest suites with TDDTestResult, and the numbers
are the TestMetrics it records. Medians are checked against targets, ten
concurrent tests are compared with the same ten run one after another, and
the per-test setup + cleanup of the approaches users otherwise pick (a fresh
schema, TRUNCATE, a database per test) is timed on the same server.
"""

from __future__ import annotations

import io
import statistics
import threading
import unittest
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from ..errors import TddkitError
from ..isolation.lending import Lender
from ..isolation.temp_tables import TABLE_TEMPLATES, create_table_sql
from ..measure.meter import now
from ..measure.metrics import TestMetrics
from ..measure.queries import allow_repeated_queries
from ..session.session import Session
from ..testcase.case import TDDTestCase
from ..testcase.runner import TDDTestResult
from .app import OPERATIONS as APP_OPERATIONS
from .app import TARGETS_MS as APP_TARGETS_MS
from .app import app_samples
from .compare import run_comparisons
from .report import BenchReport, Operation, ParallelRun

WARMUP = 3  # uncounted runs before each measured series
PARALLEL_WORKERS = 10
PARALLEL_MARGIN = 2  # pooled connections beyond the workers' (e.g. a caller's own test class)
PARALLEL_WAIT_S = 0.02
PARALLEL_BODIES: dict[str, str] = {
    "bench_typical": "typical test (CPU-bound)",
    "bench_wait": f"SELECT pg_sleep({PARALLEL_WAIT_S}) (waits on the database)",
}

#: Iterations per operation at the default scale (the performance guide's counts).
DEFAULT_ITERATIONS: dict[str, int] = {
    "individual_test": 50,  # test_cleanup is measured on the same tests
    "fixture_setup": 100,
    "connection_acquire": 100,
    "schema_operation": 50,
    "parallel_execution": 50,  # tests in all, spread over PARALLEL_WORKERS threads
    "comparison": 50,  # per compared approach
    "statement_stats": 50,
}
#: ``--iterations N`` scales every count so that this one becomes N.
BASE_ITERATIONS = 50

#: Targets for the median of each operation, in ms.
TARGETS_MS: dict[str, float] = {
    "individual_test": 2.0,
    "fixture_setup": 0.3,
    "connection_acquire": 0.05,
    "schema_operation": 1.5,
    "test_cleanup": 0.3,
    "statement_stats": 0.005,
}

#: What each operation times.
OPERATIONS: dict[str, str] = {
    "individual_test": "total of a test that creates a temp table, inserts a row and counts it",
    "fixture_setup": "total of an empty test: the test context entered and left",
    "connection_acquire": "pooled connection borrowed and returned (getconn + putconn)",
    "schema_operation": "body of a test running the 5-column CREATE TEMP TABLE (order_table)",
    "test_cleanup": "cleanup of the individual_test tests: ROLLBACK TO SAVEPOINT (the connection is "
                    "returned to the pool once per class)",
    "parallel_execution": f"total of each test while {PARALLEL_WORKERS} run at once (typical body; they share "
                          "the CPUs)",
    "statement_stats": "per statement: what tddkit does for each statement a test runs (count, time, statistics "
                       "by shape): the body of a test handing its connection 1000 parametrised statements (no SQL "
                       "sent) / 1000",
}
#: Statements per statement_stats sample, and the parametrised statements they cycle through.
STATEMENTS_PER_SAMPLE = 1000
STATEMENT_MIX = ("SELECT id, name FROM users WHERE id = %s", "UPDATE products SET stock = stock - %s WHERE id = %s",
                 "INSERT INTO orders (user_id) VALUES (%s) RETURNING id", "SELECT sum(quantity) FROM order_items "
                 "WHERE order_id = %s")



# --- the benchmark bodies, as tests ---------------------------------------------------


class BenchCase(TDDTestCase):
    """The benchmark bodies (no ``test_`` prefix: never collected as the project's tests)."""

    @classmethod
    def setUpTestData(cls) -> None:
        # A session's temp schema is created with its first temp table; created inside a test,
        # it is rolled back with it and re-created by the next. Create it once per class.
        cls.conn.execute("CREATE TEMP TABLE bench_class_warmup ()")

    def bench_empty(self) -> None:
        """Nothing: the cost of the test context alone."""

    def bench_typical(self) -> None:
        """The performance guide's typical test: create a temp table, insert a row, count the rows."""
        self.conn.execute("CREATE TEMP TABLE bench_items (id serial PRIMARY KEY, name text NOT NULL)")
        self.conn.execute("INSERT INTO bench_items (name) VALUES ('row')")
        self.assertEqual(self.conn.execute("SELECT count(*) FROM bench_items").fetchone(), (1,))

    def bench_schema(self) -> None:
        """The guide's 5-column CREATE TEMP TABLE, as DDL every time (create_temp_table may skip it)."""
        self.conn.execute(create_table_sql("bench_orders", TABLE_TEMPLATES["order_table"]))

    @allow_repeated_queries  # repeats on purpose; detection costs the same per statement, alerts would be noise
    def bench_statements(self) -> None:
        """Count STATEMENTS_PER_SAMPLE statements as the cursors do, without sending them."""
        conn, note = self.conn, self.conn._tddkit.note_statement
        for query in STATEMENT_MIX * (STATEMENTS_PER_SAMPLE // len(STATEMENT_MIX)):
            note(query, 0.0, conn)

    def bench_wait(self) -> None:
        """A test that waits on the database."""
        self.conn.execute("SELECT pg_sleep(%s)", (PARALLEL_WAIT_S,))


def run_tests(tests: Sequence[unittest.TestCase]) -> list[TestMetrics]:
    """Run ``tests`` as one unittest suite with TDDTestResult and return their metrics."""
    result = TDDTestResult(io.StringIO(), False, 0)
    unittest.TestSuite(tests).run(result)
    problems = result.errors + result.failures
    if problems:
        test, text = problems[0]
        raise TddkitError(f"benchmark test {test.id()} failed: {text.strip().splitlines()[-1]}")
    return list(result.records)


def _measured_tests(case: type[BenchCase], method: str, count: int) -> list[TestMetrics]:
    """Metrics of ``count`` runs of ``case.method`` in one suite, after WARMUP uncounted ones."""
    return run_tests([case(method) for _ in range(WARMUP + count)])[WARMUP:]


def time_calls(function: Callable[[], Any], count: int) -> list[float]:
    """ms taken by each of ``count`` calls of ``function``, after WARMUP uncounted ones."""
    for _ in range(WARMUP):
        function()
    samples = []
    for _ in range(count):
        started = now()
        function()
        samples.append((now() - started) * 1000)
    return samples


# --- running it -----------------------------------------------------------------------


def iteration_counts(iterations: int | None = None) -> dict[str, int]:
    """Iterations per operation: the defaults, or all scaled so the 50s become ``iterations``."""
    if iterations is None:
        return dict(DEFAULT_ITERATIONS)
    if iterations < 1:
        raise TddkitError(f"--iterations must be at least 1, not {iterations}")
    return {name: max(1, round(count * iterations / BASE_ITERATIONS)) for name, count in DEFAULT_ITERATIONS.items()}


@contextmanager
def _pool_lending(lender: Lender, connections: int) -> Iterator[None]:
    """The pool able to lend ``connections`` more at once, all opened before anything is timed."""
    pool = lender.database.pool
    assert pool is not None
    min_size, max_size = pool.min_size, pool.max_size
    pool.resize(min_size, max(max_size, connections + PARALLEL_MARGIN))
    try:
        borrowed = [lender.getconn() for _ in range(connections)]
        for conn in borrowed:
            lender.putconn(conn)
        yield
    finally:
        pool.resize(min_size, max_size)


def run_parallel(method: str, workers: int, per_worker: int) -> ParallelRun:
    """``per_worker`` tests of ``method`` in each of ``workers`` classes: one after another, then concurrently."""
    classes = [type(f"ParallelWorker{i}", (BenchCase,), {}) for i in range(workers)]

    def suite(case: type[BenchCase]) -> list[BenchCase]:
        return [case(method) for _ in range(per_worker)]

    started = now()
    for case in classes:
        run_tests(suite(case))
    sequential_s = now() - started

    ready = threading.Barrier(workers + 1)

    def work(case: type[BenchCase]) -> list[TestMetrics]:
        tests = suite(case)
        ready.wait()
        return run_tests(tests)

    with ThreadPoolExecutor(workers, thread_name_prefix="tddkit-bench") as executor:
        futures = [executor.submit(work, case) for case in classes]
        ready.wait()
        started = now()
        results = [future.result() for future in futures]
        parallel_s = now() - started
    samples = [tm.total_ms for metrics in results for tm in metrics]
    return ParallelRun(PARALLEL_BODIES[method], workers, samples, sequential_s, parallel_s)


def run_benchmark(session: Session, iterations: int | None = None, compare: bool = True) -> BenchReport:
    """Run every operation (and, with ``compare``, the other approaches) on the session's server."""
    database = session._database
    if database is None:
        raise TddkitError("the benchmark needs a started session (tddkit.get_session())")
    counts = iteration_counts(iterations)
    typical = _measured_tests(BenchCase, "bench_typical", counts["individual_test"])
    empty = _measured_tests(BenchCase, "bench_empty", counts["fixture_setup"])
    schema = _measured_tests(BenchCase, "bench_schema", counts["schema_operation"])
    statements = _measured_tests(BenchCase, "bench_statements", counts["statement_stats"])
    lender = session._lender
    if lender is None:
        raise TddkitError("the benchmark needs a session with a test database")
    conn = lender.getconn()
    postgresql = conn.info.parameter_status("server_version") or "unknown"
    lender.putconn(conn)
    acquire = time_calls(lambda: lender.putconn(lender.getconn()), counts["connection_acquire"])
    per_worker = max(1, counts["parallel_execution"] // PARALLEL_WORKERS)
    with _pool_lending(lender, PARALLEL_WORKERS):
        parallel = {method: run_parallel(method, PARALLEL_WORKERS, per_worker) for method in PARALLEL_BODIES}
    samples = {
        "individual_test": [tm.total_ms for tm in typical],
        "fixture_setup": [tm.total_ms for tm in empty],
        "connection_acquire": acquire,
        "schema_operation": [tm.body_ms for tm in schema],
        "test_cleanup": [tm.cleanup_ms for tm in typical],
        "parallel_execution": parallel["bench_typical"].samples,
        "statement_stats": [tm.body_ms / STATEMENTS_PER_SAMPLE for tm in statements],
        **app_samples(run_tests, counts["individual_test"], session.settings),
    }
    targets, descriptions = {**TARGETS_MS, **APP_TARGETS_MS}, {**OPERATIONS, **APP_OPERATIONS}
    operations = [Operation(name, values, targets.get(name), descriptions[name]) for name, values in samples.items()]
    baseline = statistics.median(samples["fixture_setup"])
    comparisons = run_comparisons(database, counts["comparison"], baseline, time_calls) if compare else []
    return BenchReport(session._describe(), postgresql, counts, operations, list(parallel.values()),
                       comparisons, WARMUP)
