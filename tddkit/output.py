"""Writing what tddkit produces: JSON documents, atomically."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Optional, Union


def write_json(path: Union[str, Path], document: Any, *, indent: Optional[int] = 2, mode: Optional[int] = None,
               sort_keys: bool = False) -> None:
    """Write ``document`` to ``path`` as JSON: a temporary file beside it, then ``os.replace``.

    Readers see the old file or the new one, never a half-written one. The
    parent directory is created; ``mode`` sets the file's permissions (e.g.
    0o600 for files holding a password) before any content is written.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        if mode is not None:
            os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(document, fh, indent=indent, allow_nan=False, sort_keys=sort_keys)
            fh.write("\n")
        os.replace(temporary, target)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
