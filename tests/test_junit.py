"""tddkit.reporting.junit on hand-made metrics (no database needed); a real run's XML is checked in test_runner."""

import os
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET
from pathlib import Path

if __name__ == "__main__":  # python tests/test_x.py: this checkout first on sys.path, not an installed tddkit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tddkit.measure.metrics import TestMetrics
from tddkit.reporting.junit import write_junit_xml
from tddkit.reporting.report import RunSummary
from tests.test_report import SUMMARY, make_tests


class JUnitXMLTests(unittest.TestCase):
    def setUp(self) -> None:
        self.tests = make_tests()
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.dir = tmp.name

    def test_junit_xml(self) -> None:
        path = os.path.join(self.dir, "junit.xml")
        details = {
            "pkg.test_mod.Case.test_c": "Traceback (most recent call last):\n  ...\nAssertionError: 1 != 2\n",
            "pkg.test_mod.Case.test_d": "Traceback (most recent call last):\n  ...\nKeyError: 'x'\n",
            "pkg.test_mod.Case.test_e": "not today",
        }
        write_junit_xml(path, self.tests, SUMMARY, details=details)
        root = ET.parse(path).getroot()
        self.assertEqual(root.tag, "testsuites")
        suite = root.find("testsuite")
        cases = suite.findall("testcase")
        self.assertEqual(len(cases), len(self.tests))
        self.assertEqual(
            {k: suite.get(k) for k in ("tests", "failures", "errors", "skipped")},
            {"tests": "5", "failures": "1", "errors": "1", "skipped": "1"},
        )
        by_name = {case.get("name"): case for case in cases}
        self.assertEqual(by_name["test_a"].get("classname"), "pkg.test_mod.Case")
        self.assertEqual(by_name["test_a"].get("time"), "0.020000")
        self.assertEqual([child.tag for child in by_name["test_a"]], ["properties"])
        failure = by_name["test_c"].find("failure")
        self.assertEqual((failure.get("message"), failure.get("type")), ("AssertionError: 1 != 2", "AssertionError"))
        self.assertIn("Traceback", failure.text)
        self.assertEqual(by_name["test_d"].find("error").get("type"), "KeyError")
        self.assertEqual(by_name["test_e"].find("skipped").get("message"), "not today")
        props = {p.get("name"): p.get("value") for p in by_name["test_c"].iter("property")}
        self.assertEqual((props["query_count"], props["custom:api_ms"]), ("2", "30.0"))

    def test_junit_outcome_mapping(self) -> None:
        path = os.path.join(self.dir, "junit.xml")
        tests = [
            TestMetrics("m.C.test_x", outcome="expected_failure"),
            TestMetrics("m.C.test_y", outcome="unexpected_success"),
            TestMetrics("m.C.test_z (i=1.5)", outcome="failed"),
        ]
        write_junit_xml(path, tests, RunSummary(3, 1, 2, 0, 0, 0.1))
        cases = ET.parse(path).getroot().find("testsuite").findall("testcase")
        self.assertIsNone(cases[0].find("failure"))
        self.assertEqual(cases[1].find("failure").get("message"), "unexpected success")
        self.assertEqual((cases[2].get("classname"), cases[2].get("name")), ("m.C", "test_z (i=1.5)"))


if __name__ == "__main__":
    unittest.main()
