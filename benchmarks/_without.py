"""``python -m tddkit`` with one part of tddkit's per-test work switched off, to count what that part costs.

    python benchmarks/_without.py PART run SUITE --dsn DSN --no-report

PART is one of:

- ``records``: the runner keeps no test's record (``RunRecords.add`` does nothing);
- ``statements``: the connection counts no statement (no statement statistics, no N+1 detection);
- ``rss``: the meter reads no resident set size.

Only ``benchmarks/instructions.py --parts`` runs this; it reaches into tddkit's internals, which a user never should.
"""

from __future__ import annotations

import runpy
import sys
from typing import Any


def _records() -> None:
    from tddkit.measure.records import RunRecords

    RunRecords.add = lambda self, tm: None  # type: ignore[method-assign]


def _statements() -> None:
    from tddkit.isolation.connection import ConnectionState

    def note_statement(self: Any, query: Any, elapsed: float, conn: Any) -> None:
        """Counts nothing."""

    ConnectionState.note_statement = note_statement  # type: ignore[method-assign]


def _rss() -> None:
    from tddkit.measure import meter

    meter.rss_bytes = lambda: 1  # not 0: the meter takes 0 for "not read yet"


PARTS = {"records": _records, "statements": _statements, "rss": _rss}


def main() -> None:
    part, *arguments = sys.argv[1:]
    if part not in PARTS:
        raise SystemExit(f"unknown part {part!r}: one of {', '.join(PARTS)}")
    PARTS[part]()
    sys.argv = ["tddkit", *arguments]
    runpy.run_module("tddkit", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
