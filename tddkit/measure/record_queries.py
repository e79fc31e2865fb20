"""What the report asks of a run's records (``RunRecords``): the run's statement totals, durations, class records,
memory growth, the measured tests, outcome counts; each told from the columns, in C where it can be.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Iterator, Sequence
from itertools import compress, repeat
from typing import TYPE_CHECKING, Any

from .._compat import FAILED_IMPORT_ID
from .metrics import ClassMetrics

if TYPE_CHECKING:
    from array import array

#: Outcomes by code (the code of a test is its index here).
OUTCOMES = ("unknown", "passed", "failed", "error", "skipped", "expected_failure", "unexpected_success")
_CODES = {name: code for code, name in enumerate(OUTCOMES)}
#: Test indices kept per statement shape in the run's totals (``shape_totals``).
TESTS_PER_SHAPE = 20


class RecordQueries:
    """The report's queries of ``RunRecords`` (its base class), on the columns that class keeps."""

    ids: list[str]
    outcomes: bytearray
    classes: list[ClassMetrics]
    shapes: list[str]
    shape_totals: list[list[Any]]
    statements_kept: int

    if TYPE_CHECKING:  # what RunRecords defines
        class_index: array[int]

        @property
        def extras(self) -> dict[int, dict[str, Any]]: ...
        def __len__(self) -> int: ...
        def statements(self, indices: Iterable[int]) -> Iterator[tuple[int, str, int, float, float]]: ...
        def field(self, name: str, indices: Iterable[int]) -> list[Any]: ...
        def value(self, name: str, i: int) -> Any: ...
        def outcome(self, i: int) -> str: ...

    def run_totals(self, indices: Iterable[int]) -> Iterator[tuple[str, int, float, float, int, list[int]]] | None:
        """(shape, calls, ms, longest ms, tests, the first tests' indices) of every shape, in order of first use,
        when ``indices`` is every test and the arrays hold every statement; else None (count them by test)."""
        if not self._every_test(indices) or self.statements_kept:
            return None
        return ((shape, *run) for shape, run in zip(self.shapes, self.shape_totals, strict=True))

    def totals_of(self, indices: Iterable[int]) -> Iterator[tuple[str, int, float, float, int, list[int]]]:
        """``run_totals``' rows for the tests at ``indices``, counted test by test."""
        by_shape: dict[str, list[Any]] = {}
        for i, shape, calls, total_ms, max_ms in self.statements(indices):
            run = by_shape.get(shape)
            if run is None:
                run = by_shape[shape] = [0, 0.0, 0.0, 0, []]
            _tally(run, calls, total_ms, max_ms, i)
        return ((shape, *run) for shape, run in by_shape.items())

    def _every_test(self, indices: Iterable[int]) -> bool:
        """Whether ``indices`` is every test, in order (the columns serve it whole)."""
        return isinstance(indices, range) and indices == range(len(self))

    def durations(self) -> dict[str, float]:
        """Test id -> total seconds (rounded to the microsecond) of every test that ran and took time (not
        skipped)."""
        totals = self.field("total_ms", range(len(self)))
        kept = map(operator.and_, map(operator.ne, self.outcomes, repeat(_CODES["skipped"])),
                   map(operator.gt, totals, repeat(0)))
        seconds = map(round, map(operator.truediv, totals, repeat(1000)), repeat(6))
        return dict(compress(zip(self.ids, seconds, strict=True), kept))

    def classes_of(self, indices: Iterable[int]) -> list[ClassMetrics]:
        """The class records of the tests at ``indices``, each once, in order of first use."""
        if self._every_test(indices):
            return list(self.classes)  # each in order of first use already
        class_index, seen = self.class_index, {}
        for i in indices:
            position = class_index[i]
            if position >= 0 and position not in seen:
                seen[position] = self.classes[position]
        return list(seen.values())


    def memory_growth(self, indices: Iterable[int]) -> list[int]:
        """The RSS growth in bytes of the tests at ``indices`` (negative where memory was returned)."""
        return list(map(operator.sub, self.field("rss_after", indices), self.field("rss_before", indices)))

    def grown(self, indices: Sequence[int], limit: float) -> list[int]:
        """The tests at ``indices`` whose memory grew by more than ``limit`` bytes."""
        growth = self.memory_growth(indices)
        if not growth or max(growth) <= limit:  # the common case, told without a loop of Python's
            return []
        return [i for i, grew in zip(indices, growth, strict=True) if grew > limit]

    def sparse(self, indices: Iterable[int]) -> list[int]:
        """Those of ``indices`` that hold fields most tests leave empty (``extras``), in order."""
        if not self.extras:
            return []
        if isinstance(indices, range):
            return [i for i in sorted(self.extras) if i in indices]
        return [i for i in indices if i in self.extras]

    def measured(self) -> Sequence[int]:
        """Indices of the tests whose records hold measurements (see ``TestMetrics.measured``): a range when
        all do."""
        skipped, error, ids = _CODES["skipped"], _CODES["error"], self.ids
        if skipped not in self.outcomes and error not in self.outcomes:
            return range(len(self))
        return [i for i, code in enumerate(self.outcomes) if code != skipped and not (
            code == error and (self.value("total_ms", i) == 0 or ids[i].startswith(FAILED_IMPORT_ID)))]

    def outcome_count(self, outcome: str) -> int:
        """How many tests ended with ``outcome``."""
        code = _CODES.get(outcome)
        if code is None or code == 0:
            return sum(1 for i in range(len(self)) if self.outcome(i) == outcome)
        return self.outcomes.count(code)



def _tally(run: list[Any], calls: int, total_ms: float, max_ms: float, index: int) -> None:
    """Add test ``index``'s statements of one shape to the shape's totals: [calls, ms, longest ms, tests, the first
    TESTS_PER_SHAPE tests' indices]."""
    run[0] += calls
    run[1] += total_ms
    if max_ms > run[2]:
        run[2] = max_ms
    run[3] += 1
    if run[3] <= TESTS_PER_SHAPE:
        run[4].append(index)
