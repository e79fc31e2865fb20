"""Why a schema template was built: what changed since the project's last build.

After each run the digests of everything the template is made of (see
``SchemaSource.manifest``) are kept in the project's ``.tddkit/schema.json``;
the next build names what differs from them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

#: How many changed inputs a reason names before it counts the rest.
SHOWN = 3


def _read(record: Path) -> dict[str, str] | None:
    try:
        data = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else None


def why_built(record: Path | None, manifest: Mapping[str, str], rebuild: bool) -> str:
    """Why a template of ``manifest`` is built: the inputs changed since the last recorded build, or else."""
    if rebuild:
        return "rebuild requested"
    previous = _read(record) if record is not None else None
    if previous is None:
        return "first build here"
    changed = sorted(k for k in manifest.keys() | previous.keys() if manifest.get(k) != previous.get(k))
    if not changed:
        return "unchanged, but not on this server yet"
    more = f" and {len(changed) - SHOWN} more" if len(changed) > SHOWN else ""
    return f"changed: {', '.join(changed[:SHOWN])}{more}"


def remember(record: Path | None, manifest: Mapping[str, str]) -> None:
    """Keep ``manifest`` as the project's last build (written only when it differs; unwritable: skipped)."""
    if record is None or _read(record) == dict(manifest):
        return
    try:
        record.parent.mkdir(parents=True, exist_ok=True)
        partial = record.with_name(f".{record.name}.{os.getpid()}")
        partial.write_text(json.dumps(dict(manifest), indent=0, sort_keys=True), encoding="utf-8")
        partial.replace(record)
    except OSError:
        pass  # the reason of the next build is then less precise, nothing else
