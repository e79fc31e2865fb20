"""Soak: thousands of mixed tests in one run, then proof that nothing leaked and nothing slowed down.

Generates N TDDTestCase tests (inserts, temp tables from templates and by hand,
caught and uncaught SQL errors, session and transaction advisory locks kept,
cursors left open, extra connections left in a transaction, nested
savepoints) and runs them with the tddkit runner in this process, on the
embedded server (or --dsn). Then it checks the server and the runner:

- connections: none checked out of the pool, none idle in transaction
  (pg_stat_activity), and none left at all once the pool is closed;
- no temp tables beyond the SchemaCache's kept ones, no prepared
  transactions, no advisory locks in the test database;
- every test has its expected outcome (only the "uncaught error" tests error);
- memory: the run writes the report, ``--json`` and ``--junit-xml`` as a CI job
  does; the runner's RSS grew less than 20 MB and its peak during the run
  (the kernel's high-water mark, reset before it) stayed within 40 MB of where
  it started: nothing kept per test grows with the run;
- no slowdown of the per-test time: the
  trend of the per-test medians of 1,000-test windows (Theil-Sen: the median
  of the slopes between every two windows) raises them by less than 10% over
  the run (a run that gets faster as the server warms up passes: what grows
  with the tests run only slows them). A trend, not the first window against the last: on a
  shared machine a load burst during one window moves its median by 20-50%,
  which a slowdown that grows with the tests run does not need to hide behind.
  When the trend check is the only one that failed, a second run (a fresh
  session) decides, as ``--compare`` confirms a suspected regression: a load
  change that lasts much of a run looks like a trend once, a slowdown caused
  by the tests comes back every time.

Prints the figures and exits 1 if a check fails.

    python benchmarks/soak.py [--tests 10000] [--per-class 100] [--dsn URL] [--json FILE]
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import io
import os
import statistics
import sys
import tempfile
import time
import unittest
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import tddkit  # noqa: E402
from tddkit.measure.meter import rss_bytes  # noqa: E402
from tddkit.output import write_json  # noqa: E402
from tddkit.session.database import TestDatabase  # noqa: E402
from tddkit.testcase.runner import TDDTestRunner  # noqa: E402

try:  # noqa: E402
    from _project import server_version, write_fragment
except ImportError:  # imported as benchmarks.soak (the tests)
    from benchmarks._project import server_version, write_fragment

#: Limits the run is checked against.
MAX_RSS_GROWTH_MB = 20.0
MAX_PEAK_GROWTH_MB = 40.0
MAX_MEDIAN_DRIFT = 0.10
WINDOW = 1000
DRIFTED = "the per-test median drifted"


def trend_drift(medians: list[float]) -> float:
    """How much the windows' medians move over the run by their trend (Theil-Sen slope times the run's
    length in windows), relative to their median; robust to a few windows a load burst hit."""
    slopes = [(medians[j] - medians[i]) / (j - i) for i in range(len(medians)) for j in range(i + 1, len(medians))]
    if not slopes:
        return 0.0
    return statistics.median(slopes) * (len(medians) - 1) / statistics.median(medians)


class SoakCase(tddkit.TDDTestCase):
    """Base of the generated classes: one user row shared by every test of the class."""

    @classmethod
    def setUpTestData(cls) -> None:
        cls.conn.execute("INSERT INTO users (email, name) VALUES ('shared@soak.example', 'shared')")


def _users(test: SoakCase) -> int:
    return test.conn.execute("SELECT count(*) FROM users").fetchone()[0]


def _insert(test: SoakCase) -> None:
    test.conn.execute("INSERT INTO users (email, name) VALUES (%s, 'soak')", (f"{id(test)}@soak.example",))
    test.assertEqual(_users(test), 2)


def _temp_table(test: SoakCase) -> None:
    name = test.create_temp_table("user_table")
    test.insert_rows(name, [{"name": "a", "email": "a@soak.example"}, {"name": "b", "email": "b@soak.example"}])
    test.assertEqual(test.fetch_all("SELECT max(id), count(*) FROM user_table"), [(2, 2)])


def _raw_temp_table(test: SoakCase) -> None:
    test.conn.execute("CREATE TEMP TABLE soak_scratch (id int PRIMARY KEY, payload text)")
    test.conn.execute("INSERT INTO soak_scratch SELECT g, repeat('x', 100) FROM generate_series(1, 50) g")
    test.assertEqual(test.fetch_all("SELECT count(*) FROM soak_scratch"), [(50,)])


def _caught_error(test: SoakCase) -> None:
    with test.assertRaises(psycopg.errors.UniqueViolation):
        test.conn.execute("INSERT INTO users (email, name) VALUES ('shared@soak.example', 'twice')")


def _uncaught_error(test: SoakCase) -> None:
    test.conn.execute("SELECT * FROM soak_no_such_table")


def _advisory_locks(test: SoakCase) -> None:
    key = 10_000 + int(type(test).__name__[len("Soak"):]) * 2  # one pair of keys per class
    test.conn.execute("SELECT pg_advisory_lock(%s), pg_advisory_xact_lock(%s)", (key, key + 1))


def _open_cursor(test: SoakCase) -> None:
    test.conn.execute("DECLARE soak_held CURSOR WITH HOLD FOR SELECT generate_series(1, 1000)")
    test.conn.execute("DECLARE soak_open CURSOR FOR SELECT generate_series(1, 1000)")
    test.assertEqual(len(test.conn.execute("FETCH 10 FROM soak_held").fetchall()), 10)


def _extra_connection(test: SoakCase) -> None:
    extra = test.extra_connection()
    extra.execute("SELECT pg_advisory_lock(7)")
    extra.execute("CREATE TEMP TABLE soak_extra (id int)")
    test.assertEqual(extra.execute("SELECT count(*) FROM users").fetchone()[0], 0)  # not the uncommitted row


def _nested_savepoints(test: SoakCase) -> None:
    with test.conn.transaction():
        test.conn.execute("UPDATE users SET name = 'renamed'")
    with test.assertRaises(psycopg.errors.CheckViolation):
        with test.conn.transaction():
            test.conn.execute("INSERT INTO users (email, name) VALUES ('no-at-sign', 'bad')")
    test.assertEqual(test.fetch_all("SELECT name FROM users"), [("renamed",)])


#: The mix, in the order the tests of a class cycle through it.
KINDS: dict[str, Callable[[SoakCase], None]] = {
    "insert": _insert,
    "temp_table": _temp_table,
    "raw_temp_table": _raw_temp_table,
    "caught_error": _caught_error,
    "uncaught_error": _uncaught_error,
    "advisory_locks": _advisory_locks,
    "open_cursor": _open_cursor,
    "extra_connection": _extra_connection,
    "nested_savepoints": _nested_savepoints,
}
ERRORING_KINDS = {"uncaught_error"}


def kind_of(test_id: str) -> str:
    """The KINDS entry a generated test runs: ``...Soak0001.test_00104_insert`` -> ``insert``."""
    return test_id.rsplit(".", 1)[-1].split("_", 2)[2]


def _method(kind: str) -> Callable[[SoakCase], None]:
    body = KINDS[kind]

    def test(self: SoakCase) -> None:
        body(self)
    return test


def soak_suite(tests: int, per_class: int = 100) -> unittest.TestSuite:
    """``tests`` generated tests in classes of ``per_class``, cycling through KINDS."""
    kinds = list(KINDS)
    suite = unittest.TestSuite()
    for first in range(0, tests, per_class):
        names = [f"test_{n:05d}_{kinds[n % len(kinds)]}" for n in range(first, min(first + per_class, tests))]
        case = type(f"Soak{first // per_class:04d}", (SoakCase,), {name: _method(kind_of(name)) for name in names})
        suite.addTests(case(name) for name in names)
    return suite


def leak_figures(database: TestDatabase) -> dict[str, Any]:
    """What is left in the test database and the pool: every count should be 0 (names empty)."""
    assert database.pool is not None
    stats = database.pool.get_stats()
    with psycopg.connect(database.dsn, autocommit=True) as admin:
        activity = admin.execute(
            "SELECT count(*), count(*) FILTER (WHERE state <> 'idle') FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchone()
        temp_tables = [r[0] for r in admin.execute(  # the SchemaCache's kept tables are not the tests'
            "SELECT relname FROM pg_class WHERE relpersistence = 't' AND relname LIKE 'soak%'")]
        prepared = admin.execute(
            "SELECT count(*) FROM pg_prepared_xacts WHERE database = current_database()").fetchone()[0]
        advisory = admin.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
            "WHERE l.locktype = 'advisory' AND d.datname = current_database()").fetchone()[0]
    return {
        "connections_checked_out": stats.get("pool_size", 0) - stats.get("pool_available", 0),
        "connections_not_in_pool": activity[0] - stats.get("pool_size", 0),
        "connections_not_idle": activity[1],
        "leftover_temp_tables": temp_tables,
        "prepared_transactions": prepared,
        "advisory_locks": advisory,
    }


def left_after_close(database: TestDatabase, wait: float = 5.0) -> dict[str, int]:
    """Close the pool, then count the connections and temp tables still in the test database (leaks)."""
    assert database.pool is not None
    database.pool.close()
    database.pool = None
    deadline = time.monotonic() + wait
    with psycopg.connect(database.dsn, autocommit=True) as admin:
        while True:
            connections, temp_tables = admin.execute(
                "SELECT (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()), (SELECT count(*) FROM pg_class WHERE relpersistence = 't')").fetchone()
            if connections == temp_tables == 0 or time.monotonic() > deadline:
                return {"connections_after_pool_close": connections, "temp_tables_after_pool_close": temp_tables}
            time.sleep(0.05)


def reset_peak_rss() -> bool:
    """Start the kernel's high-water mark of this process's RSS (VmHWM) over from now; False where it cannot."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def peak_rss() -> int:
    """The highest RSS of this process, in bytes, since ``reset_peak_rss`` (else since it started)."""
    try:
        with open("/proc/self/status") as fh:
            return next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@dataclasses.dataclass
class SoakResult:
    """The figures of one soak run and the checks that failed."""

    figures: dict[str, Any]
    failures: list[str]


def run_soak(tests: int, per_class: int = 100, window: int = WINDOW, close_pool: bool = False,
             check_timing: bool = True) -> SoakResult:
    """Run the generated suite on the current session, measure it and check for leaks (and, with
    ``check_timing``, RSS growth and drift of the per-test median)."""
    database = tddkit.get_session()._database
    assert database is not None
    suite = soak_suite(tests, per_class)
    gc.collect()
    rss_before = rss_bytes()
    peak_measured = reset_peak_rss()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tddkit-soak-") as out:
        result = TDDTestRunner(stream=io.StringIO(), verbosity=0, json_path=os.path.join(out, "report.json"),
                               junit_path=os.path.join(out, "junit.xml")).run(suite)
        wall = time.perf_counter() - started
        peak_growth_mb = (peak_rss() - rss_before) / 2**20
        files_mb = sum(os.path.getsize(os.path.join(out, name)) for name in os.listdir(out)) / 2**20
    gc.collect()
    rss_growth_mb = (rss_bytes() - rss_before) / 2**20

    records = result.records
    totals = records.field("total_ms", range(len(records)))
    window = min(window, len(totals) // 3) or 1
    medians = [statistics.median(totals[i:i + window]) for i in range(0, len(totals) - window + 1, window)]
    first, last, drift = medians[0], medians[-1], trend_drift(medians)
    wrong = [test_id for i, test_id in enumerate(records.ids)
             if records.outcome(i) != ("error" if kind_of(test_id) in ERRORING_KINDS else "passed")]
    pool = database.pool.get_stats() if database.pool is not None else {}
    leaks = leak_figures(database)
    if close_pool:
        leaks.update(left_after_close(database))
    figures = {
        "tests": len(records),
        "wall_seconds": round(wall, 3),
        "median_ms": round(statistics.median(totals), 4),
        "window": window,
        "first_window_median_ms": round(first, 4),
        "last_window_median_ms": round(last, 4),
        "window_medians_ms": [round(m, 4) for m in medians],
        "median_drift": round(drift, 4),
        "rss_growth_mb": round(rss_growth_mb, 2),
        "peak_rss_growth_mb": round(peak_growth_mb, 2),
        "json_and_junit_mb": round(files_mb, 2),
        "errors": len(result.errors),
        "failures": len(result.failures),
        "unexpected_outcomes": len(wrong),
        "connections_lost": pool.get("connections_lost", 0),
        **leaks,
    }
    failures = [f"{name} = {value}" for name, value in leaks.items() if value]
    if len(records) != tests:
        failures.append(f"{len(records)} tests recorded, {tests} expected")
    if wrong:
        failures.append(f"{len(wrong)} tests with an unexpected outcome, e.g. {wrong[0]}")
    if check_timing and rss_growth_mb >= MAX_RSS_GROWTH_MB:
        failures.append(f"RSS grew {rss_growth_mb:.1f} MB (limit {MAX_RSS_GROWTH_MB:g} MB)")
    if check_timing and peak_measured and peak_growth_mb >= MAX_PEAK_GROWTH_MB:
        failures.append(f"peak RSS during the run was {peak_growth_mb:.1f} MB above its start (limit "
                        f"{MAX_PEAK_GROWTH_MB:g} MB)")
    if check_timing:
        failures += drift_failures(figures["window_medians_ms"], drift, window)
    return SoakResult(figures, failures)


def drift_failures(medians: list[float], drift: float, window: int) -> list[str]:
    """The drift check's failure, if the windows' medians rose by more than MAX_MEDIAN_DRIFT over the run."""
    if drift <= MAX_MEDIAN_DRIFT:
        return []
    return [f"{DRIFTED} {drift:+.1%} over the run by its trend across {len(medians)} windows of {window} tests "
            f"(limit +{MAX_MEDIAN_DRIFT:.0%}): {medians} ms"]


def soak_in_a_session(args: argparse.Namespace) -> SoakResult:
    """One soak run on a session of its own (closed after it), its figures printed."""
    session = tddkit.get_session(tddkit.load_settings({"dsn": args.dsn}))
    print(f"soak: {args.tests} tests in classes of {args.per_class} on {session._server_origin}", flush=True)
    try:
        version = server_version(session.server_dsn)
        soak = run_soak(args.tests, args.per_class, close_pool=True)
        soak.figures["server_version"] = version
    finally:
        tddkit.close_session()
    width = max(map(len, soak.figures))
    for name, value in soak.figures.items():
        print(f"  {name:<{width}}  {value}")
    return soak


def soak_rows(soak: SoakResult) -> list[list[str]]:
    """The figures of a run as the rows of the docs' table."""
    f = soak.figures
    return [
        ["tests (those of the 'uncaught error' kind error on purpose)", f"{f['tests']:,}", ""],
        ["wall time", f"{f['wall_seconds']:.2f} s", ""],
        ["per-test median, whole run", f"{f['median_ms']:.3f} ms", ""],
        [f"per-test median, first / last {f['window']:,} tests", f"{f['first_window_median_ms']:.3f} / "
         f"{f['last_window_median_ms']:.3f} ms", ""],
        ["drift of the median (Theil-Sen trend over the windows)", f"{f['median_drift']:+.1%}",
         f"at most +{MAX_MEDIAN_DRIFT:.0%}"],
        ["RSS growth of the runner", f"{f['rss_growth_mb']:.2f} MB", f"< {MAX_RSS_GROWTH_MB:g} MB"],
        ["peak RSS during the run, above its start", f"{f['peak_rss_growth_mb']:.2f} MB",
         f"< {MAX_PEAK_GROWTH_MB:g} MB"],
        ["`--json` and `--junit-xml` files written", f"{f['json_and_junit_mb']:.2f} MB", ""],
        ["tests with an unexpected outcome", str(f["unexpected_outcomes"]), "0"],
        *[[name.replace("_", " "), str(value), "0"] for name, value in f.items()
          if name not in SHOWN and isinstance(value, int)],
    ]


SHOWN = {"tests", "window", "errors", "failures", "unexpected_outcomes"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=10_000)
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--dsn", help="use this PostgreSQL server instead of the embedded one")
    parser.add_argument("--json", dest="json_path", metavar="FILE", help="write the figures as JSON")
    args = parser.parse_args(argv)
    soak = soak_in_a_session(args)
    if soak.failures and all(f.startswith(DRIFTED) for f in soak.failures):
        print(f"soak: {soak.failures[0]}; a second run decides (a load change can look like a trend once)",
              flush=True)
        again = soak_in_a_session(args)
        soak = SoakResult({**again.figures, "first_run_median_drift": soak.figures["median_drift"]}, again.failures)
    if args.json_path:
        write_json(args.json_path, {**soak.figures, "failed_checks": soak.failures})
    for failure in soak.failures:
        print(f"soak: FAILED: {failure}", file=sys.stderr)
    print("soak: " + ("FAILED" if soak.failures else "all checks passed"))
    write_fragment("soak", ["figure", "measured", "limit"], soak_rows(soak), f"{args.tests} tests in classes of "
                   f"{args.per_class}, one run of the tddkit runner; " + ("all checks passed" if not soak.failures
                                                                          else "FAILED: " + "; ".join(soak.failures)),
                   soak.figures.get("server_version", ""))
    return 1 if soak.failures else 0


if __name__ == "__main__":
    sys.exit(main())
