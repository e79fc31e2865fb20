"""Finding the caller that matters: the first stack frame outside tddkit (and the libraries it wraps)."""

from __future__ import annotations

from types import FrameType
from typing import Optional, Tuple

from .._compat import PYTEST_MODULES, getframe

#: Module name prefixes of code that is never "the application line".
LIBRARY_PREFIXES: Tuple[str, ...] = ("tddkit.", "psycopg.", "psycopg_pool.", "sqlalchemy.", "unittest.",
                                     "contextlib", PYTEST_MODULES, "pluggy.")


def _is_library(frame: FrameType, prefixes: Tuple[str, ...]) -> bool:
    name: str = frame.f_globals.get("__name__", "")
    return name == "tddkit" or name.startswith(prefixes)


def first_outside(prefixes: Tuple[str, ...] = ("tddkit.",), skip: int = 1) -> Tuple[Optional[FrameType], int]:
    """The first frame of the caller's stack whose module is not under ``prefixes``, and its warnings
    ``stacklevel`` as seen from the caller (1 = the caller itself)."""
    frame: Optional[FrameType] = getframe(skip)
    level = 1
    while frame is not None and _is_library(frame, prefixes):
        frame = frame.f_back
        level += 1
    return frame, level
