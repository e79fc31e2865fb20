"""The HTML report (--html, --tddkit-html) and the performance history (--history, history_dir), from real runs.

Chromium's part (the page drawn, without console errors or requests) is in ChromiumTests: it runs where Debian's
``chromium`` is installed, and must (fails instead of skipping) when REQUIRE_CHROMIUM=1, as in ``tox -e html``.
"""

import atexit
import functools
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

if __name__ == "__main__":  # python tests/test_x.py: this checkout first on sys.path, not an installed tddkit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tddkit
from tddkit.config.settings import Settings
from tddkit.measure.metrics import TestMetrics
from tddkit.measure.records import RunRecords
from tddkit.reporting import history
from tddkit.reporting.gate import evaluate_gate
from tddkit.reporting.html.page import CHECKS_ID, read_embedded, write_html
from tddkit.reporting.json_stream import JsonStream
from tddkit.reporting.report import RunSummary, build_report
from tests import browser
from tests.cases.trivial import Trivial
from tests.support import ROOT, child_env, run_cli, run_suite, suite_of
from tests.test_pytest_plugin import PytestProject, output

MB = 2**20


@functools.cache
def two_runs() -> Path:
    """A directory with the examples run twice on this session's server: the first saving a baseline and starting a
    history, the second comparing with it, with the gate, writing ``run.json`` and ``page.html``."""
    tmp = Path(tempfile.mkdtemp(prefix="tddkit-html-test-"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    common = ["run", "examples", "-q", "--no-report", "--dsn", tddkit.get_session().server_dsn,
              "--history", str(tmp / "history")]
    for extra in (["--save-baseline", str(tmp / "base.json")],
                  ["--compare", str(tmp / "base.json"), "--gate", "--json", str(tmp / "run.json"), "--html",
                   str(tmp / "page.html")]):
        done = run_cli([*common, *extra])
        if done.returncode not in (0, 3) or "tddkit: 65 passed, 0 failed" not in done.stderr:
            raise AssertionError(f"the examples' run failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return tmp


class ReportOfARealRunTests(unittest.TestCase):
    def setUp(self):
        self.dir = two_runs()
        self.page = self.dir / "page.html"

    def test_the_embedded_document_is_the_json_document_of_the_same_run_plus_the_history(self):
        embedded = read_embedded(self.page)
        written = json.loads((self.dir / "run.json").read_text())
        self.assertEqual(list(embedded), [*written, "history"])
        self.assertEqual({k: v for k, v in embedded.items() if k != "history"}, written)
        self.assertEqual(len(embedded["tests"]), 65)

    def test_the_history_keeps_both_runs_and_the_page_shows_them_oldest_first(self):
        files = sorted((self.dir / "history").glob("*.json"))
        self.assertEqual(len(files), 2)
        entries = [json.loads(f.read_text()) for f in files]
        shown = read_embedded(self.page)["history"]
        self.assertEqual(shown, entries)
        self.assertEqual(history.load(self.dir / "history", 30), entries)
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        written = json.loads((self.dir / "run.json").read_text())
        for entry in entries:
            self.assertEqual((entry["tests"], entry["passed"], entry["commit"]), (65, 65, commit))
            self.assertEqual(set(entry["metrics"]), set(written["metrics"]))
        self.assertEqual(entries[-1]["metrics"]["individual_test"]["median"],
                         written["metrics"]["individual_test"]["median"])
        self.assertEqual(entries[-1]["queries"]["total"], sum(t["query_count"] for t in written["tests"]))
        self.assertLess(max(f.stat().st_size for f in files), 4096, "a compact summary")

    def test_every_key_of_a_history_entry_is_in_the_output_reference_and_back(self):
        text = (ROOT / "docs" / "reference" / "output.md").read_text().split("## History", 1)[1].split("\n## ", 1)[0]
        [entry, *_] = history.load(self.dir / "history", 1)
        self.assertEqual(set(re.findall(r"^\| `([^`]+)` \|", text, re.MULTILINE)), set(entry))

    def test_the_comparison_and_the_gate_are_embedded_beside_the_document(self):
        checks = read_embedded(self.page, CHECKS_ID)
        baseline = json.loads((self.dir / "base.json").read_text())
        self.assertEqual(set(checks["comparison"]["baseline_ms"]), set(baseline["tests"]))
        self.assertEqual({c["name"] for c in checks["gate"]["checks"]}, set(Settings().gate))

    def test_the_page_loads_nothing_script_styles_and_data_are_inline(self):
        text = self.page.read_text()
        self.assertRegex(text, r'<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
                               r"script-src 'sha256-[^']+'; style-src 'sha256-[^']+'; img-src data:;")
        self.assertEqual(re.findall(r"<(?:script|link|img|iframe)[^>]*\b(?:src|href)=", text), [])
        self.assertNotRegex(text, r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}/(?!2000/svg)", "no address but the SVG "
                                  "namespace name")
        self.assertLess(self.page.stat().st_size, 200_000)


class SizeTests(unittest.TestCase):
    def test_10000_tests_and_30_runs_of_history_fit_in_3_mb_and_read_back_equal(self):
        rng = random.Random(34)
        with tempfile.TemporaryDirectory() as tmp:
            stream = JsonStream(Path(tmp) / "run.json")
            tests = []
            for n in range(10_000):
                total = rng.lognormvariate(0, 1)
                tm = TestMetrics(f"tests.integration.test_orders_{n // 1000:03d}.OrderCheckoutTests{n // 100}."
                                 f"test_checkout_with_a_discount_code_{n}", connection_ms=rng.random() * 0.05,
                                 setup_ms=rng.random(), body_ms=total * 0.7, cleanup_ms=rng.random() * 0.3,
                                 total_ms=total, query_count=n % 13, query_ms=rng.random(),
                                 rss_before=80 * MB + n * 4096, rss_after=80 * MB + n * 4096 + (n % 7) * 4096,
                                 outcome="passed",
                                 statements=((f"SELECT * FROM orders WHERE id = ? AND n = {n % 40}", 3, 0.4, 0.2),))
                stream.add(tm)
                tests.append(tm)
            report = build_report(RunRecords(tests), RunSummary(10_000, 10_000, 0, 0, 0, 12.5), Settings())
            stream.finish(report, RunRecords(tests))
            entry = history.summarize(report, Path(tmp))
            page = Path(tmp) / "page.html"
            write_html(page, Path(tmp) / "run.json", [entry] * 30)
            size = page.stat().st_size
            self.assertLess(size, 3 * MB, f"{size / MB:.2f} MB")
            self.assertEqual(read_embedded(page), {**json.loads((Path(tmp) / "run.json").read_text()),
                                                   "history": [entry] * 30})


class HistoryTests(unittest.TestCase):
    def setUp(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.dir = Path(tmp.name)
        result = run_suite(suite_of(Trivial), show_report=True)
        self.records = result.records
        self.report = result.report

    def test_outside_a_git_checkout_the_commit_and_branch_are_none(self):
        entry = history.summarize(self.report, self.dir)
        self.assertEqual((entry["commit"], entry["branch"]), (None, None))
        self.assertEqual(entry["tests"], len(self.records))

    def test_load_gives_the_last_n_oldest_first_and_skips_files_that_are_no_entry(self):
        written = []
        for _ in range(5):
            entry = history.summarize(self.report, self.dir)
            history.append(self.dir, entry)
            written.append(entry)
        (self.dir / "99999999-broken.json").write_text("{not json")
        (self.dir / "99999999-other.json").write_text('{"format": "something else"}')
        (self.dir / "notes.txt").write_text("not an entry")
        self.assertEqual(history.load(self.dir, 3), written[-3:])
        self.assertEqual(history.load(self.dir / "missing", 3), [])

    def test_two_processes_writing_at_once_each_add_every_entry(self):
        entry = history.summarize(self.report, self.dir)
        code = ("import json, sys; from pathlib import Path; from tddkit.reporting import history; "
                "entry = json.loads(sys.argv[1]); d = Path(sys.argv[2])\n"
                "for n in range(40):\n    history.append(d, {**entry, 'id': f'{entry[\"id\"]}-{sys.argv[3]}-{n:03d}'})")
        writers = [subprocess.Popen([sys.executable, "-c", code, json.dumps(entry), str(self.dir), str(k)],
                                    env=child_env()) for k in range(2)]
        self.assertEqual([w.wait(timeout=60) for w in writers], [0, 0])
        self.assertEqual(len(history.load(self.dir, 1000)), 80)
        self.assertEqual([p.name for p in self.dir.iterdir() if not p.name.endswith(".json")], [])

    def test_the_gate_against_the_history_median(self):
        entry = history.summarize(self.report, self.dir)
        median = entry["metrics"]["individual_test"]["median"]

        def gate(earlier):
            return evaluate_gate(self.records, 1.0, {"median_vs_history": 1.5}, history=earlier)

        def shifted(factor):
            return {**entry, "metrics": {"individual_test": {**entry["metrics"]["individual_test"],
                                                             "median": median * factor}}}

        slower = gate([shifted(0.1), shifted(0.2), shifted(0.5)])
        self.assertFalse(slower.passed)
        self.assertRegex(slower.failures[0], r"^median_vs_history: 5\.00 x > 1\.5 x \(median [\d.]+ ms vs [\d.]+ ms "
                                             r"over 3 earlier runs\)$")
        self.assertTrue(gate([shifted(1.0), shifted(0.9), shifted(5.0)]).passed)
        self.assertTrue(gate([]).passed, "nothing to compare with yet")
        self.assertEqual(gate(None).failures, ["median_vs_history: not measured (no history: pass --history DIR or "
                                               "set history_dir)"])


class UsageTests(unittest.TestCase):
    def test_a_bad_history_or_html_path_is_one_line_and_exit_2_before_any_test(self):
        with tempfile.NamedTemporaryFile() as a_file:
            for args, line in ((["--history", a_file.name], f"--history {a_file.name}: that is a file; give a "
                                                             "directory (one file per run goes there)"),
                               (["--history", "/proc/tddkit-history"], "--history /proc/tddkit-history cannot be "
                                                                       "written"),
                               (["--html", "/proc/x/page.html"], "--html /proc/x/page.html cannot be written")):
                with self.subTest(args=args):
                    done = run_cli(["run", "tests.cases.trivial", *args])
                    self.assertEqual(done.returncode, 2, done.stderr)
                    self.assertEqual(len(done.stderr.splitlines()), 1, done.stderr)
                    self.assertTrue(done.stderr.startswith(f"tddkit: error: {line}"), done.stderr)
                    self.assertEqual(done.stdout, "")

    def test_history_dir_in_the_config_is_kept_by_runs_and_the_gate_holds_them_to_its_median(self):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            (root / "pyproject.toml").write_text('[tool.tddkit]\nhistory_dir = "perf/history"\n'
                                                 "[tool.tddkit.gate]\nmedian_vs_history = 2\n")
            (root / "test_plain.py").write_text("import unittest\n\nclass T(unittest.TestCase):\n"
                                                "    def test_a(self):\n        pass\n")
            done = run_cli(["run", "test_plain.py", "-q", "--no-report", "--gate"], cwd=root)
            self.assertEqual(done.returncode, 0, done.stderr)
            self.assertIn("performance gate: PASSED", done.stderr, "an empty history: nothing to compare with")
            [entry] = history.load(root / "perf" / "history", 10)
            self.assertEqual((entry["tests"], entry["commit"]), (1, None))
            entry["metrics"]["individual_test"]["median"] /= 1000  # two earlier runs 1000 times faster
            for name in ("0-faster", "1-faster"):
                history.append(root / "perf" / "history", {**entry, "id": name})
            done = run_cli(["run", "test_plain.py", "-q", "--no-report", "--gate"], cwd=root)
            self.assertEqual(done.returncode, 3, done.stderr)
            self.assertRegex(done.stderr, r"  - median_vs_history: [\d.]+ x > 2 x \(median [\d.]+ ms vs [\d.]+ ms "
                                          r"over 3 earlier runs\)")
            self.assertEqual(len(history.load(root / "perf" / "history", 10)), 4)


class PytestTests(unittest.TestCase):
    def test_tddkit_html_embeds_the_tddkit_json_document_and_the_history(self):
        project = PytestProject(self, "module_data")
        for _ in range(2):
            done = project.pytest("-q", "--tddkit-json=run.json", "--tddkit-html=out/page.html",
                                  "--tddkit-history=hist", shared_server=True)
            self.assertEqual(done.returncode, 0, output(done))
        self.assertIn("tddkit: HTML report written to out/page.html", done.stdout)
        embedded = read_embedded(project.root / "out" / "page.html")
        written = json.loads((project.root / "run.json").read_text())
        self.assertEqual({k: v for k, v in embedded.items() if k != "history"}, written)
        self.assertEqual(embedded["history"], history.load(project.root / "hist", 30))
        self.assertEqual(len(embedded["history"]), 2)
        if browser.available():
            seen = browser.render(project.root / "out" / "page.html")
            self.assertEqual((seen.rendered, seen.errors, seen.requests), ("ok", [], []))

    def test_a_bad_tddkit_html_or_history_path_is_a_usage_error_before_any_test(self):
        project = PytestProject(self, "module_data")
        for option in ("--tddkit-html=/proc/x/page.html", "--tddkit-history=/proc/tddkit-history"):
            with self.subTest(option):
                done = project.pytest("-q", option, shared_server=True)
                self.assertEqual(done.returncode, 4, output(done))
                self.assertIn(f"tddkit: {option.replace('=', ' ')} cannot be written", done.stderr)
                self.assertNotIn("Traceback", output(done))
                self.assertNotIn("passed", output(done))


@unittest.skipUnless(browser.available() or os.environ.get("REQUIRE_CHROMIUM") == "1",
                     "Chromium is not installed (apt-get install chromium); REQUIRE_CHROMIUM=1 makes this a failure")
class ChromiumTests(unittest.TestCase):
    def test_the_examples_report_draws_every_chart_without_console_errors_or_requests(self):
        with tempfile.TemporaryDirectory() as tmp:
            seen = browser.render(two_runs() / "page.html", screenshot=Path(tmp) / "page.png")
            self.assertGreater((Path(tmp) / "page.png").stat().st_size, 50_000)
        self.assertEqual((seen.rendered, seen.errors, seen.requests), ("ok", [], []))
        self.assertEqual(set(seen.charts), {"durations", "phases", "slowest-tests", "slowest-statements", "baseline",
                                            "trend"})
        for name, chart in seen.charts.items():
            with self.subTest(chart=name):
                self.assertGreater(chart["marks"], 3)
                self.assertGreater(chart["width"], 600)
                self.assertGreater(chart["height"], 100)
        self.assertEqual((seen.charts["trend"]["points"], seen.charts["trend"]["current"]), (4, 1), "2 runs, 2 lines")
        self.assertEqual(seen.tables["tests"], 65)
        document = read_embedded(two_runs() / "page.html")
        self.assertEqual(seen.tables["statements"], len(document["statements"]))
        found = document["repeated_statements"][0]
        self.assertIn(f"{found['file']}:{found['line']} ({found['function']})", seen.text)
        self.assertTrue(all(link.startswith("#") for link in seen.links), seen.links)

    def test_the_check_sees_script_errors_requests_and_a_page_that_cannot_draw(self):
        with tempfile.TemporaryDirectory() as tmp:
            pages = {"throws": "<script>throw new Error('boom')</script>",
                     "requests": '<img src="http://127.0.0.1:9/tddkit.png">'}
            for name, body in pages.items():
                (Path(tmp) / f"{name}.html").write_text(f"<!DOCTYPE html><html><body data-rendered='ok'>{body}"
                                                        "</body></html>")
            self.assertIn("boom", " ".join(browser.render(Path(tmp) / "throws.html").errors))
            self.assertEqual(browser.render(Path(tmp) / "requests.html").requests, ["http://127.0.0.1:9/tddkit.png"])
            broken = Path(tmp) / "broken.html"
            broken.write_text(re.sub(r'(id="tddkit-data" data-encoding="gzip\+base64">)"[^"]*"', r'\1"AAAA"',
                                     (two_runs() / "page.html").read_text()))
            seen = browser.render(broken)
            self.assertEqual(seen.rendered, "error")
            self.assertNotEqual(seen.errors, [])
            self.assertEqual(seen.charts, {})

    def test_chromium_is_gone_after_a_render_also_one_that_fails(self):
        with tempfile.TemporaryDirectory() as tmp:
            never = Path(tmp) / "never.html"
            never.write_text("<!DOCTYPE html><html><body>never drawn</body></html>")
            self.assertEqual(browser.render(never, timeout=1).rendered, "undefined")
            with self.assertRaises(FileNotFoundError):
                browser.render(never, screenshot=Path(tmp) / "missing" / "shot.png", timeout=1)
        self.assertEqual(chromium_processes(), [])


def chromium_processes() -> list[str]:
    """Processes running with a profile directory of tests/browser.py."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "tddkit-chromium-" in cmdline:
            found.append(cmdline)
    return found


if __name__ == "__main__":
    unittest.main()
