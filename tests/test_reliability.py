"""Reliability on a real server: faults, bad input and a short soak, with nothing leaked and nothing lost."""

import json
import logging
import os
import sys
import tempfile
import time
import unittest
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

if __name__ == "__main__":  # python tests/test_x.py: this checkout first on sys.path, not an installed tddkit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg
from psycopg.conninfo import make_conninfo

import tddkit
from benchmarks import soak
from tddkit.server.processes import pid_alive
from tests.cases import faults
from tests.support import (
    CLEAN,
    ROOT,
    admin_connection,
    child_env,
    database_state,
    password_server,
    pool_stats,
    postgres_processes,
    run_cli,
    run_suite,
    shared_tempdir,
    suite_of,
)

FAULTS = str(ROOT / "tests" / "cases" / "faults.py")
TRIVIAL = str(ROOT / "tests" / "cases" / "trivial.py")


def outcomes(result):
    """{test method name: outcome} of a run_suite result."""
    return {m.test_id.rsplit(".", 1)[1]: m.outcome for m in result.test_metrics}


def errors_by_name(result):
    """{test method name: [formatted errors]} of a run_suite result."""
    found = {}
    for test, text in result.errors:
        found.setdefault(test.id().rsplit(".", 1)[1], []).append(text)
    return found




class ConnectionFaultTests(unittest.TestCase):
    def setUp(self):
        faults.SEEN.clear()

    def test_a_killed_backend_is_an_error_naming_the_cause_and_the_next_test_gets_a_new_connection(self):
        discarded = pool_stats().get("returns_bad", 0)
        with self.assertLogs("psycopg.pool", logging.DEBUG) as logs:
            logging.getLogger("psycopg.pool").debug("capturing")
            result = run_suite(suite_of(faults.KilledBackend))
        self.assertEqual(outcomes(result), {
            "test_a_killed_while_running": "error", "test_b_after": "passed",
            "test_c_killed_after_its_last_statement": "error", "test_d_after": "passed",
            "test_e_expects_its_own_termination": "passed", "test_f_after": "passed"}, result.output)
        errors = errors_by_name(result)
        self.assertEqual(len(result.errors), 2, result.output)
        for name in ("test_a_killed_while_running", "test_c_killed_after_its_last_statement"):
            self.assertIn("AdminShutdown: terminating connection due to administrator command", errors[name][0])
            self.assertIn("tddkit: the test's connection was lost", errors[name][0])
        seen = faults.SEEN
        self.assertTrue(seen["a"] != seen["b"] and seen["c"] != seen["d"] and seen["e"] != seen["f"], seen)
        with admin_connection() as conn:
            alive = conn.execute("SELECT pid FROM pg_stat_activity WHERE pid = ANY(%s)",
                                 ([seen["a"], seen["c"], seen["e"]],)).fetchall()
        self.assertEqual(alive, [])
        self.assertEqual(pool_stats().get("returns_bad", 0) - discarded, 3, "the pool discards each broken one")
        self.assertEqual([r.getMessage() for r in logs.records if r.levelno >= logging.WARNING], [])
        self.assertEqual(database_state(), CLEAN)

    def test_an_unfinished_copy_or_stream_is_reported_and_the_next_test_runs_clean(self):
        result = run_suite(suite_of(faults.LeavesConnectionBusy))
        self.assertEqual(outcomes(result), {
            "test_a_copy_through_execute": "error", "test_b_after": "passed",
            "test_c_copy_left_open": "error", "test_d_after": "passed",
            "test_e_stream_left_open": "error", "test_f_after": "passed"}, result.output)
        errors = errors_by_name(result)
        self.assertEqual([len(e) for e in errors.values()], [1, 1, 1], "one error per test, not two")
        self.assertIn("COPY cannot be used with this method", errors["test_a_copy_through_execute"][0])
        for name in ("test_c_copy_left_open", "test_e_stream_left_open"):
            self.assertIn("IsolationError: the test left a COPY or a streamed query unfinished", errors[name][0])
            self.assertNotIn('File "', errors[name][0], "the message alone, no frames of tddkit's internals")
        self.assertEqual(database_state(), CLEAN)

    def test_cursors_left_open_are_gone_for_the_next_test(self):
        result = run_suite(suite_of(faults.LeavesCursorsOpen))
        self.assertTrue(result.wasSuccessful(), result.output)

    def test_locks_and_connections_a_test_keeps_are_given_back_after_it(self):
        suite = unittest.TestSuite([suite_of(faults.HoldsLocks), suite_of(faults.NeedsLocks),
                                    suite_of(faults.BorrowsConnections)])
        result = run_suite(suite)
        self.assertTrue(result.wasSuccessful(), result.output)
        self.assertEqual(result.testsRun, 5)
        lender = tddkit.get_session()._lender
        self.assertTrue(all(not c.closed and id(c) not in lender._owners for c in faults.SEEN["borrowed"]))
        self.assertEqual(database_state(), CLEAN)

    def test_hostile_table_names_are_quoted_and_drop_nothing(self):
        result = run_suite(suite_of(faults.HostileNames))
        self.assertTrue(result.wasSuccessful(), result.output)
        with admin_connection() as conn:
            self.assertEqual(conn.execute("SELECT to_regclass('public.users') IS NOT NULL").fetchone(), (True,))
            self.assertEqual(conn.execute("SELECT count(*) FROM pg_class WHERE relname = %s AND relpersistence <> 't'",
                                          (faults.HOSTILE,)).fetchone(), (0,))
        self.assertEqual(database_state(), CLEAN)

    def test_connections_have_the_timeouts_of_the_settings(self):
        lender = tddkit.get_session()._lender
        conn = lender.getconn()
        try:
            found = conn.execute("SELECT name, setting FROM pg_settings "
                                 "WHERE name IN ('lock_timeout', 'statement_timeout') ORDER BY name").fetchall()
        finally:
            lender.recycle(conn)
        settings = lender.database.settings
        self.assertEqual(found, [("lock_timeout", str(int(settings.lock_timeout * 1000))),
                                 ("statement_timeout", str(int(settings.statement_timeout * 1000)))])


class ChildRunTests(unittest.TestCase):
    """Faults that need their own settings or their own server: a `python -m tddkit run` child process."""

    def test_statement_and_lock_timeouts_and_an_exhausted_pool_end_with_clear_errors(self):
        with tempfile.TemporaryDirectory() as tmp:
            json_path = os.path.join(tmp, "run.json")
            env = child_env(TDDKIT_STATEMENT_TIMEOUT="0.3", TDDKIT_LOCK_TIMEOUT="0.1", TDDKIT_POOL_MAX_SIZE="3",
                            TDDKIT_POOL_MIN_SIZE="1", TDDKIT_POOL_TIMEOUT="0.2", TDDKIT_DURATIONS_FILE="")
            started = time.monotonic()
            done = run_cli(["run", FAULTS, "-k", "Limits", "--no-report", "--json", json_path], env=env)
            elapsed = time.monotonic() - started
            with open(json_path) as fh:
                seen = {t["test_id"].split("faults.", 1)[1]: t["outcome"] for t in json.load(fh)["tests"]}
        self.assertEqual(done.returncode, 1, done.stderr)
        self.assertEqual(seen, {
            "LimitsLockWait.test_a_waits_for_its_own_lock": "error", "LimitsLockWait.test_b_after": "passed",
            "LimitsPool.test_a_takes_more_than_the_pool_has": "error", "LimitsPool.test_b_after": "passed",
            "LimitsStatementTimeout.test_a_hangs": "error", "LimitsStatementTimeout.test_b_after": "passed"})
        for expected in ("QueryCanceled: canceling statement due to statement timeout",
                         "longer than statement_timeout = 0.3 s",
                         "LockNotAvailable: canceling statement due to lock timeout",
                         "longer than lock_timeout = 0.1 s",
                         "PoolExhaustedError: no database connection became free within pool_timeout=0.2 s",
                         "pool_max_size=3"):
            self.assertIn(expected, done.stderr)
        self.assertLess(elapsed, 30, "nothing waited for a default timeout")

    def test_durations_that_cannot_be_saved_are_one_warning_and_the_result_stands(self):
        server_dsn = tddkit.get_session().server_dsn
        with tempfile.TemporaryDirectory() as tmp:
            project = Path(tmp).resolve()
            schema = ROOT / "tddkit" / "data" / "bench_schema.sql"
            (project / "pyproject.toml").write_text(f'[tool.tddkit]\nschema = ["{schema}"]\n')
            (project / "test_trivial.py").write_text(Path(TRIVIAL).read_text())
            (project / ".tddkit").write_text("")  # a file where tddkit's own directory goes
            cases = {  # name: (environment, what the warning says)
                "the default file, .tddkit not a directory": (
                    {}, f"{project}/.tddkit/durations.json cannot be written (Not a directory: {project}/.tddkit)"),
                "a file in /proc": ({"TDDKIT_DURATIONS_FILE": "/proc/durations.json"},
                                    "/proc/durations.json cannot be written (No such file or directory: /proc)"),
            }
            for name, (env, expected) in cases.items():
                with self.subTest(name):
                    done = run_cli(["run", "test_trivial.py", "--no-report", "--dsn", server_dsn],
                                   env=child_env(**env), cwd=project)
                    self.assertEqual(done.returncode, 0, done.stderr)
                    self.assertNotIn("Traceback", done.stderr)
                    lines = done.stderr.strip().splitlines()
                    self.assertEqual(lines[-1], "tddkit: 2 passed, 0 failed", done.stderr)
                    self.assertEqual([line for line in lines if "durations" in line], [
                        f"tddkit: warning: test durations not saved: durations_file {expected}; give a path in a "
                        "directory you can write to"])

    def test_a_statement_timeout_in_the_dsn_does_not_cancel_tddkits_own_statements(self):
        dsn = make_conninfo(tddkit.get_session().server_dsn, options="-c statement_timeout=1")
        for args in ([], ["--parallel", "2"]):
            with self.subTest(args=args):
                done = run_cli(["run", TRIVIAL, "--no-report", "--dsn", dsn, *args],
                               env=child_env(TDDKIT_DURATIONS_FILE=""))
                self.assertEqual(done.returncode, 0, done.stderr)
                self.assertNotIn("Traceback", done.stderr)
                self.assertEqual(done.stderr.strip().splitlines()[-1], "tddkit: 2 passed, 0 failed", done.stderr)

    def test_a_server_killed_mid_run_fails_the_rest_clearly_and_leaves_nothing(self):
        with shared_tempdir() as tmp:
            marker = Path(tmp) / "marker"
            run_dir = Path(tmp) / "run"
            run_dir.mkdir(mode=0o755)
            env = child_env(TDDKIT_RUN_DIR=str(run_dir), TDDKIT_TEST_MARKER=str(marker), TDDKIT_DURATIONS_FILE="")
            started = time.monotonic()
            done = run_cli(["run", FAULTS, "-k", "ServerDies", "--no-report"], env=env)
            elapsed = time.monotonic() - started
            pids, shmid = marker.read_text().split("\n")
            self.assertEqual(os.listdir(run_dir), [], "the run directory is removed")
            self.assertEqual(postgres_processes(str(run_dir)), [])
        self.assertEqual(done.returncode, 1, done.stderr)
        postmaster = pids.split()[0]
        self.assertIn(f"the PostgreSQL server is gone (embedded PostgreSQL, pid {postmaster}, was killed by SIGKILL)",
                      done.stderr)
        self.assertEqual(done.stderr.count("the PostgreSQL server is gone"), 5, done.stderr)
        self.assertEqual(done.stderr.count("Traceback"), 5, "one per test or class, with its cause")
        self.assertIn("Ran 3 tests", done.stderr)
        self.assertEqual([p for p in pids.split() if pid_alive(int(p))], [], "no server process is left")
        with open("/proc/sysvipc/shm") as fh:
            self.assertNotIn(shmid, [line.split()[1] for line in fh.readlines()[1:]], "its shared memory is freed")
        self.assertLess(elapsed, 30)


class BadInputTests(unittest.TestCase):
    """Each bad input is one line on stderr, exit code 2, no traceback: all run at once in child processes."""

    def project(self, pyproject, files=None):
        """A project directory with its config and a copy of the trivial tests (the config is found from them)."""
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        Path(tmp.name, "pyproject.toml").write_text(pyproject)
        Path(tmp.name, "test_trivial.py").write_text(Path(TRIVIAL).read_text())
        for name, text in (files or {}).items():
            Path(tmp.name, name).write_text(text)
        return Path(tmp.name)

    def role_without_createdb(self):
        """A DSN of the outer test server for a role that may log in but not create databases."""
        server_dsn = tddkit.get_session().server_dsn
        role = f"tddkit_test_nocreatedb_{os.getpid()}"
        with psycopg.connect(server_dsn, autocommit=True) as conn:
            conn.execute(f'CREATE ROLE "{role}" LOGIN NOCREATEDB')

        def drop_role():
            with psycopg.connect(server_dsn, autocommit=True) as conn:
                conn.execute(f'DROP ROLE "{role}"')

        self.addCleanup(drop_role)
        return make_conninfo(server_dsn, user=role)

    def test_bad_input_is_one_line_and_exit_code_2(self):
        server_dsn = tddkit.get_session().server_dsn
        port = password_server(self).port
        no_createdb = self.role_without_createdb()
        bad_schema = self.project('[tool.tddkit]\nschema = ["schema.sql"]\n',
                                  {"schema.sql": "CREATE TABLE a (id int);\nCREATE TABLE b (id notatype);\n"})
        unwritten = tempfile.TemporaryDirectory()
        self.addCleanup(unwritten.cleanup)
        runs = {  # name: (arguments, environment, working directory, expected in the message)
            "malformed DSN": (["--dsn", "postgresql://app:s3cret@[broken"], {}, ROOT, "invalid DSN"),
            "wrong password": (["--dsn", f"postgresql://app:wrong-password@127.0.0.1:{port}/postgres"], {}, ROOT,
                               'rejected the password (password authentication failed for user "app")'),
            "database not owned": ([], {"TDDKIT_DATABASE": "myapp"}, ROOT, "database 'myapp' does not start with"),
            "unknown config key": ([], {}, self.project("[tool.tddkit]\npool_max = 3\n"),
                                   "unknown tddkit setting 'pool_max'; did you mean 'pool_max_size'?"),
            "missing schema file": ([], {}, self.project('[tool.tddkit]\nschema = ["db/missing.sql"]\n'),
                                    "schema file not found"),
            "bad SQL in schema": (["--dsn", server_dsn], {}, bad_schema,
                                  'schema.sql:2: type "notatype" does not exist'),
            # issue 16: each checked before a test runs
            "--json on a read-only file system": (["--json", "/proc/tddkit.json"], {}, ROOT,
                                                  "--json /proc/tddkit.json cannot be written (No such file"),
            "--junit-xml a directory": (["--junit-xml", unwritten.name], {}, ROOT, "that is a directory"),
            "--save-baseline under a file": (["--save-baseline", f"{TRIVIAL}/baseline.json"], {}, ROOT,
                                             f"cannot be written (Not a directory: {TRIVIAL})"),
            "pools of --parallel beyond the embedded server": (["--parallel", "2"], {"TDDKIT_POOL_MAX_SIZE": "100"},
                                                               ROOT, "--parallel 2 with pool_max_size = 100 may need"),
            "pools of 250": ([], {}, self.project("[tool.tddkit]\npool_min_size = 250\npool_max_size = 250\n"),
                             "pool_max_size = 250 is more than the embedded server allows"),
            "a path that does not exist": (["does/not/exist"], {}, ROOT, "test path does/not/exist does not exist"),
            "a module that does not exist": (["nosuchpackage.tests"], {}, ROOT,
                                             "no test directory, file or module named 'nosuchpackage.tests'"),
            "a role without CREATEDB": (["--dsn", no_createdb], {}, ROOT, "cannot create the test databases "
                                        "(permission denied to create database)"),
            "a role without CREATEDB, parallel": (["--dsn", no_createdb, "--parallel", "2"], {}, ROOT,
                                                  "ALTER ROLE"),
            "milliseconds for seconds": ([], {}, self.project("[tool.tddkit]\nstatement_timeout = 3600000\n"),
                                         "the unit is seconds, not milliseconds"),
            "infinite timeout": ([], {}, self.project("[tool.tddkit]\nstatement_timeout = inf\n"),
                                 "'statement_timeout' has a bad value inf"),
            "nan timeout": ([], {}, self.project("[tool.tddkit]\npool_timeout = nan\n"),
                            "'pool_timeout' has a bad value nan"),
            "tddkit not a table": ([], {}, self.project("[tool]\ntddkit = 5\n"), "[tool] tddkit = 5 is not a table"),
        }

        def run(item):
            args, env, cwd, _ = item
            target = TRIVIAL if cwd == ROOT else "test_trivial.py"
            return run_cli(["run", "--no-report", *args, target], env=child_env(**env), cwd=cwd)

        with ThreadPoolExecutor(8) as pool:
            done = dict(zip(runs, pool.map(run, runs.values()), strict=True))
        for name, (_, _, _, expected) in runs.items():
            with self.subTest(name):
                stderr = done[name].stderr
                self.assertEqual(done[name].returncode, 2, stderr)
                self.assertNotIn("Traceback", stderr)
                self.assertEqual(len(stderr.strip().splitlines()), 1, stderr)
                self.assertIn(expected, stderr)
                self.assertTrue(stderr.startswith("tddkit: error: "), stderr)
                self.assertNotIn("s3cret", stderr)
                self.assertNotIn("wrong-password", stderr)
        self.assertEqual(os.listdir(unwritten.name), [], "the writable check leaves nothing behind")

    def test_a_test_module_named_by_dotted_name_that_fails_to_import_is_a_failed_test_naming_the_line(self):
        project = self.project("", {"__init__.py": "", "test_broken.py": "import unittest\n\n\ndef broken(:\n"})
        done = run_cli(["run", f"{project.name}.test_broken", "--no-report"], env=child_env(), cwd=project.parent)
        self.assertEqual(done.returncode, 1, done.stderr)
        self.assertIn(f"Failed to import test module: {project.name}.test_broken", done.stderr)
        self.assertIn(f'{project / "test_broken.py"}", line 4', done.stderr)
        self.assertIn("SyntaxError", done.stderr)
        self.assertIn("Ran 1 test", done.stderr)
        self.assertTrue(done.stderr.rstrip().endswith("tddkit: 0 passed, 1 failed"), done.stderr)


class SoakTests(unittest.TestCase):
    def test_300_mixed_tests_leave_nothing_behind(self):
        result = soak.run_soak(300, per_class=30, check_timing=False)
        self.assertEqual(result.failures, [], result.figures)
        self.assertEqual(result.figures["tests"], 300)
        erroring = list(soak.KINDS).index("uncaught_error")
        self.assertEqual(result.figures["errors"], len(range(erroring, 300, len(soak.KINDS))))

    def test_drift_check_fails_a_slowdown_not_a_warm_up(self):
        warming_up = [0.64, 0.73, 0.60, 0.57, 0.54, 0.53, 0.59, 0.52, 0.59, 0.52]
        slowing_down = list(reversed(warming_up))
        self.assertLess(soak.trend_drift(warming_up), -0.10)
        self.assertEqual(soak.drift_failures(warming_up, soak.trend_drift(warming_up), 1000), [])
        failures = soak.drift_failures(slowing_down, soak.trend_drift(slowing_down), 1000)
        self.assertEqual(len(failures), 1)
        self.assertRegex(failures[0], r"^the per-test median drifted \+2\d\.\d% over the run .* \(limit \+10%\)")


if __name__ == "__main__":
    unittest.main()
