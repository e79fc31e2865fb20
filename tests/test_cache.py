"""The server cache under abuse: concurrent writers, killed runs, corrupt entries, unusable directories."""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

from tddkit.server.binaries import find_binaries
from tddkit.server.leftovers import owned_tempdir
from tddkit.server.recency import USED_DIR
from tests.support import ROOT, child_env, control_field, postgres_processes, run_cli, shared_tempdir, wait_until

TRIVIAL = "tests/cases/trivial.py"

#: A test writing about 4 MB of WAL: past the one segment (1 MB) a cached cluster keeps.
WAL_WRITER = """import tddkit


class WalWriter(tddkit.TDDTestCase):
    def test_writes_several_segments_of_wal(self):
        self.conn.execute("CREATE TABLE filler AS SELECT g, repeat('x', 200) AS pad FROM generate_series(1, 15000) g")
        before = self.conn.execute("SELECT pg_walfile_name(pg_current_wal_insert_lsn())").fetchone()[0]
        self.conn.execute("INSERT INTO filler SELECT * FROM filler")
        after = self.conn.execute("SELECT pg_walfile_name(pg_current_wal_insert_lsn())").fetchone()[0]
        self.assertGreater(after, before)
        self.assertEqual(self.conn.execute("SELECT count(*) FROM filler").fetchone(), (30000,))
"""
BROKEN = "is broken"


def cache_parts(cache: Path):
    """The cache's cluster and its one schema snapshot."""
    (cluster,) = (cache / "clusters").glob("pg*")
    (snapshot,) = (cache / "snapshots").glob("pg*")
    return cluster, snapshot


def template_dir(snapshot: Path) -> Path:
    """The schema template's database directory in a snapshot (the only database made after initdb)."""
    (directory,) = [d for d in (snapshot / "base").iterdir() if int(d.name) >= 16384]
    return directory


class CacheCase(unittest.TestCase):
    """Each test gets a copy of one warm cache (a cluster and the project's schema snapshot)."""

    @classmethod
    def setUpClass(cls):
        cls._warm = shared_tempdir()
        cls.addClassCleanup(cls._warm.cleanup)
        cls.warm = Path(cls._warm.name) / "cache"
        done = run_cli(["run", TRIVIAL, "--no-report"], env=child_env(TDDKIT_CACHE_DIR=str(cls.warm)))
        assert done.returncode == 0, done.stderr

    def setUp(self):
        tmp = shared_tempdir()
        self.addCleanup(tmp.cleanup)
        self.tmp = Path(tmp.name)
        self.cache = self.tmp / "cache"
        subprocess.run(["cp", "-a", str(self.warm), str(self.cache)], check=True)
        self.runs = self.tmp / "runs"
        self.runs.mkdir()
        self.runs.chmod(0o755)

    def run_tests(self, *args, cache=None, cwd=None, target=TRIVIAL, **variables):
        env = child_env(TDDKIT_CACHE_DIR=str(cache or self.cache), TDDKIT_RUN_DIR=str(self.runs), **variables)
        done = run_cli(["run", target, "--no-report", *args], env=env, cwd=cwd)
        self.assertEqual(postgres_processes(str(self.runs)), [])
        return done

    def assert_passes_saying(self, done, *phrases):
        """The run passed, with no traceback, and one line holding every phrase."""
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertNotIn("Traceback", done.stderr)
        self.assertRegex(done.stderr, r"tddkit: 2 passed, 0 failed")
        lines = [line for line in done.stderr.splitlines() if all(p in line for p in phrases)]
        self.assertEqual(len(lines), 1, done.stderr)
        return lines[0]


class SmallCacheTests(CacheCase):
    def test_cached_clusters_keep_only_the_wal_segment_of_their_last_checkpoint_and_start_past_it(self):
        """Recycled future WAL segments are a fifth of a snapshot: they are dropped, and a server started from
        the snapshot makes new segments as it writes."""
        binaries = find_binaries()
        for entry in cache_parts(self.cache):
            with self.subTest(entry=entry.name):
                segments = sorted(p.name for p in (entry / "pg_wal").iterdir() if len(p.name) == 24)
                self.assertEqual(segments, [control_field(binaries, entry, "Latest checkpoint's REDO WAL file")])
        project = self.tmp / "project"
        project.mkdir()
        (project / "test_wal.py").write_text(WAL_WRITER)
        done = self.run_tests(cwd=project, target="test_wal.py")
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("tddkit: 1 passed, 0 failed", done.stderr)


class CorruptCacheTests(CacheCase):
    def assert_rebuilt(self, done, kind):
        line = self.assert_passes_saying(done, f"the cached {kind}", BROKEN, "discarded it")
        cluster, snapshot = cache_parts(self.cache)
        self.assertEqual((snapshot / "global" / "pg_control").stat().st_size, 8192, "the snapshot was saved again")
        again = self.run_tests()
        self.assertEqual(again.returncode, 0, again.stderr)
        self.assertNotIn(BROKEN, again.stderr)
        self.assertIn("reused", again.stderr, "the next run starts from the new snapshot")
        return line

    def test_a_truncated_pg_control_in_a_snapshot_is_discarded_and_rebuilt_even_with_rebuild_schema(self):
        _, snapshot = cache_parts(self.cache)
        os.truncate(snapshot / "global" / "pg_control", 100)
        self.assert_rebuilt(self.run_tests("--rebuild-schema"), "snapshot")

    def test_a_garbled_pg_control_in_a_snapshot_is_discarded_and_rebuilt(self):
        _, snapshot = cache_parts(self.cache)
        (snapshot / "global" / "pg_control").write_bytes(b"\x5a" * 8192)
        line = self.assert_rebuilt(self.run_tests(), "snapshot")
        self.assertIn("FATAL", line)

    def test_a_truncated_catalog_file_in_the_template_is_discarded_and_rebuilt_without_a_hang(self):
        _, snapshot = cache_parts(self.cache)
        os.truncate(template_dir(snapshot) / "1259", 0)  # pg_class
        line = self.assert_rebuilt(self.run_tests(), "snapshot")
        self.assertIn("PANIC", line)

    def test_a_snapshot_replaced_by_a_file_is_rebuilt(self):
        _, snapshot = cache_parts(self.cache)
        shutil.rmtree(snapshot)
        snapshot.write_text("not a cluster")
        self.assert_rebuilt(self.run_tests(), "snapshot")
        self.assertTrue(snapshot.is_dir())

    def test_a_cluster_replaced_by_a_file_is_made_again(self):
        cluster, snapshot = cache_parts(self.cache)
        shutil.rmtree(snapshot)
        shutil.rmtree(cluster)
        cluster.write_text("not a cluster")
        done = self.run_tests()
        self.assert_passes_saying(done, "the cached cluster", "running initdb again")
        self.assertTrue((cluster / "PG_VERSION").is_file())

    def test_a_cluster_that_does_not_start_is_made_again(self):
        cluster, snapshot = cache_parts(self.cache)
        shutil.rmtree(snapshot)
        (cluster / "global" / "pg_control").write_bytes(b"\x5a" * 8192)
        done = self.run_tests()
        self.assert_passes_saying(done, "the cached cluster", BROKEN, "runs initdb again")
        self.assertEqual(self.run_tests().returncode, 0)


class UnusableCacheDirTests(CacheCase):
    def assert_falls_back(self, done, cache, why):
        line = self.assert_passes_saying(done, f"the cache directory {cache} {why}", "uses a temporary one")
        self.assertIn("TDDKIT_CACHE_DIR", line)
        self.assertEqual(list(Path(tempfile.gettempdir()).glob("tddkit-cache-*")), [], "the temporary one is removed")

    def test_a_cache_dir_that_is_a_file(self):
        target = self.tmp / "a-file"
        target.write_text("")
        self.assert_falls_back(self.run_tests(cache=target), target, "is not a directory")

    def test_a_read_only_warm_cache_dir(self):
        before = sorted(p.name for p in self.cache.rglob("*"))
        if os.geteuid() == 0:
            mounted = subprocess.run(["mount", "--bind", str(self.cache), str(self.cache)], capture_output=True)
            if mounted.returncode != 0:
                self.skipTest(f"cannot bind-mount the cache read-only: {mounted.stderr.decode().strip()}")
            self.addCleanup(subprocess.run, ["umount", str(self.cache)], check=True)
            subprocess.run(["mount", "-o", "remount,bind,ro", str(self.cache)], check=True)
        else:
            self.cache.chmod(0o555)
            self.addCleanup(self.cache.chmod, 0o755)
        self.assert_falls_back(self.run_tests(), self.cache, "cannot be written")
        self.assertEqual(sorted(p.name for p in self.cache.rglob("*")), before, "nothing was written to it")

    def test_a_cache_dir_the_server_account_cannot_enter(self):
        if os.geteuid() != 0:
            self.skipTest("only root runs the server as another account")
        private = self.tmp / "private"
        private.mkdir(mode=0o700)
        cache = private / "cache"
        self.assert_falls_back(self.run_tests(cache=cache), cache, "cannot be entered by the server's account")

    def test_server_start_with_an_unusable_cache_dir_is_one_line(self):
        target = self.tmp / "a-file"
        target.write_text("")
        done = run_cli(["server", "start"], env=child_env(TDDKIT_CACHE_DIR=str(target)))
        self.assertEqual(done.returncode, 2, done.stderr)
        self.assertEqual(done.stderr.count("\n"), 1, done.stderr)
        self.assertIn(f"tddkit: error: the cache directory {target} is not a directory", done.stderr)
        self.assertIn("TDDKIT_CACHE_DIR", done.stderr)


#: Makes a work directory the way tddkit does, then dies by SIGKILL in the middle of filling it.
KILLED_WRITER = """
import os, signal, sys
from pathlib import Path
from tddkit.server.binaries import find_binaries
from tddkit.server.leftovers import owned_tempdir
from tddkit.server.recency import USED_DIR
work = owned_tempdir(sys.argv[2], sys.argv[1])
(work / "data").mkdir()
(work / "data" / "half-written").write_bytes(b"x" * 4096)
print(work, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


class LeftoverTests(CacheCase):
    def killed_writer(self, directory: Path, prefix: str) -> Path:
        done = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(directory), prefix], cwd=ROOT,
                              env=child_env(), capture_output=True, text=True)
        self.assertEqual(done.returncode, -9, done.stderr)
        return Path(done.stdout.strip())

    def test_the_next_run_reclaims_what_killed_runs_left_and_only_that(self):
        cluster, snapshot = cache_parts(self.cache)
        dead = [self.killed_writer(self.cache / "snapshots", ".snapshot-"),
                self.killed_writer(self.cache / "clusters", ".initdb-"),
                self.killed_writer(self.runs, "tddkit-pg-")]
        live = [owned_tempdir(".snapshot-", self.cache / "snapshots"), owned_tempdir("tddkit-pg-", self.runs)]
        foreign = [self.cache / "snapshots" / ".snapshot-abc", self.runs / "tddkit-pg-abc"]
        for path in foreign:
            path.mkdir()
        self.assertTrue(all(path.is_dir() for path in dead))
        done = self.run_tests()
        self.assertEqual(done.returncode, 0, done.stderr)
        for path in dead:
            self.assertFalse(path.exists(), path)
        for path in live + foreign:
            self.assertTrue(path.is_dir(), f"{path} is not provably a dead run's")
        self.assertTrue(is_whole(snapshot) and is_whole(cluster))

    def test_a_run_killed_by_sigkill_leaves_a_run_dir_that_the_next_run_reclaims(self):
        marker = self.tmp / "started"
        env = child_env(TDDKIT_CACHE_DIR=str(self.cache), TDDKIT_RUN_DIR=str(self.runs),
                        TDDKIT_TEST_MARKER=str(marker))
        child = subprocess.Popen([sys.executable, "-m", "tddkit", "run", "tests/cases/slow.py"], cwd=ROOT, env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            self.assertTrue(wait_until(marker.exists, 60), "timed out after 60 s")
        finally:
            child.kill()
            child.wait()
        (left,) = list(self.runs.iterdir())
        self.assertTrue(wait_until(lambda: postgres_processes(str(self.runs)) == [], 15), "timed out after 15 s")
        self.assertTrue(left.is_dir(), "SIGKILL leaves the run directory")
        done = self.run_tests()
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(list(self.runs.iterdir()), [])

    def test_a_persistent_servers_run_dir_outlives_its_maker_and_is_kept(self):
        other_cache = self.tmp / "other-cache"
        subprocess.run(["cp", "-a", str(self.cache), str(other_cache)], check=True)
        env = child_env(TDDKIT_CACHE_DIR=str(other_cache), TDDKIT_RUN_DIR=str(self.runs))
        started = run_cli(["server", "start"], env=env)
        try:
            self.assertEqual(started.returncode, 0, started.stderr)
            (kept,) = list(self.runs.iterdir())
            done = run_cli(["run", TRIVIAL, "--no-report"],
                           env=child_env(TDDKIT_CACHE_DIR=str(self.cache), TDDKIT_RUN_DIR=str(self.runs)))
            self.assertEqual(done.returncode, 0, done.stderr)
            self.assertEqual(list(self.runs.iterdir()), [kept])
            again = run_cli(["run", TRIVIAL, "--no-report"], env=env)
            self.assertIn("the running tddkit server", again.stderr)
        finally:
            run_cli(["server", "stop"], env=env)
        self.assertEqual(postgres_processes(str(self.runs)), [])


def is_whole(cluster: Path) -> bool:
    return (cluster / "PG_VERSION").is_file() and (cluster / "global" / "pg_control").stat().st_size == 8192


#: Saves a snapshot holding database KEY, then replaces it again and again as fast as it can, and now and
#: then saves others, so that it is also pruned (keep=3) while servers are being started from it.
SNAPSHOT_WRITER = """
import subprocess, sys, tempfile, time
from pathlib import Path
import psycopg
from tddkit.server.binaries import find_binaries
from tddkit.server.embedded import EmbeddedPostgres
cache, key, rounds = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
server = EmbeddedPostgres(find_binaries(), cache).start()
with psycopg.connect(server.dsn, autocommit=True) as conn:
    conn.execute(f"CREATE DATABASE {key}")
server.stop(save_snapshot=key)
spare = Path(tempfile.mkdtemp(dir=cache))
copies = []
for number in range(rounds):
    copies.append(spare / str(number))
    subprocess.run(["cp", "-al", str(server.cache.snapshot(key)), str(copies[-1])], check=True)  # hard links: fast
print("writer ready", flush=True)
for number, copy in enumerate(copies):
    server.cache.save_snapshot(copy, key if number % 3 else f"other{number % 4}")
    time.sleep(0.03)
subprocess.run(["rm", "-rf", str(spare)], check=True)
print("writer done", flush=True)
"""

#: Starts servers from the snapshot again and again; prints how many came from it.
SNAPSHOT_READER = """
import sys
from pathlib import Path
from tddkit.server.binaries import find_binaries
from tddkit.server.embedded import EmbeddedPostgres
cache, key, rounds = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
used = 0
for _ in range(rounds):
    server = EmbeddedPostgres(find_binaries(), cache).start(snapshot=key)
    used += server.from_snapshot
    server.stop()
print("reader done", used, flush=True)
"""


class SnapshotPruningTests(CacheCase):
    """Each project keeps its latest snapshot (per server version), within a size cap for the whole cache."""

    def run_project(self, name, schema="", **variables):
        """Run a project's test (made on first use; ``schema``: a table more); the snapshot it saved, if any."""
        project = self.tmp / name
        if not project.exists():
            project.mkdir()
            (project / "pyproject.toml").write_text('[tool.tddkit]\nschema = ["schema.sql"]\n')
            (project / "test_it.py").write_text(
                f"import tddkit\n\n\nclass T(tddkit.TDDTestCase):\n    def test_it(self):\n"
                f"        self.conn.execute('SELECT * FROM {name}')\n")
        (project / "schema.sql").write_text(f"CREATE TABLE {name} (id int);\n{schema}")
        before = set(self.snapshots())
        done = self.run_tests(cwd=project, target="test_it.py", **variables)
        self.assertEqual(done.returncode, 0, done.stderr)
        made = set(self.snapshots()) - before
        return made.pop() if made else None

    def snapshots(self):
        return [p.name for p in (self.cache / "snapshots").iterdir() if not p.name.startswith(".")]

    def test_schema_variants_of_one_project_never_push_out_another_projects_latest(self):
        first = self.run_project("first")
        second = [self.run_project("second", f"CREATE TABLE variant{n} (id int);\n") for n in range(4)]
        self.assertIsNone(self.run_project("first"), "its snapshot is reused, not made again")
        kept = self.snapshots()
        self.assertIn(first, kept)
        self.assertEqual(sorted(set(kept) & set(second)), sorted(second[1:]), "the project's 3 used last")
        self.assertEqual(len(kept), 5, "and the latest of the project the cache was warmed with")
        status = run_cli(["server", "status"], env=child_env(TDDKIT_CACHE_DIR=str(self.cache)))
        self.assertEqual(status.returncode, 0, status.stderr)
        self.assertRegex(status.stdout, rf"schema snapshots in {self.cache}: 5, [\d.]+ MB of 2048 MB \(cache_max_mb\)")
        lines = {line.split()[0]: line for line in status.stdout.splitlines() if line.startswith("  ")}
        self.assertEqual(sorted(lines), sorted(kept))
        self.assertRegex(lines[first], rf"  [\d.]+ MB  used \d+ min ago  for {self.tmp}/first/pyproject.toml  "
                                       r"\(its latest\)$")
        self.assertTrue(lines[second[-1]].endswith(f"for {self.tmp}/second/pyproject.toml  (its latest)"))
        self.assertTrue(lines[second[1]].endswith(f"for {self.tmp}/second/pyproject.toml"))

    def test_over_the_cap_older_variants_go_first_then_the_latest_used_longest_ago(self):
        (warmed,) = self.snapshots()
        size_mb = sum(p.stat().st_size for p in (self.cache / "snapshots" / warmed).rglob("*") if p.is_file()) / 2**20
        cap = {"TDDKIT_CACHE_MAX_MB": f"{size_mb * 2.5:.1f}"}  # room for two snapshots and a half
        first = self.run_project("first", **cap)
        self.run_project("second", **cap)
        self.assertEqual(len(self.snapshots()), 2, "the warmed project's latest went: used longest ago")
        latest = self.run_project("second", "CREATE TABLE variant (id int);\n", **cap)
        self.assertEqual(sorted(self.snapshots()), sorted([first, latest]), "the older variant went")


class SnapshotRaceTests(CacheCase):
    def test_servers_start_while_the_snapshot_they_copy_is_replaced_and_pruned(self):
        key = "race"
        env = child_env(TDDKIT_RUN_DIR=str(self.runs))
        writer = subprocess.Popen([sys.executable, "-c", SNAPSHOT_WRITER, str(self.cache), key, "20"], cwd=ROOT,
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.assertEqual(writer.stdout.readline(), "writer ready\n", writer.stderr.read() if writer.poll() else "")
        readers = [subprocess.Popen([sys.executable, "-c", SNAPSHOT_READER, str(self.cache), key, "6"], cwd=ROOT,
                                    env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                   for _ in range(2)]
        outputs = [child.communicate(timeout=300) for child in [writer, *readers]]
        for child, (out, err) in zip([writer, *readers], outputs, strict=True):
            self.assertEqual(child.returncode, 0, err[-3000:])
            self.assertIn("done", out)
        self.assertNotIn(BROKEN, "".join(err for _, err in outputs))
        self.assertGreater(sum(int(out.split()[-1]) for out, _ in outputs[1:]), 0, "some started from the snapshot")
        self.assertEqual(list(self.runs.iterdir()), [])
        self.assertEqual(sorted(p.name for p in (self.cache / "snapshots").iterdir() if p.name.startswith(".")),
                         [USED_DIR], "no work directory is left")


if __name__ == "__main__":
    unittest.main()
