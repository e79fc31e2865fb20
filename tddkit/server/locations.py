"""Where the cache and the run directories go, and whether a cache directory can be used."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from .account import Account

#: Below this much free space, /dev/shm is not used for run directories.
MIN_SHM_FREE = 1 << 30

#: How to name the setting in messages about the cache directory.
CACHE_SETTING = "TDDKIT_CACHE_DIR (cache_dir in [tool.tddkit])"


def default_cache_dir() -> Path:
    """``TDDKIT_CACHE_DIR``, else ``/var/cache/tddkit`` for root, else the user's cache dir."""
    if os.environ.get("TDDKIT_CACHE_DIR"):
        return Path(os.environ["TDDKIT_CACHE_DIR"])
    if os.geteuid() == 0:
        # root's home is private; the server's account must be able to read the cache.
        return Path("/var/cache/tddkit")
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tddkit"


def default_run_base() -> str | None:
    """Where run directories go: ``TDDKIT_RUN_DIR``, else /dev/shm (memory, fast copies), else the temp dir."""
    if os.environ.get("TDDKIT_RUN_DIR"):
        return os.environ["TDDKIT_RUN_DIR"]
    with contextlib.suppress(OSError):
        stats = os.statvfs("/dev/shm")
        if os.access("/dev/shm", os.W_OK) and stats.f_bavail * stats.f_frsize >= MIN_SHM_FREE:
            return "/dev/shm"
    return None


def _permits_x(account: Account, groups: set[int], info: os.stat_result) -> bool:
    if info.st_uid == account.uid:
        return bool(info.st_mode & stat.S_IXUSR)
    if info.st_gid in groups:
        return bool(info.st_mode & stat.S_IXGRP)
    return bool(info.st_mode & stat.S_IXOTH)


def may_execute(account: Account, program: str) -> bool:
    """Whether the mode bits of ``program`` (a regular file) let ``account`` execute it."""
    try:
        info = os.stat(program)
    except OSError:
        return False
    if account.uid is None or account.gid is None:
        return os.access(program, os.X_OK)
    groups = set(os.getgrouplist(account.name, account.gid)) if account.name else {account.gid}
    return stat.S_ISREG(info.st_mode) and _permits_x(account, groups, info)


def account_can_enter(account: Account, path: Path) -> bool:
    """Whether ``account`` can reach ``path`` (search permission on it and every directory above it).

    Decided from the mode bits, and confirmed by asking the system as that
    account when they say no (an ACL may still let it in).
    """
    if account.uid is None or account.gid is None:
        return True
    groups = set(os.getgrouplist(account.name, account.gid)) if account.name else {account.gid}
    try:
        chain = [path.resolve(), *path.resolve().parents]
        if all(_permits_x(account, groups, os.stat(directory)) for directory in chain):
            return True
        return account.run(["test", "-x", str(path)], timeout=20, cwd="/").returncode == 0
    except OSError:
        return False


def cache_dir_problem(root: Path, account: Account) -> str | None:
    """Why ``root`` cannot be the cache directory ("is not a directory", ...), or None when it can.

    It is created when missing; the server's account must be able to enter it
    (initdb runs there, and staged binaries are run from it).
    """
    try:
        root.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        return "is not a directory"
    except OSError as exc:
        return f"cannot be created ({exc.strerror})"
    if not root.is_dir():
        return "is not a directory"
    if not os.access(root, os.W_OK | os.X_OK):
        return "cannot be written"
    if account.uid is not None:
        with contextlib.suppress(OSError):
            if stat.S_IMODE(root.stat().st_mode) & 0o755 != 0o755:
                root.chmod(0o755)
        if not account_can_enter(account, root):
            return f"cannot be entered by the server's account {account.name!r} (a directory above it is private)"
    return None
