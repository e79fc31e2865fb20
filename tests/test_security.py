"""Who can connect to the embedded servers: the runner and the server's account; TCP only with the server's password."""

import json
import os
import pwd
import re
import shutil
import stat
import subprocess
import unittest
import uuid
from pathlib import Path

import psutil

import tddkit
from tddkit.server.account import Account
from tddkit.server.binaries import find_binaries
from tests.support import child_env, postgres_processes, run_cli, shared_tempdir, start_cli_until


def find_psql() -> str | None:
    """A psql another account can run: the server binaries' own, else the one on PATH."""
    own = find_binaries().bindir / "psql"
    return str(own) if own.is_file() else shutil.which("psql")


class OtherAccount:
    """A second, unprivileged OS account made for the test (``useradd``), removed afterwards."""

    def __init__(self) -> None:
        self.name = f"tddkit-x{uuid.uuid4().hex[:8]}"
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "--user-group",
                        self.name], check=True, capture_output=True)
        entry = pwd.getpwnam(self.name)
        self.uid, self.gid = entry.pw_uid, entry.pw_gid

    def remove(self) -> None:
        subprocess.run(["userdel", self.name], capture_output=True)

    def run(self, args: list[str]) -> subprocess.CompletedProcess:
        """Run ``args`` as this account, with a clean environment (no inherited password or service file)."""
        env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "LC_ALL": "C", "PGCONNECT_TIMEOUT": "5"}
        return subprocess.run(args, user=self.uid, group=self.gid, extra_groups=[], env=env, cwd="/",
                              capture_output=True, text=True, timeout=60)


def psql_as(who, psql: str, conninfo: str) -> subprocess.CompletedProcess:
    """``SELECT current_user`` through ``conninfo``, run by ``who`` (OtherAccount, or the server's Account)."""
    args = [psql, "-X", "-w", "-At", "-c", "SELECT current_user", conninfo]
    if isinstance(who, OtherAccount):
        return who.run(args)
    return who.run(args, env={"PATH": "/usr/bin:/bin", "PGCONNECT_TIMEOUT": "5"}, cwd="/", timeout=60)


def postmaster(run_dir: Path) -> tuple[int, int]:
    """The pid and port of the server running in ``run_dir`` (from its postmaster.pid)."""
    lines = (run_dir / "data" / "postmaster.pid").read_text().splitlines()
    return int(lines[0]), int(lines[3])


def tcp_listeners(pid: int) -> list:
    return [c for c in psutil.Process(pid).net_connections("inet") if c.status == psutil.CONN_LISTEN]


class SocketOnlyTests(unittest.TestCase):
    """What holds for every embedded server, whoever runs the tests."""

    def test_the_throwaway_server_listens_on_no_tcp_port(self):
        server = tddkit.get_session()._server
        if server is None:
            self.skipTest("this run uses a server it did not start (--dsn or 'server start')")
        self.assertEqual(tcp_listeners(server.process.pid), [])
        self.assertIsNone(server.url)
        self.assertEqual(stat.S_IMODE(os.stat(server.run_dir).st_mode), 0o700)

    def test_cached_clusters_trust_the_socket_and_nothing_else(self):
        server = tddkit.get_session()._server
        if server is None:
            self.skipTest("this run uses a server it did not start (--dsn or 'server start')")
        for data in (server.data_dir, server.cache.cluster(server.binaries)):
            rules = [line.split() for line in (data / "pg_hba.conf").read_text().splitlines()
                     if line.strip() and not line.startswith("#")]
            self.assertEqual(rules, [["local", "all", "all", "trust"]], data)


class OtherAccountTests(unittest.TestCase):
    """A second OS account on the machine: kept out of the throwaway server, let in by a password on TCP."""

    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise unittest.SkipTest("needs root to create a second OS account with useradd")
        if not shutil.which("useradd"):
            raise unittest.SkipTest("useradd is not installed: cannot create a second OS account")
        cls.psql = find_psql()
        if cls.psql is None:
            raise unittest.SkipTest("no psql client to connect as the second account")
        cls.other = OtherAccount()
        cls.addClassCleanup(cls.other.remove)

    def test_during_a_run_another_account_gets_in_neither_by_tcp_nor_by_the_socket(self):
        with shared_tempdir() as runs:
            marker = Path(runs) / "started"
            env = child_env(TDDKIT_RUN_DIR=runs, TDDKIT_TEST_MARKER=str(marker))
            child = start_cli_until(marker, ["run", "tests/cases/slow.py", "-q"], env)
            try:
                (run_dir,) = Path(runs).glob("tddkit-pg-*")
                pid, port = postmaster(run_dir)
                self.assertEqual(tcp_listeners(pid), [], "nothing listens on TCP")
                tcp = psql_as(self.other, self.psql, f"host=127.0.0.1 port={port} user=postgres dbname=postgres")
                socket = psql_as(self.other, self.psql, f"host={run_dir} port={port} user=postgres dbname=postgres")
                server_account = psql_as(Account.for_server(), self.psql,
                                         f"host={run_dir} port={port} user=postgres dbname=postgres")
            finally:
                child.terminate()
                child.communicate(timeout=60)
            self.assertEqual(postgres_processes(runs), [])
        self.assertEqual((server_account.returncode, server_account.stdout), (0, "postgres\n"), server_account.stderr)
        self.assertNotEqual(tcp.returncode, 0, f"TCP let the other account in: {tcp.stdout}")
        self.assertIn("Connection refused", tcp.stderr)
        self.assertNotEqual(socket.returncode, 0, f"the socket let the other account in: {socket.stdout}")
        self.assertIn("Permission denied", socket.stderr)

    def test_server_start_url_needs_its_password_and_its_state_file_is_private(self):
        with shared_tempdir() as cache:
            env = child_env(TDDKIT_CACHE_DIR=cache)
            started = run_cli(["server", "start"], env=env)
            try:
                self.assertEqual(started.returncode, 0, started.stderr)
                url = run_cli(["server", "url"], env=env).stdout.strip()
                status = run_cli(["server", "status"], env=env).stdout
                state_file = Path(cache) / "server.json"
                mode = stat.S_IMODE(state_file.stat().st_mode)
                read_state = self.other.run(["cat", str(state_file)])
                match = re.fullmatch(r"postgresql://postgres:([\w-]{20,})@127\.0\.0\.1:(\d+)/postgres", url)
                self.assertIsNotNone(match, url)
                password, port = match.groups()
                with_password = psql_as(self.other, self.psql, url)
                without = psql_as(self.other, self.psql, f"postgresql://postgres@127.0.0.1:{port}/postgres")
                wrong = psql_as(self.other, self.psql, f"postgresql://postgres:not-it@127.0.0.1:{port}/postgres")
                run_dir = json.loads(state_file.read_text())["run_dir"]
                socket = psql_as(self.other, self.psql, f"host={run_dir} port={port} user=postgres dbname=postgres")
            finally:
                stopped = run_cli(["server", "stop"], env=env)
            self.assertIn("stopped", stopped.stdout)
            self.assertEqual(postgres_processes(cache), [])
        self.assertEqual((with_password.returncode, with_password.stdout), (0, "postgres\n"), with_password.stderr)
        self.assertNotEqual(without.returncode, 0)
        self.assertIn("no password supplied", without.stderr)
        self.assertNotEqual(wrong.returncode, 0)
        self.assertIn('password authentication failed for user "postgres"', wrong.stderr)
        self.assertNotEqual(socket.returncode, 0, "the socket stays private")
        self.assertEqual(mode, 0o600)
        self.assertNotEqual(read_state.returncode, 0, "the other account read the state file")
        self.assertIn("Permission denied", read_state.stderr)
        for shown in (started.stdout, status):
            self.assertNotIn(password, shown)
            self.assertIn("postgresql://postgres:***@127.0.0.1:", shown)


if __name__ == "__main__":
    unittest.main()
