"""Writing what tddkit produces: table cells, the environment, JSON documents (atomically)."""

from __future__ import annotations

import errno
import json
import math
import os
import tempfile
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, overload

from ._version import __version__
from .errors import ConfigError

PathLike = str | Path


# --- printed tables ------------------------------------------------------------------


def format_number(value: float | None, unit: str = "ms") -> str:
    """A table cell: 3 decimals, whole counts as ints, '-' for None."""
    if value is None:
        return "-"
    if unit == "count" and float(value).is_integer():
        return str(int(value))
    return f"{value:.3f}"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]], text_columns: int = 1) -> str:
    """A tabulate table of preformatted cells: the first ``text_columns`` left-aligned, numbers right."""
    from tabulate import tabulate

    align = ("left",) * text_columns + ("right",) * (len(headers) - text_columns)
    return tabulate(rows, headers=headers, disable_numparse=True, colalign=align)


# --- what every document says about itself ---------------------------------------------


def describe_age(seconds: float) -> str:
    """How long ago, for a person: '12 min', '3.5 h', '4 days'."""
    hours = seconds / 3600
    return f"{hours * 60:.0f} min" if hours < 1 else f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.0f} days"


def tddkit_version() -> str:
    """tddkit's version (``tddkit/_version.py``, which packaging reads too)."""
    return __version__


def timestamp() -> str:
    """Now, in UTC, as ISO 8601 to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def environment() -> dict[str, Any]:
    """Where numbers were measured: numbers from another machine or Python compare poorly."""
    import platform

    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
    }


def document_header(**extra: Any) -> dict[str, Any]:
    """The first keys of a report or benchmark document: version, time, environment (plus ``extra``)."""
    return {"tddkit_version": tddkit_version(), "created": timestamp(), "environment": {**environment(), **extra}}


@overload
def json_safe(value: dict[str, object]) -> dict[str, object]: ...
@overload
def json_safe(value: object) -> object: ...


def json_safe(value: Any) -> Any:
    """``value`` with NaN and infinities replaced by None, recursively (a dict stays a dict)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


# --- files ---------------------------------------------------------------------------


def output_path(path: PathLike) -> Path:
    """``path`` with its parent directory created."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


def check_writable(path: PathLike, option: str) -> None:
    """A one-line ConfigError unless a file can be written at ``path`` (its missing directories made).

    Tried with a probe file in the nearest existing directory: permission
    bits say nothing for root or on a read-only file system.
    """
    target = Path(path)
    if target.is_dir():
        raise ConfigError(f"{option} {path}: that is a directory; give a file name")
    directory = target.parent
    while not directory.exists() and directory != directory.parent:
        directory = directory.parent
    try:
        if not directory.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR))
        fd, probe = tempfile.mkstemp(prefix=".tddkit-probe-", dir=directory)
        os.close(fd)
        os.unlink(probe)
        if target.exists() and not os.access(target, os.W_OK):
            directory = target
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
    except OSError as exc:
        raise ConfigError(f"{option} {path} cannot be written ({exc.strerror}: {directory}); give a path in a "
                          "directory you can write to") from None


def _default_mode() -> int:
    """The permissions ``open()`` gives a new file: 0o666 less the process umask."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def write_json(path: PathLike, document: Any, *, indent: int | None = 2, mode: int | None = None,
               sort_keys: bool = False, separators: tuple[str, str] | None = None) -> None:
    """Write ``document`` to ``path`` as JSON: a temporary file beside it, then ``os.replace``.

    Readers see the old file or the new one, never a half-written one. The
    parent directory is created; ``mode`` sets the file's permissions (e.g.
    0o600 for files holding a password) before any content is written; by
    default they are those of a file made with ``open()`` (0o666 less the umask).
    """
    def dump(fh: IO[str]) -> None:  # dumps, not dump: without indent it is the C encoder's one pass
        fh.write(json.dumps(document, indent=indent, allow_nan=False, sort_keys=sort_keys, separators=separators))
        fh.write("\n")

    write_atomically(path, dump, mode=mode)


def write_atomically(path: PathLike, write: Callable[[IO[str]], None], *, mode: int | None = None) -> None:
    """Have ``write`` fill a temporary text file beside ``path`` (UTF-8), then move it to ``path``
    (``write_json``'s guarantees)."""
    target = output_path(path)
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(fd, _default_mode() if mode is None else mode)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            write(fh)
        os.replace(temporary, target)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
