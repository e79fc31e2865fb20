"""Starting the embedded server without waiting for it (launch, wait_ready) and stopping it as fast as is safe."""

import subprocess
import sys
import unittest
from pathlib import Path
from unittest import mock

import psycopg

import tddkit
from tddkit.config.settings import load_settings
from tddkit.errors import ServerError
from tddkit.server import embedded as embedded_module
from tddkit.server.binaries import find_binaries
from tddkit.server.embedded import EmbeddedPostgres
from tddkit.server.persistent import read_state
from tddkit.server.postmaster import is_ready, read_status
from tddkit.server.processes import stop_process
from tddkit.session.session import Session
from tests.support import ROOT, child_env, control_field, postgres_processes, shared_tempdir

#: Launches a server with psycopg made unimportable, waits for it by postmaster.pid alone, prints its DSN
#: and whether anything tried to import psycopg, then stops it when told to.
WITHOUT_PSYCOPG = """
import sys
tried = []
class NoPsycopg:
    def find_spec(self, name, path=None, target=None):
        if name == "psycopg" or name.startswith("psycopg."):
            tried.append(name)
            raise ImportError("psycopg is blocked in this process")
sys.meta_path.insert(0, NoPsycopg())
from tddkit.server.binaries import find_binaries
from tddkit.server.embedded import EmbeddedPostgres
from tddkit.server.persistent import read_state
server = EmbeddedPostgres(find_binaries()).launch()
launched_with_a_process = server.process is not None
server.wait_ready(check=False)
print(server.dsn, launched_with_a_process, tried, sep="|", flush=True)
sys.stdin.readline()
server.stop()
print("stopped", flush=True)
"""


class LaunchTests(unittest.TestCase):
    def test_launch_and_wait_ready_need_no_psycopg(self):
        with shared_tempdir() as runs:
            child = subprocess.Popen([sys.executable, "-c", WITHOUT_PSYCOPG], cwd=ROOT, env=child_env(
                TDDKIT_RUN_DIR=runs), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True)
            try:
                line = child.stdout.readline()
                self.assertTrue(line, child.stderr.read() if child.poll() is not None else "no output")
                dsn, launched, tried = line.strip().split("|")
                with psycopg.connect(dsn) as conn:
                    self.assertEqual(conn.execute("SELECT 1").fetchone(), (1,))
                out, err = child.communicate("stop\n", timeout=60)
            finally:
                if child.poll() is None:
                    child.kill()
                    child.communicate()
            self.assertEqual((launched, tried), ("True", "[]"), "launch spawned postgres, and nothing imported psycopg")
            self.assertEqual(out, "stopped\n", err)
            self.assertEqual(postgres_processes(runs), [])

    def test_wait_ready_before_launch_is_a_clear_error(self):
        with self.assertRaises(ServerError) as caught:
            EmbeddedPostgres(find_binaries()).wait_ready()
        self.assertIn("launch() first", str(caught.exception))

    def test_readiness_is_read_from_postmaster_pid_and_names_its_process(self):
        server = EmbeddedPostgres(find_binaries()).launch()
        self.addCleanup(server.stop)
        server.wait_ready()
        status = read_status(server.data_dir)
        self.assertEqual((status.pid, status.port, status.status), (server.process.pid, server.port, "ready"))
        self.assertEqual(status.socket_dir, str(server.run_dir))
        self.assertTrue(is_ready(server.data_dir, server.process.pid))
        self.assertFalse(is_ready(server.data_dir, server.process.pid + 1), "a stale file of another pid")


class StopTests(unittest.TestCase):
    def test_stop_process_immediate_skips_the_shutdown_checkpoint(self):
        binaries = find_binaries()
        states = {}
        for immediate in (False, True):
            server = EmbeddedPostgres(binaries).start()
            try:
                stop_process(server.process.pid, server.process.wait, immediate=immediate)
                states[immediate] = control_field(server.binaries, server.data_dir)
            finally:
                server.process = None
                server.stop()
        self.assertEqual(states, {False: "shut down", True: "in production"})

    def test_a_server_whose_cluster_is_deleted_stops_immediately_and_a_kept_one_cleanly(self):
        calls = []

        def recording(pid, wait=None, *, immediate=False):
            calls.append(immediate)
            stop_process(pid, wait, immediate=immediate)

        with shared_tempdir() as cache, mock.patch.object(embedded_module, "stop_process", recording):
            EmbeddedPostgres(find_binaries(), Path(cache)).start().stop()
            kept = EmbeddedPostgres(find_binaries(), Path(cache))
            kept.start().stop(save_snapshot="kept")
            snapshot = kept.cache.snapshot("kept")
            self.assertEqual(control_field(kept.binaries, snapshot), "shut down")
        self.assertEqual(calls, [True, False])

    def test_closing_a_session_on_its_own_server_drops_no_database_first(self):
        settings = load_settings(targets=[str(ROOT / "tests" / "cases")])
        if settings.dsn or read_state(Path(settings.cache_dir) if settings.cache_dir else None):
            self.skipTest("sessions here use a server they did not start (a DSN or 'server start')")
        dropped = []
        original = tddkit.session.database.TestDatabase.drop

        def recording(database, *args, **kwargs):
            dropped.append(database.name)
            return original(database, *args, **kwargs)

        with mock.patch.object(tddkit.session.database.TestDatabase, "drop", recording):
            own = Session(settings)._start()
            self.assertIsNotNone(own._server)
            own._close()
            self.assertEqual(dropped, [], "the whole cluster goes: no DROP DATABASE")
            server_dsn = tddkit.get_session().server_dsn
            given = Session(load_settings({"dsn": server_dsn}, targets=[str(ROOT / "tests" / "cases")]))
            given._start()
            name = given._database.name
            given._close()
        self.assertEqual(dropped, [name], "on a server it did not start, the session drops its database")


if __name__ == "__main__":
    unittest.main()
