"""When a cached snapshot was last used: a marker per snapshot, touched each time a run copies it.

Pruning keeps the snapshots used most recently, not the ones made most
recently: a project whose snapshot was made months ago and is used every day
keeps it while the branches of another project come and go. The markers live
apart, in ``.used/``: a snapshot's own mtime is part of its identity (see
``cache``), so touching the snapshot itself is not an option.
"""

from __future__ import annotations

import contextlib
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
