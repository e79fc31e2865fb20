"""A made-up run with every kind of record the report, the JSON and the JUnit XML show (no database needed).

``tests/golden/`` holds the JSON and JUnit XML that tddkit wrote for this run
before the writers streamed (``python tests/report_samples.py DIR`` writes
them again): the streamed writers must produce the same documents.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # python tests/report_samples.py: this checkout first on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tddkit.config.settings import Settings
from tddkit.measure.metrics import MB, ClassMetrics, CustomMetric, TestMetrics
from tddkit.reporting.report import RunSummary

GOLDEN = Path(__file__).resolve().parent / "golden"
#: What the report is built with besides the tests.
SCHEMA_CACHE = {"requests": 12.0, "hits": 9.0, "misses": 3.0, "efficiency": 75.0, "ddl_saved": 27.0}
PARALLEL = {"workers": 2, "wall_seconds": 1.5, "sum_test_seconds": 2.75, "speedup": 1.8333333333333333,
            "efficiency": 91.66666666666667}
SLOWEST = 7


def sample_settings() -> Settings:
    settings = Settings()
    settings.thresholds = {**settings.thresholds, "api_ms": 20.0, "rows": 100.0, "class_rows": 5.0}
    settings.memory_warning_mb = 1.0
    return settings


def _statements(rng: random.Random, n: int) -> tuple[tuple[str, int, float, float], ...]:
    shared = ["INSERT INTO items (name) VALUES (?)", "SELECT count(*) FROM items", "SELECT * FROM users WHERE id = ?",
              "(other statements)"]
    # every 7th test: shapes of its own, with the shared ones more than the report keeps (the rest is OTHER)
    own = [f"SELECT {n} FROM generated_{n}_{k}" for k in range(12)] if n % 7 == 0 else []
    return tuple((shape, 1 + n % 3, rng.random() * 0.4, rng.random() * 0.2)
                 for shape in own + shared[: 1 + n % len(shared)])


def sample_run(count: int = 300) -> tuple[list[TestMetrics], RunSummary, dict[str, str]]:
    """``count`` tests of every outcome in classes of 25, some with custom metrics, memory growth, resources,
    repeated statements, odd characters and non-finite values; the run's summary and its tracebacks by test."""
    rng = random.Random(20260)
    tests: list[TestMetrics] = []
    details: dict[str, str] = {}
    classes = [ClassMetrics(f"pkg.test_mod{c // 10}.Case{c}", connection_ms=rng.random(), setup_ms=rng.random() * 3,
                            query_count=c % 5,
                            custom=(CustomMetric("class_rows", float(c % 9), {"table": "users"}),) if c % 4 == 0
                            else ()) for c in range(count // 25)]
    outcomes = ["passed"] * 20 + ["failed", "error", "skipped", "expected_failure", "unexpected_success"]
    for n in range(count):
        cm = classes[n // 25]
        name = f"{cm.class_name}.test_{n}" + (" (i=1.5, s='<é>')" if n % 97 == 0 else "")
        outcome = outcomes[n % len(outcomes)]
        total = rng.lognormvariate(0, 1.2)
        tm = TestMetrics(name, connection_ms=rng.random() * 0.05, setup_ms=rng.random() * 0.8,
                         body_ms=total * 0.7, cleanup_ms=rng.random() * 0.3, total_ms=total,
                         query_count=n % 11, query_ms=rng.random(), rss_before=50 * MB + n * 4096,
                         rss_after=50 * MB + n * 4096 + (3 * MB if n % 151 == 0 else -8192 if n % 13 == 0 else 0),
                         outcome=outcome, class_metrics=cm, statements=_statements(rng, n))
        if n % 17 == 0:
            tm.custom = (CustomMetric("api_ms", rng.random() * 40, {"endpoint": "/orders", "n": n}),
                         CustomMetric("rows", float(n % 150)))
        if n % 211 == 0:
            tm.custom = (*tm.custom, CustomMetric("ratio", float("nan")), CustomMetric("ratio", float("inf")))
        if n % 151 == 0:
            tm.allocations = ({"site": "app/cache.py:12", "size_mb": 2.5, "count": 300},)
            tm.memory_snapshots = ({"label": "after load", "rss_mb": 52.5, "vms_mb": 400.25},)
        if n % 89 == 0:
            tm.resources, tm.resource_wait_ms = ("redis", "smtp"), rng.random() * 5
        if n % 123 == 0:
            tm.repeated_statements = ({"statement": "SELECT * FROM users WHERE id = ?", "calls": 12 + n % 9,
                                       "threshold": 10, "severity": "warning" if n % 2 else "critical",
                                       "file": "/app/orders.py", "line": 40 + n % 5, "function": "load"},)
        if n == 5:
            tm.total_ms = 5  # an int where a float is expected, as a hand-made record may hold
        if outcome in ("failed", "error"):
            details[name] = (f'Traceback (most recent call last):\n  File "x.py", line {n}\n'
                             f"{'AssertionError' if outcome == 'failed' else 'pkg.errors.Boom'}: {n} & <{n}> \"q\""
                             "\x01 \x7f tab\tend\r\n")
        elif outcome == "skipped":
            details[name] = f"needs <redis> & 'smtp' #{n}"
        tests.append(tm)
    tests.append(TestMetrics("setUpClass (pkg.test_mod9.Broken)", outcome="error"))
    details["setUpClass (pkg.test_mod9.Broken)"] = "Traceback (most recent call last):\nRuntimeError: no\n"
    tests.append(TestMetrics("unittest.loader._FailedTest.pkg.test_gone", total_ms=0.5, outcome="error"))
    summary = RunSummary(tests=len(tests), passed=sum(t.outcome in ("passed", "expected_failure") for t in tests),
                         failed=sum(t.outcome in ("failed", "unexpected_success") for t in tests),
                         errors=sum(t.outcome == "error" for t in tests),
                         skipped=sum(t.outcome == "skipped" for t in tests), wall_seconds=12.345)
    return tests, summary, details


def report_kwargs() -> dict[str, Any]:
    """What build_report takes besides the tests and the summary."""
    return {"slowest": SLOWEST, "schema_cache": dict(SCHEMA_CACHE), "parallel": dict(PARALLEL)}


def write_golden(directory: Path) -> None:
    """Write the sample run's JSON and JUnit XML with the writers of this checkout."""
    from tddkit.reporting.junit import write_junit_xml
    from tddkit.reporting.report import build_report, write_json

    tests, summary, details = sample_run()
    report = build_report(tests, summary, sample_settings(), **report_kwargs())
    write_json(str(directory / "report.json"), report, tests)
    write_junit_xml(str(directory / "junit.xml"), tests, summary, details=details)


if __name__ == "__main__":
    write_golden(Path(sys.argv[1]) if len(sys.argv) > 1 else GOLDEN)
