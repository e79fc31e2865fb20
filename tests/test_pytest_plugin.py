"""The pytest plugin, run as users run it: pytest in a project directory, with real servers.

The project's files are in tests/pytest_project/ and are copied into a
temporary directory as test_*.py for each run.
"""

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

if __name__ == "__main__":  # python tests/test_x.py: this checkout first on sys.path, not an installed tddkit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg

import tddkit
from tddkit.isolation.named_resources import lock_key
from tests.support import ROOT, child_env, postgres_processes, shared_tempdir, wait_until

PROJECT_FILES = ROOT / "tests" / "pytest_project"
HAVE_XDIST = importlib.util.find_spec("xdist") is not None
HAVE_SQLALCHEMY = importlib.util.find_spec("sqlalchemy") is not None


class PytestProject:
    """A temporary pytest project with the shared schema and some of the test modules."""

    def __init__(self, test: unittest.TestCase, *modules: str, config: str = "") -> None:
        tmp = tempfile.TemporaryDirectory(prefix="tddkit-pytest-")
        test.addCleanup(tmp.cleanup)
        self.root = Path(tmp.name)
        (self.root / "pyproject.toml").write_text(f'[tool.tddkit]\nschema = ["schema.sql"]\n{config}')
        shutil.copy(PROJECT_FILES / "schema.sql", self.root)
        for module in modules:
            shutil.copy(PROJECT_FILES / f"{module}.py", self.root / f"test_{module}.py")
        self.run_dir = shared_tempdir()
        test.addCleanup(self.run_dir.cleanup)

    def pytest(self, *args: str, timeout: float = 240, shared_server: bool = False,
               **env: str) -> subprocess.CompletedProcess:
        """Run pytest in the project; ``shared_server``: on this session's server (no embedded one to start)."""
        if shared_server:
            args = (*args, f"--tddkit-dsn={tddkit.get_session().server_dsn}")
        return subprocess.run(self.command(*args), cwd=self.root, env=self.env(**env), capture_output=True,
                              text=True, timeout=timeout)

    def command(self, *args: str) -> list:
        return [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args]

    def env(self, **extra: str) -> dict:
        return child_env(TDDKIT_RUN_DIR=self.run_dir.name, **extra)

    def leftovers(self) -> list:
        """Servers still running and run directories left from this project's runs."""
        return postgres_processes(self.run_dir.name) + os.listdir(self.run_dir.name)


def output(done: subprocess.CompletedProcess) -> str:
    return done.stdout + done.stderr


class FixtureTests(unittest.TestCase):
    def test_module_and_class_data_and_isolation_between_tests(self):
        project = PytestProject(self, "module_data", "next_module")
        done = project.pytest("-q")
        self.assertEqual(done.returncode, 0, output(done))
        self.assertIn("7 passed", done.stdout)
        self.assertRegex(done.stdout, r"tddkit: 7 tests measured, median [\d.]+ ms per test")
        self.assertEqual(project.leftovers(), [])

    def test_the_same_row_in_both_orders(self):
        project = PytestProject(self, "module_data")
        for order in (("test_a_sees_module_data_and_inserts", "test_b_inserts_the_same_row"),
                      ("test_b_inserts_the_same_row", "test_a_sees_module_data_and_inserts")):
            with self.subTest(order=order):
                done = project.pytest("-v", *(f"test_module_data.py::{name}" for name in order), shared_server=True)
                self.assertEqual(done.returncode, 0, output(done))
                ran = [line.split("::")[1].split()[0] for line in done.stdout.splitlines() if " PASSED" in line]
                self.assertEqual(ran, list(order))

    def test_module_data_first_made_by_a_class_test_outlives_the_class(self):
        project = PytestProject(self, "module_data")
        done = project.pytest("-v", "test_module_data.py::TestWithClassData::test_class_and_module_data",
                              "test_module_data.py::test_c_class_data_is_gone_after_the_class", shared_server=True)
        self.assertEqual(done.returncode, 0, output(done))
        self.assertEqual(done.stdout.count(" PASSED"), 2, output(done))

    @unittest.skipUnless(HAVE_SQLALCHEMY, "SQLAlchemy is not installed")
    def test_sqlalchemy_fixtures_as_real_suites_use_them_with_warnings_as_errors(self):
        warnings_as_errors = '[tool.pytest.ini_options]\nfilterwarnings = ["error"]\n'
        project = PytestProject(self, "sqlalchemy_orm", config=warnings_as_errors)
        done = project.pytest("-q", "-p", "no:asyncio", shared_server=True)  # its config warnings would be errors
        self.assertEqual(done.returncode, 0, output(done))
        self.assertIn("6 passed", done.stdout)

    def test_a_session_scoped_fixture_gets_an_error_naming_the_scopes_that_work(self):
        done = PytestProject(self, "wrong_scope").pytest("-q", shared_server=True)
        self.assertEqual(done.returncode, 1, output(done))
        self.assertIn("ScopeMismatch", done.stdout)
        self.assertIn("use tddkit_module_conn in a module- or class-scoped fixture", done.stdout)

    def test_tddkit_testcase_classes_are_measured_under_pytest(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "metrics.json"
            done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                   "examples/test_orders.py", f"--tddkit-json={path}"], cwd=ROOT, env=child_env(),
                                  capture_output=True, text=True, timeout=240)
            self.assertEqual(done.returncode, 0, output(done))
            tests = json.loads(path.read_text())["tests"]
        self.assertGreater(len(tests), 5)
        self.assertTrue(all(t["test_id"].startswith("examples/test_orders.py::") for t in tests), tests[0])
        self.assertTrue(all(t["query_count"] > 0 and t["total_ms"] > 0 for t in tests if t["outcome"] == "passed"))


    def test_the_class_of_each_kind_of_test_item_is_pytest_s_item_cls(self):
        project = PytestProject(self)
        (project.root / "conftest.py").write_text(
            "from tddkit.integrations.pytest_items import class_of\n\n\n"
            "def pytest_collection_finish(session):\n"
            "    print('differs:', [i.nodeid for i in session.items if class_of(i) is not i.cls])\n"
            "    print('classes:', sorted(i.cls.__name__ for i in session.items if i.cls))\n")
        (project.root / "test_kinds.py").write_text(
            "import unittest\n\nimport pytest\n\n\ndef test_function():\n    pass\n\n\n"
            "class TestPlain:\n    def test_method(self):\n        pass\n\n"
            "    class TestNested:\n        @pytest.mark.parametrize('n', [1, 2])\n"
            "        def test_nested(self, n):\n            pass\n\n\n"
            "class Case(unittest.TestCase):\n    def test_unittest(self):\n        pass\n")
        done = project.pytest("-q", "-s", shared_server=True)
        self.assertEqual(done.returncode, 0, output(done))
        self.assertIn("differs: []", done.stdout)
        self.assertIn("classes: ['Case', 'TestNested', 'TestNested', 'TestPlain']", done.stdout)


    def test_what_exists_before_the_tests_is_frozen_for_the_garbage_collector_unless_turned_off(self):
        project = PytestProject(self)
        (project.root / "test_frozen.py").write_text(
            "import gc\n\n\ndef test_frozen(tddkit_conn):\n    print('frozen objects:', gc.get_freeze_count())\n")
        for options, frozen in (((), True), (("-o", "tddkit_gc_freeze=false"), False)):
            with self.subTest(options=options):
                done = project.pytest("-q", "-s", *options, shared_server=True)
                self.assertEqual(done.returncode, 0, output(done))
                count = int(done.stdout.split("frozen objects: ")[1].split()[0])
                self.assertTrue(count > 10_000 if frozen else count == 0, count)  # pytest's, tddkit's modules...


class CostAndCleanupTests(unittest.TestCase):
    def test_without_tddkit_fixtures_nothing_is_imported_or_started(self):
        project = PytestProject(self, "no_tddkit")
        done = project.pytest("-q")
        self.assertEqual(done.returncode, 0, output(done))
        imported = (project.root / "test_no_tddkit.py.imported").read_text().split()
        self.assertNotIn("psycopg", imported)
        plugin = {"tddkit.integrations", "tddkit.integrations.pytest_plugin", "tddkit.integrations.pytest_results",
                  "tddkit.integrations.pytest_signals", "tddkit.integrations.pytest_header",
                  "tddkit.integrations.pytest_early", "tddkit.integrations.pytest_queries",
                  "tddkit.integrations.pytest_async", "tddkit.integrations.pytest_gc",
                  "tddkit.integrations.pytest_items", "tddkit.config",
                  "tddkit._version", "tddkit.config.paths"}  # the plugin and its constants, nothing more
        self.assertEqual([m for m in imported if m.startswith("tddkit.") and m not in plugin], [])
        self.assertNotIn("tddkit:", done.stdout)
        self.assertEqual(project.leftovers(), [])

    def test_collect_only_and_x_and_no_plugin_leave_nothing(self):
        project = PytestProject(self, "module_data", "wrong_scope")
        collected = project.pytest("--collect-only", "-q")
        self.assertEqual(collected.returncode, 0, output(collected))
        stopped = project.pytest("-x", "-q", "test_wrong_scope.py", "test_module_data.py")
        self.assertEqual(stopped.returncode, 1, output(stopped))
        self.assertIn("stopping after 1 failures", stopped.stdout)
        disabled = project.pytest("-q", "-p", "no:tddkit", "test_module_data.py")
        self.assertIn("fixture 'tddkit_module_conn' not found", disabled.stdout)
        self.assertEqual(project.leftovers(), [])

    def interrupt(self, project: PytestProject, sig: int) -> tuple:
        """Run pytest, send ``sig`` once the first test waits: (exit code, stdout, stderr, seconds to the end)."""
        started = project.root / "started"
        child = subprocess.Popen(project.command("-q"), cwd=project.root, env=project.env(
            TDDKIT_TEST_STARTED=str(started)), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            self.assertTrue(wait_until(started.exists, 120), "the test never started")
            signalled = time.monotonic()
            child.send_signal(sig)
            out, err = child.communicate(timeout=60)
        finally:
            if child.poll() is None:
                child.kill()
                child.communicate()
        return child.returncode, out, err, time.monotonic() - signalled

    def test_ctrl_c_stops_the_server(self):
        project = PytestProject(self, "interrupted")
        code, out, err, _ = self.interrupt(project, signal.SIGINT)
        self.assertEqual(code, 2, out + err)
        self.assertIn("KeyboardInterrupt", out)
        self.assertEqual(project.leftovers(), [])

    def test_sigterm_stops_the_session_at_once_with_143_and_the_server(self):
        project = PytestProject(self, "interrupted", "module_data", "next_module")
        code, out, err, seconds = self.interrupt(project, signal.SIGTERM)
        self.assertEqual(code, 143, out + err)
        self.assertIn("Interrupted: stopped by SIGTERM", out)
        self.assertRegex(out.strip().splitlines()[-1], r"^no tests ran in [\d.]+s$", "no later test ran")
        self.assertNotIn("Traceback", out + err)
        self.assertNotIn("ServerError", out + err)
        self.assertLess(seconds, 10, out + err)
        self.assertEqual(project.leftovers(), [])


class ReportAndGateTests(unittest.TestCase):
    def test_the_gate_sets_the_exit_status(self):
        project = PytestProject(self, "module_data", config="[tool.tddkit.gate]\nmax_test_ms = 0.001\n")
        done = project.pytest("-q", "--tddkit-gate", "--tddkit-report", shared_server=True)
        self.assertEqual(done.returncode, 3, output(done))
        self.assertIn("tddkit performance report", done.stdout)
        self.assertIn("performance gate: FAILED", done.stdout)
        self.assertRegex(done.stdout, r"max_test_ms: [\d.]+ ms > 0.001 ms")

    def test_repeated_statements_warn_and_are_reported(self):
        project = PytestProject(self, "repeated_queries")
        path = project.root / "metrics.json"
        done = project.pytest("-q", "--tddkit-report", f"--tddkit-json={path}", *(["-n", "2"] if HAVE_XDIST else []),
                              shared_server=True)
        self.assertEqual(done.returncode, 0, output(done))
        line = next(i for i, text in enumerate((PROJECT_FILES / "repeated_queries.py").read_text().splitlines(), 1)
                    if "# the N+1 line" in text)
        found = json.loads(path.read_text())["repeated_statements"]
        self.assertEqual(sorted((r["test_id"].split("::")[1], r["calls"], r["severity"], r["line"]) for r in found),
                         [("test_lookups", 12, "warning", line), ("test_through_the_pool", 16, "critical", line)])
        self.assertIn("Repeated statements (N+1)", done.stdout)
        self.assertIn(f"test_repeated_queries.py:{line}: PerformanceWarning: warning: n_plus_one: one statement ran 12 "
                      "times in test_repeated_queries.py::test_lookups", done.stdout)

    def test_a_missing_baseline_is_a_usage_error(self):
        done = PytestProject(self, "module_data").pytest("-q", "--tddkit-compare", "nowhere.json", shared_server=True)
        self.assertEqual(done.returncode, 4, output(done))
        self.assertIn("baseline file not found", output(done))

    def test_an_unwritable_json_or_baseline_file_is_a_usage_error_before_any_test(self):
        project = PytestProject(self, "module_data")
        for option in ("--tddkit-json", "--tddkit-save-baseline"):
            with self.subTest(option):
                done = project.pytest("-q", f"{option}=/proc/tddkit.json", shared_server=True)
                self.assertEqual(done.returncode, 4, output(done))
                self.assertIn(f"tddkit: {option} /proc/tddkit.json cannot be written (No such file or directory: "
                              "/proc)", done.stderr)
                self.assertNotIn("Traceback", output(done))
                self.assertNotIn("passed", output(done))

    def test_with_a_dsn_nothing_is_left_on_the_server(self):
        server_dsn = tddkit.get_session().server_dsn
        done = PytestProject(self, "module_data").pytest("-q", f"--tddkit-dsn={server_dsn}")
        self.assertEqual(done.returncode, 0, output(done))
        with psycopg.connect(server_dsn, autocommit=True) as admin:
            mine = admin.execute("SELECT datname FROM pg_database WHERE datname LIKE 'tddkit\\_%%' "
                                 "AND datname NOT LIKE 'tddkit\\_tpl%%' AND datname <> %s",
                                 (tddkit.get_session()._database.name,)).fetchall()
        self.assertEqual(mine, [])


@unittest.skipUnless(HAVE_XDIST, "pytest-xdist is not installed")
class TotalTimeTests(unittest.TestCase):
    """``total_ms`` means one thing under ``tddkit run`` and under pytest: the wall time the meter sees, from the
    test's connection to the end of its cleanup (a named-resource wait excluded), the sum of its phases."""

    PAUSE_MS = 50  # each phase's pause in tests/pytest_project/total_time.py

    def measure(self, project: PytestProject, command: list, path: Path, test_id: str) -> tuple:
        """Run ``command`` while this test holds the module's named resource until the run waits for it: the
        JSON record of ``test_id`` and the seconds from the start of the test's own setup to the end of its
        cleanup, as the test noted them."""
        times = project.root / "times"
        times.unlink(missing_ok=True)
        with psycopg.connect(tddkit.get_session().server_dsn, autocommit=True) as holder:
            def waiters() -> int:
                return holder.execute("SELECT count(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))",
                                      (holder.info.backend_pid,)).fetchone()[0]

            holder.execute("SELECT pg_advisory_lock(%s)", (lock_key("total-time"),))
            env = project.env(TDDKIT_DSN=tddkit.get_session().server_dsn, TDDKIT_TEST_TIMES=str(times))
            child = subprocess.Popen(command, cwd=project.root, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
            try:
                wait_until(lambda: waiters() or child.poll() is not None, 120)
                waited = waiters() > 0
                holder.execute("SELECT pg_advisory_unlock(%s)", (lock_key("total-time"),))
                out, err = child.communicate(timeout=240)
            finally:
                if child.poll() is None:
                    child.kill()
                    child.communicate()
        self.assertEqual(child.returncode, 0, out + err)
        self.assertTrue(waited, f"the run never waited for the resource: {out + err}")
        [record] = [t for t in json.loads(path.read_text())["tests"] if t["test_id"] == test_id]
        noted = dict(line.split() for line in times.read_text().splitlines())
        return record, float(noted["end"]) - float(noted["start"])

    def test_total_ms_is_the_meters_wall_time_under_tddkit_run_and_pytest(self):
        project = PytestProject(self, "total_time")
        path = project.root / "metrics.json"
        runs = {
            "test_total_time.PausedCase.test_case":
                [sys.executable, "-m", "tddkit", "run", "test_total_time", "--json", str(path)],
            "test_total_time.py::PausedCase::test_case":
                project.command("test_total_time.py::PausedCase", f"--tddkit-json={path}"),
            "test_total_time.py::test_fixture":
                project.command("test_total_time.py::test_fixture", f"--tddkit-json={path}"),
        }
        for test_id, command in runs.items():
            with self.subTest(test_id):
                record, window = self.measure(project, command, path, test_id)
                phases = record["connection_ms"] + record["setup_ms"] + record["body_ms"] + record["cleanup_ms"]
                self.assertAlmostEqual(record["total_ms"], phases, delta=1e-6, msg=record)
                self.assertGreaterEqual(record["total_ms"], window * 1000, record)
                self.assertGreater(record["resource_wait_ms"], 0, record)
                for phase in ("setup_ms", "body_ms", "cleanup_ms"):
                    self.assertGreaterEqual(record[phase], self.PAUSE_MS, (phase, record))


class XdistTests(unittest.TestCase):
    def test_resources_hold_across_workers_and_the_json_covers_every_test(self):
        project = PytestProject(self, "resources", "module_data", "next_module")
        log, path = project.root / "intervals", project.root / "metrics.json"
        done = project.pytest("-q", "-n", "2", f"--tddkit-json={path}", TDDKIT_TEST_INTERVALS=str(log))
        self.assertEqual(done.returncode, 0, output(done))
        seen = {}
        for line in log.read_text().splitlines():
            name, start, end = line.split()
            seen[name] = (float(start), float(end))
        shared_a, shared_b = seen["shared_a"], seen["shared_b"]
        self.assertFalse(shared_a[0] < shared_b[1] and shared_b[0] < shared_a[1], seen)
        self.assertRegex(done.stdout, r"(?m)^tddkit: gw\d: schema template \S+ (built|reused)")  # each worker's
        tests = json.loads(path.read_text())["tests"]
        self.assertEqual(len(tests), 11)
        self.assertEqual(len({t["test_id"] for t in tests}), 11)
        self.assertEqual(project.leftovers(), [])


if __name__ == "__main__":
    unittest.main()
