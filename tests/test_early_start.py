"""The session of ``python -m tddkit run`` starts in a thread while the rest imports; what a user sees is unchanged."""

import json
import os
import signal
import subprocess
import sys
import unittest
from pathlib import Path

import tddkit
from tests.support import ROOT, child_env, postgres_processes, run_cli, shared_tempdir, start_cli_until

TRIVIAL = str(ROOT / "tests" / "cases" / "trivial.py")

#: Runs ``python -m tddkit run ARGS`` in this process, noting which thread started the session and every module
#: a thread other than the main one imported; prints both as JSON on stdout's last line.
OBSERVED_RUN = """
import importlib.machinery, json, sys, threading
imported_elsewhere, started_in = [], []

def observe(session_module):
    start = session_module.Session._start
    def recorded(self, *args, **kwargs):
        started_in.append(threading.current_thread().name)
        return start(self, *args, **kwargs)
    session_module.Session._start = recorded

class Watch:
    def find_spec(self, name, path=None, target=None):
        if threading.current_thread() is not threading.main_thread():
            imported_elsewhere.append(name)
        if name != "tddkit.session.session":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        exec_module = spec.loader.exec_module
        def exec_and_observe(module):
            exec_module(module)
            observe(module)
        spec.loader.exec_module = exec_and_observe
        return spec

sys.meta_path.insert(0, Watch())
import tddkit.cli.main
code = tddkit.cli.main.main(sys.argv[1:])
print(json.dumps({"code": code, "started_in": started_in, "imported_elsewhere": imported_elsewhere}))
"""


class EarlyStartTests(unittest.TestCase):
    def setUp(self):
        tmp = shared_tempdir()
        self.addCleanup(tmp.cleanup)
        self.runs = tmp.name
        self.project = Path(tmp.name) / "project"
        self.project.mkdir()

    def write_test_module(self, name, preamble="", body="pass"):
        """A test module of one TDDTestCase test: ``preamble`` runs at import, ``body`` in the test."""
        (self.project / name).write_text(f"import tddkit\n{preamble}\n\nclass T(tddkit.TDDTestCase):\n"
                                         f"    def test_t(self):\n        {body}\n")

    def env(self):
        return child_env(TDDKIT_RUN_DIR=self.runs, TDDKIT_DURATIONS_FILE="")

    def observed_run(self, *args):
        done = subprocess.run([sys.executable, "-c", OBSERVED_RUN, "run", TRIVIAL, "-q", "--no-report", *args],
                              cwd=ROOT, env=self.env(), capture_output=True, text=True, timeout=120)
        self.assertEqual(done.returncode, 0, done.stderr)
        return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr

    def assert_nothing_left(self):
        self.assertEqual(postgres_processes(self.runs), [])
        self.assertEqual([p for p in os.listdir(self.runs) if p != "project"], [])

    def test_the_session_starts_in_the_background_thread_which_imports_nothing(self):
        """Two threads importing at once can deadlock: the early thread must find every module imported."""
        for name, args in (("embedded", ()), ("--dsn", ("--dsn", tddkit.get_session().server_dsn))):
            with self.subTest(name):
                seen, err = self.observed_run(*args)
                self.assertEqual(seen, {"code": 0, "started_in": ["tddkit-early-start"], "imported_elsewhere": []})
                self.assertIn("tddkit: 2 passed, 0 failed", err)
                self.assert_nothing_left()

    def test_a_server_started_for_tests_that_need_none_is_stopped(self):
        (self.project / "test_plain.py").write_text(
            "import unittest\n\n\nclass Plain(unittest.TestCase):\n    def test_sum(self):\n"
            "        self.assertEqual(1 + 1, 2)\n")
        (self.project / "test_empty_dir").mkdir()
        for args, code, last in ((["test_plain.py"], 0, "tddkit: 1 passed, 0 failed"),
                                 (["test_empty_dir"], 5, "tddkit: no tests found")):
            with self.subTest(args=args):
                done = run_cli(["run", *args, "--no-report"], env=self.env(), cwd=self.project)
                self.assertEqual(done.returncode, code, done.stderr)
                self.assertEqual(done.stderr.strip().splitlines()[-1], last)
                self.assertNotIn("embedded PostgreSQL", done.stderr)
                self.assert_nothing_left()

    def test_what_starting_the_session_raises_is_the_usual_one_line(self):
        (self.project / "pyproject.toml").write_text('[tool.tddkit]\nschema = ["schema.sql"]\n')
        (self.project / "schema.sql").write_text("CREATE TABLE t (id int);\nCREATE TABEL oops (id int);\n")
        self.write_test_module("test_t.py")
        done = run_cli(["run", "--no-report"], env=self.env(), cwd=self.project)
        self.assertEqual(done.returncode, 2, done.stderr)
        self.assertEqual(done.stderr.strip().splitlines(),
                         [f"tddkit: error: schema error in {self.project / 'schema.sql'}:2: syntax error at or near "
                          '"TABEL"'])
        self.assert_nothing_left()

    def test_the_process_end_still_runs_atexit_handlers_and_flushes_output(self):
        """The last garbage collection is skipped at exit: what a test suite relies on at exit still happens."""
        marker = self.project / "atexit-ran"
        self.write_test_module("test_exit.py", f"import atexit, pathlib, sys\n"
                               f"atexit.register(pathlib.Path({str(marker)!r}).write_text, 'yes')\n",
                               body="sys.stdout.write('unflushed tail')")
        done = run_cli(["run", "--no-report", "-q"], env=self.env(), cwd=self.project)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(marker.read_text(), "yes")
        self.assertTrue(done.stdout.endswith("unflushed tail"), done.stdout)
        self.assert_nothing_left()

    def test_ctrl_c_while_the_tests_import_stops_the_server_started_early(self):
        marker = self.project / "importing"
        self.write_test_module("test_slow_import.py", f"import pathlib, time\n"
                               "from tddkit.session.session import current_session\n"
                               "while current_session() is None:  # the early thread has started the session\n"
                               "    time.sleep(0.01)\n"
                               f"pathlib.Path({str(marker)!r}).write_text('')\ntime.sleep(60)\n")
        child = start_cli_until(marker, ["run", "--no-report"], self.env(), cwd=self.project)
        try:
            self.assertNotEqual(postgres_processes(self.runs), [], "the server started early runs")
            child.send_signal(signal.SIGINT)
            _, err = child.communicate(timeout=30)
        finally:
            if child.poll() is None:
                child.kill()
                child.communicate()
        self.assertEqual(child.returncode, 130, err)
        self.assertEqual(err.strip().splitlines()[-1], "tddkit: interrupted", err)
        self.assertNotIn("Traceback", err)
        self.assert_nothing_left()


if __name__ == "__main__":
    unittest.main()
