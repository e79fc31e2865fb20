"""Signals and killed runs, on real processes: the run stops at once and leaves no process and no database."""

import hashlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg

import tddkit
from tddkit.server.processes import pid_alive
from tests.support import ROOT, child_env, postgres_processes, run_cli, shared_tempdir, wait_until

WAITING = str(ROOT / "tests" / "cases" / "interrupted.py")
TRIVIAL = str(ROOT / "tests" / "cases" / "trivial.py")


def server_databases(pattern):
    """Names of the outer test server's databases matching a LIKE pattern."""
    with psycopg.connect(tddkit.get_session().server_dsn, autocommit=True) as admin:
        return {r[0] for r in admin.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (pattern,))}


class Run:
    """A ``python -m tddkit run`` child in a session of its own, as a terminal starts it: a Ctrl-C there reaches
    its whole process group. Its waiting tests leave markers (see tests/cases/interrupted.py)."""

    def __init__(self, *args, cwd=ROOT, **env):
        self._markers = tempfile.TemporaryDirectory()
        self.markers = Path(self._markers.name)
        self._run_dir = shared_tempdir()
        self.run_dir = self._run_dir.name
        self.child = subprocess.Popen(
            [sys.executable, "-m", "tddkit", "run", *args, "--no-report"], cwd=str(cwd),
            env=child_env(TDDKIT_TEST_MARKERS=str(self.markers), TDDKIT_RUN_DIR=self.run_dir,
                          TDDKIT_DURATIONS_FILE="", **env),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        self.pid = self.child.pid
        self.signalled = 0.0

    def pids(self, what="waiting"):
        return sorted(int(p.name.split(".")[1]) for p in self.markers.glob(f"{what}.*"))

    def wait_for(self, count):
        """The pids of the processes running the first ``count`` waiting tests (the run fails if they never do)."""
        if not wait_until(lambda: len(self.pids()) >= count or self.child.poll() is not None, 90):
            self.child.kill()
        if len(self.pids()) < count:
            self.child.kill()
            raise AssertionError(f"the tests never started waiting: {self.child.communicate()[1]}")
        return self.pids()

    def send(self, sig, *, group=False):
        self.signalled = self.signalled or time.monotonic()
        try:
            (os.killpg if group else os.kill)(self.pid, sig)
        except ProcessLookupError:
            pass  # it is over already

    def finish(self, timeout=30):
        """(exit code, stderr, seconds from the first signal to the end); killed if it hangs."""
        try:
            _, err = self.child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.pid, signal.SIGKILL)
            _, err = self.child.communicate()
            err += "\n(hung: killed)"
        return self.child.returncode, err, time.monotonic() - (self.signalled or time.monotonic())

    def close(self):
        """Kill what a failed check left running: the run and the processes its tests ran in."""
        for pid in [self.pid, *self.pids()] if self.child.poll() is None else self.pids():
            try:
                if pid_alive(pid) and "tddkit" in Path(f"/proc/{pid}/cmdline").read_text(errors="replace"):
                    os.kill(pid, signal.SIGKILL)
            except OSError:
                pass  # gone meanwhile
        self.child.communicate()
        self._markers.cleanup()
        self._run_dir.cleanup()


class SignalTests(unittest.TestCase):
    """Each case ends within seconds with ``tddkit: interrupted``, exit 128 + signal, nothing left behind."""

    def interrupt(self, name, args, signals, workers, *, cwd=ROOT, dsn=False):
        """Start a run, wait until ``workers`` tests wait, send ``signals`` ((signal, to the group), ...)."""
        extra = ["--dsn", tddkit.get_session().server_dsn] if dsn else []
        run = Run(*args, *extra, cwd=cwd)
        try:
            pids = run.wait_for(workers)
            for sig, group in signals:
                run.send(sig, group=group)
                time.sleep(0.1)
            code, err, seconds = run.finish()
            left = {"workers": [p for p in pids if p != run.pid and pid_alive(p)],
                    "servers": postgres_processes(run.run_dir), "run dir": os.listdir(run.run_dir),
                    "databases": server_databases(f"tddkit\\_{run.pid}\\_%") if dsn else set(),
                    "later tests ran": run.pids("ran-after")}
            return name, code, err, seconds, left
        finally:
            run.close()

    def check(self, outcome, sig):
        name, code, err, seconds, left = outcome
        with self.subTest(name):
            self.assertEqual(code, 128 + sig, err)
            self.assertEqual(err.strip().splitlines()[-1], "tddkit: interrupted", err)
            self.assertNotIn("Traceback", err)
            self.assertLess(seconds, 10, err)
            self.assertEqual(left, {"workers": [], "servers": [], "run dir": [], "databases": set(),
                                    "later tests ran": []})

    def test_serial_runs(self):
        cases = {
            "SIGTERM during a serial run": ([WAITING], [(signal.SIGTERM, False)], 1, {}),
            "SIGHUP during a serial run": ([WAITING], [(signal.SIGHUP, False)], 1, {"dsn": True}),
            "Ctrl-C during a serial run": ([WAITING], [(signal.SIGINT, True)], 1, {"dsn": True}),
        }
        with ThreadPoolExecutor(len(cases)) as pool:
            outcomes = list(pool.map(lambda item: self.interrupt(item[0], *item[1][:3], **item[1][3]),
                                     cases.items()))
        for outcome, sig in zip(outcomes, (signal.SIGTERM, signal.SIGHUP, signal.SIGINT), strict=True):
            self.check(outcome, sig)

    def test_parallel_runs(self):
        run = [WAITING, "--parallel", "2"]
        cases = {
            "Ctrl-C of a parallel run": (run, [(signal.SIGINT, True)], 2, {"dsn": True}),
            "Ctrl-C three times": (run, [(signal.SIGINT, True)] * 3, 2, {}),
            "SIGTERM of a parallel run": (run, [(signal.SIGTERM, False)], 2, {"dsn": True}),
            "SIGHUP of a parallel run's group": (run, [(signal.SIGHUP, True)], 2, {}),
        }
        with ThreadPoolExecutor(2) as pool:
            outcomes = list(pool.map(lambda item: self.interrupt(item[0], *item[1][:3], **item[1][3]),
                                     cases.items()))
        for outcome, sig in zip(outcomes, (signal.SIGINT, signal.SIGINT, signal.SIGTERM, signal.SIGHUP), strict=True):
            self.check(outcome, sig)

    def test_sigterm_while_the_schema_template_is_built(self):
        with tempfile.TemporaryDirectory() as tmp:
            project = Path(tmp)
            (project / "pyproject.toml").write_text(
                '[tool.tddkit]\nschema_hook = "tests.cases.interrupted:wait_for_a_signal"\n')
            (project / "test_trivial.py").write_text(Path(TRIVIAL).read_text())
            outcome = self.interrupt("SIGTERM during the template build", ["test_trivial.py"],
                                     [(signal.SIGTERM, False)], 1, cwd=project, dsn=True)
            key = hashlib.sha256(str(project.resolve()).encode()).hexdigest()[:8]
        self.check(outcome, signal.SIGTERM)
        self.assertEqual(server_databases(f"tddkit\\_tpl%{key}%"), set(), "no template, half-built or not")


class KilledRunTests(unittest.TestCase):
    def test_a_parallel_run_killed_by_sigkill_takes_its_workers_along_and_the_next_run_drops_its_databases(self):
        server_dsn = tddkit.get_session().server_dsn
        killed = Run(WAITING, "--parallel", "2", "--dsn", server_dsn)
        live = Run(WAITING, "--parallel", "2", "--dsn", server_dsn)
        embedded = Run(WAITING, "--parallel", "2")
        try:
            workers = {run: run.wait_for(2) for run in (killed, live, embedded)}
            for run in (killed, embedded):
                run.child.kill()
                run.child.wait()
            for run in (killed, embedded):
                self.assertTrue(wait_until(lambda: not any(pid_alive(p) for p in workers[run])),  # noqa: B023
                                "the workers outlived their killed parent")
            self.assertTrue(wait_until(lambda: not postgres_processes(embedded.run_dir)), "the server died too")
            left = server_databases(f"tddkit\\_{killed.pid}\\_%")
            self.assertEqual(len(left), 2, "the workers' databases stay until a run can prove their run is dead")

            done = run_cli(["run", TRIVIAL, "--no-report", "--dsn", server_dsn],
                           env=child_env(TDDKIT_DURATIONS_FILE=""))
            self.assertEqual(done.returncode, 0, done.stderr)
            self.assertEqual(server_databases(f"tddkit\\_{killed.pid}\\_%"), set(), "the dead run's are dropped")
            self.assertEqual(len(server_databases(f"tddkit\\_{live.pid}\\_%")), 2, "a live run's are kept")
            self.assertTrue(all(pid_alive(p) for p in workers[live]))

            live.send(signal.SIGTERM)
            code, err, _ = live.finish()
            self.assertEqual(code, 143, err)
            self.assertEqual(server_databases(f"tddkit\\_{live.pid}\\_%"), set())
        finally:
            for run in (killed, live, embedded):
                run.close()

    def test_a_database_whose_maker_lives_or_is_unknown_is_never_dropped(self):
        from tddkit.server.liveness import process_identity
        from tddkit.session.ownership import OWNER_COMMENT, drop_dead_runs, mark_owner

        sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        self.addCleanup(sleeper.wait)
        self.addCleanup(sleeper.kill)
        names = {f"tddkit_{os.getpid()}_liveness_{kind}": kind for kind in
                 ("live", "dead", "reused", "other_boot", "no_comment", "this_process")}
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True).stdout.strip()
        with psycopg.connect(tddkit.get_session().server_dsn, autocommit=True) as admin:
            boot = process_identity().split()[0]
            comments = {"live": process_identity(sleeper.pid), "dead": f"{boot} {dead} 12345",
                        "reused": f"{boot} {sleeper.pid} 1", "other_boot": f"another-boot/1 {dead} 12345"}
            for name, kind in names.items():
                admin.execute(f'CREATE DATABASE "{name}"')
                if kind in comments:
                    admin.execute(f"COMMENT ON DATABASE \"{name}\" IS '{OWNER_COMMENT}{comments[kind]}'")
                elif kind == "this_process":
                    mark_owner(admin, name)
            try:
                dropped = drop_dead_runs(admin)
                left = {r[0] for r in admin.execute("SELECT datname FROM pg_database WHERE datname = ANY(%s)",
                                                    (list(names),))}
            finally:
                for name in names:
                    admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        self.assertEqual(sorted(names[n] for n in dropped), ["dead", "reused"])
        self.assertEqual(sorted(names[n] for n in left), ["live", "no_comment", "other_boot", "this_process"])


if __name__ == "__main__":
    unittest.main()
