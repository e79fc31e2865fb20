"""Which cached snapshots are kept: each project's latest, within a size cap for the whole cache.

Each snapshot has a marker in ``.used/``, touched each time a run copies the
snapshot (its own mtime is part of its identity, see ``cache``, so touching
the snapshot itself is not an option); the marker holds what was recorded
when the snapshot was saved: the project it is for (its config file) and its
size. Pruning keeps the snapshots used most recently, not the ones made most
recently, per project and server version: each project keeps the snapshot
it used last, and of its others (other schema versions: branches) the
``per_project`` - 1 used last, while all snapshots together fit in the cap. Over the cap, those used
longest ago go first, a project's older ones before any project's latest; the
one just saved always stays.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from pathlib import Path

USED_DIR = ".used"


def _marker(entry: Path) -> Path:
    return entry.parent / USED_DIR / entry.name


def mark_used(entry: Path) -> None:
    """Note that ``entry`` was used now (a read-only cache keeps the time it was made instead)."""
    marker = _marker(entry)
    with contextlib.suppress(OSError):
        marker.parent.mkdir(exist_ok=True)
        marker.touch()


def record(entry: Path, project: str, size: int) -> None:
    """Note that ``entry``, of ``size`` bytes, was just saved for ``project`` (and so used now)."""
    marker = _marker(entry)
    with contextlib.suppress(OSError):
        marker.parent.mkdir(exist_ok=True)
        marker.write_text(json.dumps({"project": project, "bytes": size}))


def _recorded(entry: Path) -> tuple[str, int | None]:
    """The project and size recorded for ``entry`` ("" and None when nothing was)."""
    try:
        data = json.loads(_marker(entry).read_text() or "{}")
    except (OSError, ValueError):
        return "", None
    if not isinstance(data, dict):
        return "", None
    project, size = data.get("project"), data.get("bytes")
    return (project if isinstance(project, str) else ""), (size if isinstance(size, int) else None)


def last_used(entry: Path) -> float:
    """When ``entry`` was last used or made, as a timestamp (0 if it is gone)."""
    times = []
    for path in (_marker(entry), entry):
        with contextlib.suppress(OSError):
            times.append(path.stat().st_mtime)
    return max(times, default=0.0)


def forget(entry: Path) -> None:
    """Drop the marker of an entry that is gone."""
    with contextlib.suppress(OSError):
        _marker(entry).unlink()


def tree_size(path: Path) -> int:
    """Bytes of the files under ``path``."""
    total = 0
    for directory, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(directory, name)).st_size
    return total


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """A cached snapshot: where, for which project, when last used, how big, which version of it (inode, mtime)."""

    path: Path
    project: str
    used: float
    size: int
    identity: tuple[int, ...]

    @property
    def server(self) -> str:
        """The server version it is for (its name starts with the ServerCache's ``version_key``: pg15-abc...)."""
        return "-".join(self.path.name.split("-", 2)[:2])


def snapshots(directory: Path) -> list[Snapshot]:
    """The snapshots in ``directory``, used last first (work directories and markers left out)."""
    found = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(directory):
            if entry.name.startswith(".") or not entry.is_dir(follow_symlinks=False):
                continue
            path = Path(entry.path)
            project, size = _recorded(path)
            info = entry.stat(follow_symlinks=False)
            found.append(Snapshot(path, project, last_used(path), tree_size(path) if size is None else size,
                                  (info.st_ino, info.st_mtime_ns)))
    return sorted(found, key=lambda s: s.used, reverse=True)


def latest_of_each_project(found: list[Snapshot]) -> set[Path]:
    """The snapshot each project used last on each server version (``found`` used last first)."""
    latest: dict[tuple[str, str], Path] = {}
    for snapshot in found:
        latest.setdefault((snapshot.project, snapshot.server), snapshot.path)
    return set(latest.values())


def to_prune(found: list[Snapshot], saved: Path, per_project: int, cap: int) -> list[Snapshot]:
    """The snapshots to remove (``found`` used last first): a project's beyond its ``per_project`` used last,
    then, while the rest exceed ``cap`` bytes, those used longest ago, a project's latest last; never ``saved``."""
    latest = latest_of_each_project(found)
    seen: dict[tuple[str, str], int] = {}
    pruned: list[Snapshot] = []
    kept: list[Snapshot] = []
    for snapshot in found:
        group = (snapshot.project, snapshot.server)
        seen[group] = seen.get(group, 0) + 1
        over = seen[group] > per_project and snapshot.path != saved
        (pruned if over else kept).append(snapshot)
    total = sum(s.size for s in kept)
    for snapshot in sorted(reversed(kept), key=lambda s: s.path in latest):  # longest ago first, the latest last
        if total <= cap:
            break
        if snapshot.path != saved:
            pruned.append(snapshot)
            total -= snapshot.size
    return pruned
