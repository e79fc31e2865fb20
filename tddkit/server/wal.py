"""Keeping cached clusters small: drop the WAL segments a cleanly stopped cluster will never read.

A checkpoint keeps old WAL segments as recycled, future segments (renamed,
stale content). A cached cluster or snapshot is copied on every run, and
those files are a fifth of it. After a clean shutdown the cluster needs the
segment holding its last checkpoint only: a missing future segment is simply
created when the server gets there.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from .binaries import PgBinaries

_SEGMENT = re.compile(r"[0-9A-F]{24}")


def _control_data(binaries: PgBinaries, data_dir: Path) -> dict[str, str]:
    """``pg_controldata``'s fields (empty if it cannot run)."""
    try:
        done = subprocess.run([binaries.path("pg_controldata"), str(data_dir)], capture_output=True, text=True,
                              timeout=30, env={**os.environ, "LC_ALL": "C"})
    except (OSError, subprocess.SubprocessError):
        return {}
    pairs = (line.split(":", 1) for line in done.stdout.splitlines() if ":" in line)
    return {key.strip(): value.strip() for key, value in pairs} if done.returncode == 0 else {}


def drop_future_segments(binaries: PgBinaries, data_dir: Path) -> int:
    """Delete the recycled WAL segments after the last checkpoint's of a cleanly stopped cluster; how many.

    Does nothing unless pg_controldata says the cluster was shut down cleanly
    with its checkpoint's redo point at the checkpoint itself.
    """
    fields = _control_data(binaries, data_dir)
    current = fields.get("Latest checkpoint's REDO WAL file", "")
    if (fields.get("Database cluster state") != "shut down" or not _SEGMENT.fullmatch(current)
            or fields.get("Latest checkpoint location") != fields.get("Latest checkpoint's REDO location")):
        return 0
    wal = data_dir / "pg_wal"
    future = [name for name in os.listdir(wal) if _SEGMENT.fullmatch(name) and name[:8] == current[:8]
              and name > current]
    for name in future:
        os.unlink(wal / name)
    return len(future)
