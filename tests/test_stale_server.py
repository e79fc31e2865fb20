"""A recorded server (``server start``) whose pid now names another process: forgotten, never signalled."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import unittest
from pathlib import Path

if __name__ == "__main__":  # python tests/test_x.py: this checkout first on sys.path, not an installed tddkit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tddkit.server.account import Account
from tddkit.server.liveness import process_identity
from tddkit.server.processes import pid_alive, stop_process
from tests.support import child_env, postgres_pids, run_cli, shared_tempdir, wait_until


def children_of(pid: int) -> list[int]:
    """The pids whose parent is ``pid`` (a postmaster's backends)."""
    found = []
    for name in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{name}/stat") as fh:
                if int(fh.read().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(name))
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
    return found


def forgotten(pid: int, reason: str) -> str:
    return f"tddkit: the recorded server (pid {pid}) is gone ({reason}): forgetting it\n"


class StaleRecordTests(unittest.TestCase):
    """``kill -9`` of the kept server, then its pid taken by an unrelated process (a ``sleep``): every
    ``server`` action and ``run`` forget the record in one line, and the ``sleep`` is never signalled."""

    @classmethod
    def setUpClass(cls):
        cls.cache = shared_tempdir()  # one cache for the class: its cluster is made once
        cls.addClassCleanup(cls.cache.cleanup)

    def setUp(self):
        runs = shared_tempdir()
        self.addCleanup(runs.cleanup)
        self.runs = runs.name
        self.env = child_env(TDDKIT_CACHE_DIR=self.cache.name, TDDKIT_RUN_DIR=self.runs)
        self.record = Path(self.cache.name) / "server.json"
        self.addCleanup(self.stop_servers)

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return run_cli(list(args), env=self.env)

    def stop_servers(self):
        """Stop what a test (even a failed one) left: the recorded server, and any other on its run directory."""
        self.cli("server", "stop")
        for pid in postgres_pids(self.runs):
            stop_process(pid)

    def unrelated_process(self) -> subprocess.Popen:
        sleeper = subprocess.Popen(["sleep", "60"])
        self.addCleanup(sleeper.wait)
        self.addCleanup(sleeper.kill)
        return sleeper

    def killed_server(self) -> dict:
        """Start the kept server, kill -9 its postmaster and wait until its processes are gone; its record, with
        the postmaster's identity (boot, pid, start time) and its shared memory segment's id."""
        started = self.cli("server", "start")
        self.assertEqual(started.returncode, 0, started.stderr)
        state = json.loads(self.record.read_text())
        state["identity"] = process_identity(state["pid"])
        state["shmid"] = (Path(state["run_dir"]) / "data" / "postmaster.pid").read_text().split("\n")[6].split()[1]
        backends = children_of(state["pid"])
        self.assertTrue(backends, "a running postmaster has children")
        os.kill(state["pid"], signal.SIGKILL)
        wait_until(lambda: not any(pid_alive(pid) for pid in [state["pid"], *backends]), 30)
        self.assertEqual([pid for pid in [state["pid"], *backends] if pid_alive(pid)], [])
        return state

    def rewrite(self, **fields) -> None:
        state = json.loads(self.record.read_text())
        self.record.write_text(json.dumps({**state, **fields}))

    def rewrite_killed_record(self, pid: int) -> None:
        """Record again a killed server whose pid is now ``pid``'s."""
        self.killed_server()
        self.rewrite(pid=pid)

    def assert_memory_freed(self, state: dict) -> None:
        with open("/proc/sysvipc/shm") as fh:
            self.assertNotIn(state["shmid"], [line.split()[1] for line in fh.readlines()[1:]],
                             "the killed server's shared memory is freed")

    def assert_alive(self, process: subprocess.Popen) -> None:
        self.assertIsNone(process.poll(), f"the unrelated process was signalled (exit {process.returncode})")

    def test_a_reused_pid_is_forgotten_by_status_stop_and_start_and_never_signalled(self):
        state = self.killed_server()
        sleeper = self.unrelated_process()
        self.rewrite(pid=sleeper.pid)  # the pid now names the sleep

        status = self.cli("server", "status")
        self.assertEqual(status.returncode, 0, status.stderr)
        self.assertIn("server: not running", status.stdout)
        self.assertEqual(status.stderr, forgotten(sleeper.pid, f"pid {sleeper.pid} is now another process"))
        self.assertFalse(self.record.exists(), "the stale record is removed")
        self.assertEqual(os.listdir(self.runs), [], "and the dead server's run directory")
        self.assert_memory_freed(state)

        self.rewrite_killed_record(sleeper.pid)
        stopped = self.cli("server", "stop")
        self.assertEqual((stopped.returncode, stopped.stdout), (0, "tddkit server was not running\n"))
        self.assertEqual(stopped.stderr, forgotten(sleeper.pid, f"pid {sleeper.pid} is now another process"))
        self.assert_alive(sleeper)

        self.rewrite_killed_record(sleeper.pid)
        started = self.cli("server", "start")
        self.assertEqual(started.returncode, 0, started.stderr)
        self.assertEqual(started.stderr, forgotten(sleeper.pid, f"pid {sleeper.pid} is now another process"))
        new_pid = int(re.search(r"pid (\d+)", started.stdout).group(1))
        self.assertIn(new_pid, postgres_pids(self.runs), "a fresh server was started")
        run = self.cli("run", "tests/cases/trivial.py", "--no-report")
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertIn(f"the running tddkit server (PostgreSQL {json.loads(self.record.read_text())['version']}, "
                      f"pid {new_pid})", run.stderr)
        self.assertEqual(self.cli("server", "stop").stdout, "tddkit server stopped\n")
        self.assertEqual(postgres_pids(self.runs), {})
        self.assert_alive(sleeper)

    def test_a_pid_reused_everywhere_is_told_apart_by_its_start_time(self):
        """The record, its identity and postmaster.pid all name the sleep's pid, as after a real reuse: only
        the start time tells the sleep from the server, and ``run`` and ``server url`` go on without it."""
        state = self.killed_server()
        sleeper = self.unrelated_process()
        pidfile = Path(state["run_dir"]) / "data" / "postmaster.pid"
        lines = pidfile.read_text().split("\n")
        pidfile.write_text("\n".join([str(sleeper.pid), *lines[1:]]))
        boot, _, started = state["identity"].split()
        self.rewrite(pid=sleeper.pid, identity=f"{boot} {sleeper.pid} {started}")

        run = self.cli("run", "tests/cases/trivial.py", "--no-report")
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(run.stderr.count(forgotten(sleeper.pid, f"pid {sleeper.pid} is now another process")),
                         1, run.stderr)
        self.assertIn("embedded PostgreSQL", run.stderr, "a throwaway server, as when none is recorded")
        self.assert_alive(sleeper)
        url = self.cli("server", "url")
        self.assertEqual((url.returncode, url.stdout), (2, ""))
        self.assertEqual(url.stderr, "tddkit: no server running; start one with: python -m tddkit server start\n")
        self.assertEqual(postgres_pids(self.runs), {})
        self.assertEqual(os.listdir(self.runs), [], "the dead server's run directory is removed")
        self.assert_memory_freed(state)

    def test_a_record_whose_data_directory_is_gone_is_forgotten(self):
        """After a reboot the run directory in /dev/shm is gone and the pid may be anybody's."""
        state = self.killed_server()
        sleeper = self.unrelated_process()
        data_dir = Path(state["run_dir"]) / "data"
        (data_dir / "postmaster.pid").unlink()  # a reboot frees the server's memory too
        Account.for_server().run([str(Path(state["bindir"]) / "postgres"), "--single", "-D", str(data_dir), "postgres"],
                                 stdin=subprocess.DEVNULL, cwd=state["run_dir"], timeout=60)
        self.assert_memory_freed(state)
        shutil.rmtree(state["run_dir"])
        self.rewrite(pid=sleeper.pid)

        stopped = self.cli("server", "stop")
        self.assertEqual((stopped.returncode, stopped.stdout), (0, "tddkit server was not running\n"))
        self.assertEqual(stopped.stderr, forgotten(sleeper.pid, "its data directory is gone"))
        self.assert_alive(sleeper)
        self.assertFalse(self.record.exists())


if __name__ == "__main__":
    unittest.main()
