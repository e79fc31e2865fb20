"""tddkit.reporting.gate on a real run of tests/cases/regression.py and on runs where nothing was measured."""

import sys
import unittest
from pathlib import Path
from unittest import mock

if __name__ == "__main__":  # python tests/test_x.py: this checkout first on sys.path, not an installed tddkit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tddkit
import tddkit.reporting.gate
from tddkit import exit_codes
from tddkit.config.settings import DEFAULT_GATE
from tddkit.measure.metrics import TestMetrics
from tddkit.reporting.gate import EXIT_GATE_FAILED, evaluate_gate, format_gate, gate_exit_code
from tddkit.reporting.query_changes import QueryChange
from tddkit.reporting.regressions import Comparison
from tests.test_baseline import run_regression_suite


class GateTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tests, cls.wall = run_regression_suite()

    def test_a_real_run_passes_the_default_limits(self):
        gate = evaluate_gate(self.tests, self.wall, DEFAULT_GATE)
        self.assertTrue(gate.passed, gate.failures)
        self.assertEqual([check.name for check in gate.checks], list(DEFAULT_GATE))
        self.assertTrue(all(check.ok and check.value is not None for check in gate.checks))
        self.assertEqual(format_gate(gate), "performance gate: PASSED")
        self.assertEqual(gate_exit_code(gate), 0)

    def test_an_exceeded_limit_fails_and_is_named(self):
        gate = evaluate_gate(self.tests, self.wall, {**DEFAULT_GATE, "max_test_ms": 15.0})
        self.assertFalse(gate.passed)
        [failure] = gate.failures
        slowest = max(self.tests, key=lambda tm: tm.total_ms)
        self.assertEqual(failure, f"max_test_ms: {slowest.total_ms:.1f} ms > 15 ms ({slowest.test_id})")
        self.assertGreater(slowest.total_ms, 25.0)
        text = format_gate(gate)
        self.assertTrue(text.startswith("performance gate: FAILED"), text)
        self.assertIn(failure, text)
        self.assertEqual(gate_exit_code(gate), EXIT_GATE_FAILED)

    def test_average_setup_and_suite_limits(self):
        gate = evaluate_gate(self.tests, self.wall, {"average_test_ms": 1, "fixture_setup_ms": 0, "suite_s": 0.001})
        self.assertEqual([f.split(":")[0] for f in gate.failures], ["average_test_ms", "fixture_setup_ms", "suite_s"])
        self.assertRegex(gate.failures[2], r"^suite_s: 0\.\d s > 0\.001 s")

    def test_an_empty_run_is_not_measured_and_fails(self):
        import_failure = TestMetrics("unittest.loader._FailedTest.test_broken", body_ms=0.1, total_ms=0.1,
                                     outcome="error")
        fixture_error = TestMetrics("setUpClass (m.T)", outcome="error")
        for tests in ([], [TestMetrics("m.T.test_skipped", outcome="skipped")], [import_failure, fixture_error]):
            gate = evaluate_gate(tests, 0.001, DEFAULT_GATE)
            self.assertFalse(gate.passed)
            self.assertEqual(gate.failures, [f"{name}: not measured (no tests ran)" for name in DEFAULT_GATE])
            self.assertTrue(all(check.value is None for check in gate.checks))
        gate = evaluate_gate(self.tests, None, {"suite_s": 30.0})
        self.assertEqual(gate.failures, ["suite_s: not measured (no suite time)"])

    def test_an_unknown_limit_fails_clearly(self):
        gate = evaluate_gate(self.tests, self.wall, {"max_tset_ms": 200.0})
        self.assertEqual(gate.failures, ["unknown gate limit 'max_tset_ms'; known: average_test_ms, max_test_ms, "
                                         "fixture_setup_ms, suite_s, max_queries_per_test, query_count_increase, "
                                         "median_vs_history"])

    def test_max_queries_per_test(self):
        tests = [TestMetrics("m.T.test_a", total_ms=1.0, query_count=3, outcome="passed"),
                 TestMetrics("m.T.test_b", total_ms=1.0, query_count=12, outcome="passed")]
        self.assertTrue(evaluate_gate(tests, 1.0, {"max_queries_per_test": 12}).passed)
        gate = evaluate_gate(tests, 1.0, {"max_queries_per_test": 0})
        self.assertEqual(gate.failures, ["max_queries_per_test: 12 statements > 0 statements (m.T.test_b)"])

    def test_query_count_increase_against_the_baseline(self):
        tests = [TestMetrics("m.T.test_a", total_ms=1.0, query_count=3, outcome="passed"),
                 TestMetrics("m.T.test_b", total_ms=1.0, query_count=12, outcome="passed"),
                 TestMetrics("m.T.test_new", total_ms=1.0, query_count=50, outcome="passed")]
        baseline = {"m.T.test_a": 3, "m.T.test_b": 10}
        self.assertTrue(evaluate_gate(tests, 1.0, {"query_count_increase": 2}, baseline_queries=baseline).passed)
        gate = evaluate_gate(tests, 1.0, {"query_count_increase": 0}, baseline_queries=baseline)
        self.assertEqual(gate.failures, ["query_count_increase: 2 statements > 0 statements (m.T.test_b)"])
        self.assertTrue(evaluate_gate(tests[:1], 1.0, {"query_count_increase": 0}, baseline_queries=baseline).passed)
        unmeasured = evaluate_gate(tests, 1.0, {"query_count_increase": 0})
        self.assertEqual(unmeasured.failures, ["query_count_increase: not measured (no baseline: run with --compare)"])


class ExitCodeTests(unittest.TestCase):
    def test_exit_codes_are_documented_and_distinct(self):
        self.assertEqual(EXIT_GATE_FAILED, 3)
        self.assertNotIn(EXIT_GATE_FAILED, {exit_codes.EXIT_OK, exit_codes.EXIT_TESTS_FAILED, exit_codes.EXIT_USAGE,
                                           exit_codes.EXIT_NO_TESTS})
        flagged = Comparison([mock.sentinel.change], [], [], [], [], 0.2)
        clean = Comparison([], [], [QueryChange("m.T.test_a", 3, 2, "decrease")], [], [], 0.2)
        grown = Comparison([], [], [QueryChange("m.T.test_a", 2, 3, "increase", flagged=True)], [], [], 0.2)
        self.assertEqual(gate_exit_code(comparison=flagged), EXIT_GATE_FAILED)
        self.assertEqual(gate_exit_code(comparison=clean), 0)  # fewer statements do not flag
        self.assertEqual(gate_exit_code(comparison=grown), EXIT_GATE_FAILED)
        self.assertEqual(gate_exit_code(), 0)
        self.assertIn("``EXIT_GATE_FAILED`` (3)", tddkit.reporting.gate.__doc__)


def setUpModule():
    tddkit.get_session()  # one server for every inner run (closed at exit)


if __name__ == "__main__":
    unittest.main()
