"""The benchmark suite behind ``python -m tddkit bench``.

Every tddkit operation is measured through the real machinery: the bodies are
TDDTestCase tests, run as unittest suites with TDDTestResult, and the numbers
are the TestMetrics it records. Medians are checked against targets, ten
concurrent tests are compared with the same ten run one after another, and
the per-test setup + cleanup of the approaches users otherwise pick (a fresh
schema, TRUNCATE, a database per test) is timed on the same server.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import platform
import statistics
import threading
import unittest
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Type

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from .case import TDDTestCase
from .config import Settings
from .admin import connect_admin
from .database import TestDatabase
from .lending import Lender
from .ownership import OWNED_PREFIX, drop_database, ensure_owned
from .errors import TddkitError
from .metrics import TestMetrics, now
from .output import document_header, format_number, format_table, json_safe, output_path
from .stats import Stats, compute_stats, recommendation
from .runner import TDDTestResult
from .schema import SchemaSource
from .session import Session
from .templates import TABLE_TEMPLATES, create_table_sql

WARMUP = 3  # uncounted runs before each measured series
PARALLEL_WORKERS = 10
PARALLEL_MARGIN = 2  # pooled connections beyond the workers' (e.g. a caller's own test class)
PARALLEL_WAIT_S = 0.02
PARALLEL_BODIES: Dict[str, str] = {
    "bench_typical": "typical test (CPU-bound)",
    "bench_wait": f"SELECT pg_sleep({PARALLEL_WAIT_S}) (waits on the database)",
}

#: Iterations per operation at the default scale (the performance guide's counts).
DEFAULT_ITERATIONS: Dict[str, int] = {
    "individual_test": 50,  # test_cleanup is measured on the same tests
    "fixture_setup": 100,
    "connection_acquire": 100,
    "schema_operation": 50,
    "parallel_execution": 50,  # tests in all, spread over PARALLEL_WORKERS threads
    "comparison": 50,  # per compared approach
}
#: ``--iterations N`` scales every count so that this one becomes N.
BASE_ITERATIONS = 50

#: Targets for the median of each operation, in ms.
TARGETS_MS: Dict[str, float] = {
    "individual_test": 2.0,
    "fixture_setup": 0.3,
    "connection_acquire": 0.05,
    "schema_operation": 1.5,
    "test_cleanup": 0.3,
}

#: What each operation times.
OPERATIONS: Dict[str, str] = {
    "individual_test": "total of a test that creates a temp table, inserts a row and counts it",
    "fixture_setup": "total of an empty test: the test context entered and left",
    "connection_acquire": "pooled connection borrowed and returned (getconn + putconn)",
    "schema_operation": "body of a test running the 5-column CREATE TEMP TABLE (order_table)",
    "test_cleanup": "cleanup of the individual_test tests: ROLLBACK TO SAVEPOINT (the connection is "
                    "returned to the pool once per class)",
    "parallel_execution": f"total of each test while {PARALLEL_WORKERS} run at once (typical body; they share "
                          "the CPUs)",
}

#: Schema the comparisons rebuild when the project configures none.
EXAMPLE_SCHEMA = Path(__file__).resolve().parent.parent / "examples" / "schema.sql"


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

    def bench_wait(self) -> None:
        """A test that waits on the database."""
        self.conn.execute("SELECT pg_sleep(%s)", (PARALLEL_WAIT_S,))


def run_tests(tests: Sequence[unittest.TestCase]) -> List[TestMetrics]:
    """Run ``tests`` as one unittest suite with TDDTestResult and return their metrics."""
    result = TDDTestResult(io.StringIO(), False, 0)
    unittest.TestSuite(tests).run(result)
    problems = result.errors + result.failures
    if problems:
        test, text = problems[0]
        raise TddkitError(f"benchmark test {test.id()} failed: {text.strip().splitlines()[-1]}")
    return result.test_metrics


def _measured_tests(case: Type[BenchCase], method: str, count: int) -> List[TestMetrics]:
    """Metrics of ``count`` runs of ``case.method`` in one suite, after WARMUP uncounted ones."""
    return run_tests([case(method) for _ in range(WARMUP + count)])[WARMUP:]


def time_calls(function: Callable[[], Any], count: int) -> List[float]:
    """ms taken by each of ``count`` calls of ``function``, after WARMUP uncounted ones."""
    for _ in range(WARMUP):
        function()
    samples = []
    for _ in range(count):
        started = now()
        function()
        samples.append((now() - started) * 1000)
    return samples


# --- results and their arithmetic -----------------------------------------------------


def success_rate(samples: Sequence[float], target: float) -> float:
    """% of ``samples`` within ``target``."""
    return 100.0 * sum(value <= target for value in samples) / len(samples)


@dataclasses.dataclass
class Operation:
    """One benchmarked operation: its samples (ms) against its target."""

    name: str
    samples: List[float]
    target: Optional[float] = None

    @property
    def stats(self) -> Stats:
        return compute_stats(self.samples)

    @property
    def achieved(self) -> Optional[bool]:
        """Whether the median meets the target; None without one."""
        return None if self.target is None else self.stats.median <= self.target

    @property
    def success_rate(self) -> Optional[float]:
        return None if self.target is None else success_rate(self.samples, self.target)


def overall_success_rate(operations: Sequence[Operation]) -> float:
    """Mean success rate of the operations that have a target, in %."""
    rates = [op.success_rate for op in operations if op.success_rate is not None]
    return statistics.fmean(rates) if rates else 0.0


@dataclasses.dataclass
class ParallelRun:
    """The same tests run by concurrent threads and one after another."""

    body: str
    workers: int
    samples: List[float]  # total ms of each test of the concurrent run
    sequential_s: float
    parallel_s: float

    @property
    def stats(self) -> Stats:
        return compute_stats(self.samples)

    @property
    def speedup(self) -> float:
        return self.sequential_s / self.parallel_s

    @property
    def efficiency(self) -> float:
        """Speedup per worker, in %."""
        return 100.0 * self.speedup / self.workers


@dataclasses.dataclass
class Comparison:
    """Per-test setup + cleanup of another approach, against tddkit's."""

    approach: str
    per_test: str
    samples: List[float]
    baseline_ms: float  # tddkit's median per-test setup + cleanup

    @property
    def stats(self) -> Stats:
        return compute_stats(self.samples)

    @property
    def ratio(self) -> float:
        """How many times tddkit's median this approach's median is."""
        return self.stats.median / self.baseline_ms


@dataclasses.dataclass
class BenchReport:
    """Everything one benchmark run measured."""

    server: str
    postgresql: str
    iterations: Dict[str, int]
    operations: List[Operation]
    parallel: List[ParallelRun]
    comparisons: List[Comparison]

    @property
    def overall_success_rate(self) -> float:
        return overall_success_rate(self.operations)

    @property
    def recommendation(self) -> str:
        return recommendation(self.overall_success_rate)

    def operation(self, name: str) -> Operation:
        return next(op for op in self.operations if op.name == name)


# --- running it -----------------------------------------------------------------------


def iteration_counts(iterations: Optional[int] = None) -> Dict[str, int]:
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

    def suite(case: Type[BenchCase]) -> List[BenchCase]:
        return [case(method) for _ in range(per_worker)]

    started = now()
    for case in classes:
        run_tests(suite(case))
    sequential_s = now() - started

    ready = threading.Barrier(workers + 1)

    def work(case: Type[BenchCase]) -> List[TestMetrics]:
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


def _comparison_schema(settings: Settings) -> SchemaSource:
    """The schema the comparisons rebuild: the project's, else the examples'."""
    source = SchemaSource.from_settings(settings)
    if source.files or source.hook:
        return source
    if not EXAMPLE_SCHEMA.is_file():
        raise TddkitError("the comparisons rebuild the test schema, but none is configured; "
                          "set [tool.tddkit] schema or pass --no-compare")
    return dataclasses.replace(source, files=[EXAMPLE_SCHEMA])


def _approaches(admin: psycopg.Connection, dsn: str, source: SchemaSource,
                clone: str) -> List[Tuple[str, str, Callable[[], None]]]:
    """(name, what it does per test, a function doing it) of each approach compared with tddkit."""
    with psycopg.connect(dsn) as conn:
        template = conn.info.dbname
        tables = conn.execute(
            "SELECT schemaname, tablename FROM pg_tables "
            "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2"
        ).fetchall()
    truncate = sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(
        sql.SQL(", ").join(sql.Identifier(*table) for table in tables))
    create_clone = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(clone), sql.Identifier(template))
    drop_clone = sql.SQL("DROP DATABASE {}").format(sql.Identifier(clone))

    def fresh_schema() -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("DROP SCHEMA public CASCADE")
            conn.execute("CREATE SCHEMA public")
            source.apply_schema(conn)

    def truncate_tables() -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(truncate)

    def clone_and_drop() -> None:
        admin.execute(create_clone)
        admin.execute(drop_clone)

    approaches = [("traditional", "new connection + DROP SCHEMA public CASCADE + CREATE SCHEMA + the schema",
                   fresh_schema)]
    if tables:
        approaches.append(("truncate", f"new connection + TRUNCATE of its {len(tables)} tables RESTART IDENTITY "
                                       "CASCADE", truncate_tables))
    approaches.append(("database per test", "CREATE DATABASE ... TEMPLATE + DROP DATABASE (no connection to it)",
                       clone_and_drop))
    return approaches


def run_comparisons(database: TestDatabase, count: int, baseline_ms: float) -> List[Comparison]:
    """Time the other approaches' per-test setup + cleanup on a scratch database holding the schema."""
    source = _comparison_schema(database.settings)
    scratch = ensure_owned(f"{OWNED_PREFIX}bench_{os.getpid()}_{uuid.uuid4().hex[:8]}")
    clone = f"{scratch}_copy"
    dsn = make_conninfo(database.server_dsn, dbname=scratch)
    with connect_admin(database.server_dsn) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(scratch)))
        try:
            with psycopg.connect(dsn) as conn:
                source.apply_schema(conn)
            return [Comparison(name, what, time_calls(function, count), baseline_ms)
                    for name, what, function in _approaches(admin, dsn, source, clone)]
        finally:
            drop_database(admin, clone)
            drop_database(admin, scratch)


def run_benchmark(session: Session, iterations: Optional[int] = None, compare: bool = True) -> BenchReport:
    """Run every operation (and, with ``compare``, the other approaches) on the session's server."""
    database = session.database
    if database is None:
        raise TddkitError("the benchmark needs a started session (tddkit.get_session())")
    counts = iteration_counts(iterations)
    typical = _measured_tests(BenchCase, "bench_typical", counts["individual_test"])
    empty = _measured_tests(BenchCase, "bench_empty", counts["fixture_setup"])
    schema = _measured_tests(BenchCase, "bench_schema", counts["schema_operation"])
    lender = session.lender
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
    }
    operations = [Operation(name, values, TARGETS_MS.get(name)) for name, values in samples.items()]
    baseline = statistics.median(samples["fixture_setup"])
    comparisons = run_comparisons(database, counts["comparison"], baseline) if compare else []
    return BenchReport(session.describe(), postgresql, counts, operations, list(parallel.values()),
                       comparisons)


# --- output ---------------------------------------------------------------------------


def _yes_no(value: Optional[bool]) -> str:
    return "-" if value is None else ("yes" if value else "NO")


def _percent(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.1f}"


def format_bench(report: BenchReport) -> str:
    """The benchmark as printed: operations, parallel execution, comparisons."""
    out = [
        "tddkit benchmark",
        f"  server: {report.server}",
        f"  PostgreSQL {report.postgresql}, Python {platform.python_version()}, {os.cpu_count()} CPUs",
        "",
        format_table(
            ["operation", "samples", "mean", "median", "min", "max", "stddev", "target", "achieved", "success %"],
            [[op.name, str(op.stats.count),
              *(format_number(getattr(op.stats, f)) for f in ("mean", "median", "min", "max", "stddev")),
              format_number(op.target), _yes_no(op.achieved), _percent(op.success_rate)]
             for op in report.operations],
        ),
        "",
        "  times in ms; achieved = median within target; success % = samples within target",
        *(f"  {name:<19} {text}" for name, text in OPERATIONS.items()),
        f"  each series follows {WARMUP} uncounted runs; each benchmark class creates its temp schema "
        "once, in setUpTestData",
        "",
        f"Overall success rate: {report.overall_success_rate:.1f}%",
        f"Recommendation: {report.recommendation}",
    ]
    if report.parallel:
        run = report.parallel[0]
        per_worker = run.stats.count // run.workers
        out += [
            "",
            f"Parallel execution: {run.workers} threads, each with its own TDDTestCase class and pooled connection, "
            f"{per_worker} test{'s' if per_worker != 1 else ''} each",
            "  sequential = the same tests one after another; efficiency = speedup / threads",
            format_table(
                ["test body", "tests", "per-test median", "per-test mean", "sequential s", "parallel s",
                 "speedup", "efficiency %"],
                [[r.body, str(r.stats.count), format_number(r.stats.median), format_number(r.stats.mean), f"{r.sequential_s:.3f}",
                  f"{r.parallel_s:.3f}", f"{r.speedup:.2f}x", f"{r.efficiency:.1f}"] for r in report.parallel],
            ),
        ]
    if report.comparisons:
        tddkit = report.operation("fixture_setup").stats
        rows = [["tddkit", "pooled connection, SAVEPOINT / ROLLBACK TO SAVEPOINT (fixture_setup)",
                 str(tddkit.count), format_number(tddkit.median), format_number(tddkit.mean), "1x"]]
        rows += [[c.approach, c.per_test, str(c.stats.count), format_number(c.stats.median), format_number(c.stats.mean),
                  f"{c.ratio:.0f}x"] for c in report.comparisons]
        out += [
            "",
            "Per-test setup + cleanup, same server, same run (ms)",
            format_table(["approach", "per test", "samples", "median", "mean", "vs tddkit"], rows, text_columns=2),
            "",
            *(f"  {c.approach} {c.stats.median:.2f} ms = {c.ratio:.0f}x tddkit" for c in report.comparisons),
        ]
    return "\n".join(out)


def _stats_dict(samples: List[float], stats: Stats) -> Dict[str, Any]:
    return {**dataclasses.asdict(stats), "samples": samples}


def bench_to_dict(report: BenchReport) -> Dict[str, Any]:
    """The JSON document of a benchmark run: every sample and every derived number."""
    document = {
        **document_header(postgresql=report.postgresql, server=report.server),
        "iterations": report.iterations,
        "warmup": WARMUP,
        "operations": {
            op.name: {
                "description": OPERATIONS[op.name],
                "unit": "ms",
                "target": op.target,
                "achieved": op.achieved,
                "success_rate": op.success_rate,
                **_stats_dict(op.samples, op.stats),
            }
            for op in report.operations
        },
        "overall_success_rate": report.overall_success_rate,
        "recommendation": report.recommendation,
        "parallel": [
            {"body": r.body, "workers": r.workers, "sequential_s": r.sequential_s, "parallel_s": r.parallel_s,
             "speedup": r.speedup, "efficiency": r.efficiency, "per_test": _stats_dict(r.samples, r.stats)}
            for r in report.parallel
        ],
        "comparisons": [
            {"approach": c.approach, "per_test": c.per_test, "tddkit_median_ms": c.baseline_ms, "ratio": c.ratio,
             **_stats_dict(c.samples, c.stats)}
            for c in report.comparisons
        ],
    }
    return json_safe(document)


def write_bench_json(path: str, report: BenchReport) -> None:
    """Write the JSON document of a benchmark run to ``path``."""
    with open(output_path(path), "w", encoding="utf-8") as fh:
        json.dump(bench_to_dict(report), fh, indent=2, allow_nan=False)
        fh.write("\n")
