"""Large runs: records kept in compact columns, the JSON and JUnit XML written as tests end, the same documents."""

import dataclasses
import gc
import json
import os
import random
import re
import statistics
import sys
import tempfile
import unittest
from pathlib import Path

if __name__ == "__main__":  # python tests/test_x.py: this checkout first on sys.path, not an installed tddkit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tddkit.measure.metrics import ClassMetrics, TestMetrics
from tddkit.measure.records import ROWS_PER_PACK, RunRecords
from tddkit.measure.stats import compute_stats, stdev
from tddkit.reporting.json_stream import JsonStream
from tddkit.reporting.junit import JUnitStream
from tddkit.reporting.report import build_report, report_to_dict
from tddkit.reporting.statements import run_statistics
from tests.cases import records
from tests.report_samples import GOLDEN, report_kwargs, sample_run, sample_settings
from tests.support import run_suite, suite_of

#: What a document says about where and when it was written: the rest must be equal.
_JSON_HEADER = re.compile(r'\A\{\n  "tddkit_version": .*?\n  "summary"', re.DOTALL)
_JUNIT_STAMP = re.compile(r' timestamp="[^"]*" hostname="[^"]*"')


def _json_body(text):
    return _JSON_HEADER.sub('{\n  "summary"', text)


def _rounded(value):
    """The document with floats to 12 significant digits: Python 3.12+ sums floats with compensation, so a mean of
    the golden file (written on 3.11) may differ in its last bits; keys keep their order."""
    if isinstance(value, float):
        return float(f"{value:.12g}")
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_rounded(item) for item in value]
    return value


def _same_document(text):
    return json.dumps(_rounded(json.loads(_json_body(text))), indent=1)


class GoldenFileTests(unittest.TestCase):
    """The made-up run of tests/report_samples.py gives the files tddkit wrote for it before they streamed."""

    @classmethod
    def setUpClass(cls):
        cls.tests, cls.summary, cls.details = sample_run()
        cls.tmp = tempfile.TemporaryDirectory()
        cls.addClassCleanup(cls.tmp.cleanup)

    def stream(self):
        """The sample run through the runner's path: records, the streamed writers, the report from the records."""
        directory = Path(self.tmp.name) / self.id().rsplit(".", 1)[1]
        json_stream, junit = JsonStream(directory / "report.json"), JUnitStream(directory / "junit.xml")
        records = RunRecords()
        for tm in self.tests:
            records.add(tm)
            json_stream.add(tm, self.details.get(tm.test_id, ""))
            junit.add(tm, self.details.get(tm.test_id, ""))
        report = build_report(records, self.summary, sample_settings(), **report_kwargs())
        json_stream.finish(report, records)
        junit.finish(self.summary)
        return directory

    def test_the_streamed_json_is_the_document_written_before(self):
        written = (self.stream() / "report.json").read_text()
        self.assertEqual(_same_document(written), _same_document((GOLDEN / "report.json").read_text()))
        self.assertEqual(list(json.loads(written))[:3], ["tddkit_version", "created", "environment"])

    def test_the_streamed_junit_xml_is_the_file_written_before(self):
        written = (self.stream() / "junit.xml").read_text(encoding="utf-8")
        golden = (GOLDEN / "junit.xml").read_text(encoding="utf-8")
        self.assertEqual(_JUNIT_STAMP.sub("", written), _JUNIT_STAMP.sub("", golden))
        self.assertRegex(written, r'<testsuite name="tddkit" [^>]* timestamp="\d{4}-\d\d-\d\dT[\d:]{8}" hostname="')

    def test_a_report_of_records_is_the_report_of_the_list(self):
        records = RunRecords(self.tests)
        self.assertEqual(list(records), self.tests)  # every field and type, the shared class records too
        kwargs = {"settings": sample_settings(), **report_kwargs()}
        self.assertEqual(build_report(records, self.summary, **kwargs),
                         build_report(self.tests, self.summary, **kwargs))

    def test_no_tests_make_an_empty_list_and_an_empty_suite(self):
        directory = Path(self.tmp.name) / "empty"
        json_stream, junit = JsonStream(directory / "report.json"), JUnitStream(directory / "junit.xml")
        summary = self.summary.__class__(0, 0, 0, 0, 0, 0.0)
        report = build_report([], summary, sample_settings())
        json_stream.finish(report, RunRecords())
        junit.finish(summary)
        written = json.loads((directory / "report.json").read_text())
        self.assertEqual(written, json.loads(json.dumps({**report_to_dict(report, []), "created": written["created"]})))
        self.assertEqual(written["tests"], [])
        self.assertRegex((directory / "junit.xml").read_text(), r'(?s)<testsuite name="tddkit" tests="0" .* />\n'
                                                                 r"</testsuites>\Z")


class RecordsTests(unittest.TestCase):
    def test_records_give_back_hand_made_values_as_they_were(self):
        tests = [TestMetrics("m.C.test_a", total_ms=5, body_ms=None, rss_after=2**70, outcome="flaky"),
                 TestMetrics("m.C.test_b", total_ms=1.5, statements=(("SELECT ?", 1.0, 2, 3),)),
                 TestMetrics("m.C.test_c", total_ms=2.5, outcome="skipped")]
        records = RunRecords(tests)
        self.assertEqual(list(records), tests)
        self.assertEqual((records[-1], records[0:2]), (tests[-1], tests[0:2]))
        self.assertEqual((records.field("total_ms", range(3)), records.measured()), ([5, 1.5, 2.5], [0, 1]))
        self.assertEqual([records.outcome_count(o) for o in ("flaky", "skipped", "passed")], [1, 1, 0])

    def test_records_read_while_tests_are_added_give_back_every_value_across_packs(self):
        tests = [TestMetrics(f"m.C.test_{i}", total_ms=i / 2, query_count=i, rss_after=2**70 if i == 300 else i)
                 for i in range(2 * ROWS_PER_PACK + 50)]
        records = RunRecords()
        for i, tm in enumerate(tests):
            records.add(tm)
            if i in (0, ROWS_PER_PACK - 1, ROWS_PER_PACK, 300, 2 * ROWS_PER_PACK - 1):  # read mid-run, then go on
                self.assertEqual(records[i], tm)
                self.assertEqual(records.field("total_ms", range(i + 1)), [t.total_ms for t in tests[:i + 1]])
        self.assertEqual(list(records), tests)
        self.assertEqual(records.value("rss_after", 300), 2**70)
        self.assertEqual(records.field("rss_after", [299, 300]), [299, 2**70])
        self.assertEqual(records.sparse(range(len(tests))), [300])

    def test_records_keep_each_test_s_fields_as_they_were_when_it_was_added(self):
        classes = [ClassMetrics(f"m.C{k}") for k in range(3)]
        tests = [TestMetrics(f"m.C.test_{i}", total_ms=float(i), class_metrics=classes[i // 100] if i % 7 else None,
                             resources=("db",) if i % 50 == 0 else (), outcome="passed",
                             statements=(("SELECT ?", i, 0.5, 0.5),) if i % 2 else ())
                 for i in range(ROWS_PER_PACK + 44)]
        records = RunRecords()
        for tm in tests:
            records.add(tm)
        expected = [dataclasses.replace(tm) for tm in tests]
        for tm in tests:  # changed after it was added (the pack of the last 44 is still waiting)
            tm.total_ms, tm.outcome, tm.statements, tm.resources = -1.0, "failed", (), ("x",)
        self.assertEqual(list(records), expected)
        self.assertEqual(records.classes, classes)
        self.assertEqual(records.classes_of([1, 7, 150]), [classes[0], classes[1]])
        self.assertEqual(records.sparse(range(len(tests))), list(range(0, len(tests), 50)))

    def test_every_test_s_statements_read_from_the_arrays_are_those_read_test_by_test(self):
        tests = [TestMetrics(f"m.C.test_{i}", statements=tuple((f"SELECT {k}", k + 1, 0.5 * k, 0.25 * k)
                                                              for k in range(i % 3))) for i in range(7)]
        records = RunRecords(tests)
        everything = list(records.statements(range(7)))  # every test
        self.assertEqual(everything, list(records.statements(list(range(7)))))  # test by test
        self.assertEqual(everything[:3], [(1, "SELECT 0", 1, 0.0, 0.0), (2, "SELECT 0", 1, 0.0, 0.0),
                                          (2, "SELECT 1", 2, 0.5, 0.25)])
        hand_made = RunRecords([*tests, TestMetrics("m.C.test_x", statements=(("SELECT ?", 1.0, 2, 3),))])
        self.assertEqual(list(hand_made.statements(range(8))), [*everything, (7, "SELECT ?", 1.0, 2, 3)])


    def test_the_run_s_statement_totals_summed_as_tests_are_recorded_are_those_counted_test_by_test(self):
        rng = random.Random(3)
        tests = [TestMetrics(f"m.C.test_{i}", statements=tuple((f"SELECT {k}", rng.randint(1, 5), rng.random(),
                                                                rng.random()) for k in rng.sample(range(6), 3)))
                 for i in range(50)]
        records = RunRecords(tests)
        self.assertIsNotNone(records.run_totals(range(50)))
        self.assertIsNone(records.run_totals(list(range(50))))
        for keep in (500, 4):  # 4: two shapes folded into OTHER
            summed = run_statistics(records, keep=keep)  # every test: the totals kept as the tests were recorded
            self.assertEqual(summed, run_statistics(records, keep=keep, indices=list(range(50))))  # test by test
        self.assertEqual(max(len(s.tests) for s in summed), 20)
        self.assertGreater(max(s.test_count for s in summed), 20)
        hand_made = RunRecords([*tests, TestMetrics("m.C.test_x", statements=(("SELECT ?", 1.0, 2, 3),))])
        self.assertIsNone(hand_made.run_totals(range(51)))
        self.assertEqual(run_statistics(hand_made), run_statistics(hand_made, indices=list(range(51))))


class StatisticsTests(unittest.TestCase):
    def test_stdev_is_the_statistics_module_s_to_the_last_bit(self):
        rng = random.Random(7)
        samples = [
            [rng.random() for _ in range(500)],
            [rng.lognormvariate(0, 3) for _ in range(500)],
            [float(rng.randint(-5, 5)) for _ in range(50)],
            [rng.uniform(-1, 1) * 10.0 ** rng.randint(-300, 300) for _ in range(50)],  # far apart: no float scale
            [2.0**80 * rng.randint(1, 9) for _ in range(20)],
            [5e-324 * rng.randint(0, 9) for _ in range(20)] + [1.0],
            [0.0, 0.0, 0.0],
            [0.1, 0.1],
        ]
        for values in samples:
            with self.subTest(values=values[:3]):
                self.assertEqual(stdev(values), statistics.stdev(values))
                stats = compute_stats(values)
                self.assertEqual((stats.mean, stats.median, stats.p95, stats.min, stats.max),
                                 (statistics.fmean(values), statistics.median(values),
                                  statistics.quantiles(values, n=20, method="inclusive")[-1], min(values), max(values)))


class RunTests(unittest.TestCase):
    """Real runs on the test server."""

    def test_a_run_keeps_no_test_metrics_objects(self):
        gc.collect()
        before = sum(isinstance(o, TestMetrics) for o in gc.get_objects())
        with tempfile.TemporaryDirectory() as tmp:
            result = run_suite(unittest.TestSuite(records.Cheap(f"test_{i % 3}") for i in range(300)),
                               show_report=True, json_path=os.path.join(tmp, "r.json"),
                               junit_path=os.path.join(tmp, "r.xml"))
            gc.collect()
            kept = sum(isinstance(o, TestMetrics) for o in gc.get_objects()) - before
            self.assertEqual(len(json.loads(Path(tmp, "r.json").read_text())["tests"]), 300)
        self.assertEqual(len(result.test_metrics), 300)
        spare = 1  # the next test's meter, made while the last test was rolled back
        self.assertLessEqual(kept, len(result.report.slowest) + len(result.report.memory_warnings) + spare)

    def test_the_json_file_is_the_document_of_the_run(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "out", "metrics.json")
            result = run_suite(suite_of(records.Mixed), show_report=False, json_path=path)
            written = Path(path).read_text()
        expected = json.dumps(report_to_dict(result.report, list(result.test_metrics)), indent=2) + "\n"
        self.assertEqual(_json_body(written), _json_body(expected))
        self.assertEqual({t["outcome"] for t in json.loads(written)["tests"]},
                         {"passed", "failed", "error", "skipped", "expected_failure"})

    def test_each_testcase_of_the_junit_xml_holds_its_test_s_record(self):
        import xml.etree.ElementTree as ET

        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "junit.xml")
            result = run_suite(suite_of(records.Mixed), show_report=False, junit_path=path)
            root = ET.parse(path).getroot()
        cases = root.find("testsuite").findall("testcase")
        self.assertEqual([f"{c.get('classname')}.{c.get('name')}" for c in cases],
                         [tm.test_id for tm in result.test_metrics])
        for case, tm in zip(cases, result.test_metrics, strict=True):
            properties = {p.get("name"): p.get("value") for p in case.iter("property")}
            self.assertEqual((properties["query_count"], properties["total_ms"], properties["memory_delta"]),
                             (str(tm.query_count), f"{tm.total_ms:.3f}", str(tm.memory_delta)))
        by_name = {case.get("name"): case for case in cases}
        self.assertEqual(by_name["test_fails"].find("failure").get("message"), "AssertionError: 1 != 2")
        self.assertIn('relation "no_such_table" does not exist', by_name["test_errors"].find("error").text)
        self.assertEqual(by_name["test_skipped"].find("skipped").get("message"),
                         "shows a skip <in> the reports & files")
        self.assertEqual((root.get("tests"), root.get("failures"), root.get("errors"), root.get("skipped")),
                         (str(len(cases)), "2", "1", "1"))

    def test_a_run_stopped_midway_leaves_no_file(self):
        for case in (records.Cheap, records.Interrupts):  # the stopped run left its class transaction open
            self.addCleanup(case.tearDownClass)
        with tempfile.TemporaryDirectory() as tmp:
            suite = unittest.TestSuite([records.Cheap("test_0"), records.Interrupts("test_interrupts"),
                                        records.Cheap("test_1")])
            with self.assertRaises(KeyboardInterrupt):
                run_suite(suite, json_path=os.path.join(tmp, "r.json"), junit_path=os.path.join(tmp, "r.xml"))
            self.assertEqual(os.listdir(tmp), [])


if __name__ == "__main__":
    unittest.main()
