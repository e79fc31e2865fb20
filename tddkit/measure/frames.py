"""Finding the caller that matters: the first stack frame outside tddkit (and the libraries it wraps)."""

from __future__ import annotations

from types import FrameType

from .._compat import PYTEST_MODULES, getframe

#: Module name prefixes of code that is never "the application line".
LIBRARY_PREFIXES: tuple[str, ...] = ("tddkit.", "psycopg.", "psycopg_pool.", "sqlalchemy.", "unittest.",
                                     "contextlib", PYTEST_MODULES, "pluggy.")


def _is_library(frame: FrameType, prefixes: tuple[str, ...]) -> bool:
    name: str = frame.f_globals.get("__name__", "")
    return name == "tddkit" or name.startswith(prefixes)


def first_outside(prefixes: tuple[str, ...] = ("tddkit.",), skip: int = 1) -> tuple[FrameType | None, int]:
    """The first frame of the caller's stack whose module is not under ``prefixes``, and its warnings
    ``stacklevel`` as seen from the caller (1 = the caller itself)."""
    frame: FrameType | None = getframe(skip)
    level = 1
    while frame is not None and _is_library(frame, prefixes):
        frame = frame.f_back
        level += 1
    return frame, level
