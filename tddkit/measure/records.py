"""Every test's metrics of a run in compact columns, read back as TestMetrics.

A run of 20,000 tests keeps no per-test objects but its test ids: each
TestMetrics is read in one step when its test ends (a tuple of its fields) and
packed into typed arrays 256 tests at a time (about 250 bytes for a test with
two statement shapes, its id included), and rebuilt on demand (``records[i]``,
iteration), so the report, the baseline and the durations read the same data a
list of TestMetrics held. Fields most tests leave empty (resources, custom
metrics, memory snapshots, allocation sites, repeated statements) are kept only
for the tests that have them.
"""

from __future__ import annotations

import math
import operator
from array import array
from collections.abc import Iterable, Iterator, Sequence
from functools import reduce
from itertools import accumulate, chain, groupby, repeat
from typing import Any, overload

from .metrics import ClassMetrics, TestMetrics
from .record_queries import _CODES, OUTCOMES, TESTS_PER_SHAPE, RecordQueries

__all__ = ["OUTCOMES", "SPARSE", "TESTS_PER_SHAPE", "RunRecords"]

#: TestMetrics' float fields (one array holds them, a test's after another's).
FLOATS = ("connection_ms", "setup_ms", "body_ms", "cleanup_ms", "total_ms", "query_ms", "resource_wait_ms")
#: Its integer fields.
INTS = ("query_count", "rss_before", "rss_after")
_NF, _NI = len(FLOATS), len(INTS)
_FLOAT_INDEX = {name: k for k, name in enumerate(FLOATS)}
_INT_INDEX = {name: k for k, name in enumerate(INTS)}
#: Its sequence fields that most tests leave empty.
SPARSE = ("resources", "custom", "memory_snapshots", "allocations", "repeated_statements")
#: A test's fields as ``add`` keeps them until they are packed: these, SPARSE, FLOATS, INTS (one C call reads them).
_HEAD = ("test_id", "outcome", "class_metrics", "statements")
_ROW = operator.attrgetter(*_HEAD, *SPARSE, *FLOATS, *INTS)
_FIRST_NUMBER = len(_HEAD) + len(SPARSE)
_FLOAT_PART = operator.itemgetter(slice(_FIRST_NUMBER, _FIRST_NUMBER + _NF))
_INT_PART = operator.itemgetter(slice(_FIRST_NUMBER + _NF, None))
#: Tests whose fields wait as tuples before they are packed into the columns, all at once.
ROWS_PER_PACK = 256


class RunRecords(RecordQueries, Sequence[TestMetrics]):
    """The TestMetrics of a run, in the order their tests ended (the report's queries: ``RecordQueries``).

    Every reader packs the tests waiting first (``_pack``): the columns below hold every test added.
    """

    def __init__(self, tests: Iterable[TestMetrics] = ()) -> None:
        self._ids: list[str] = []
        self._outcomes = bytearray()
        #: FLOATS and INTS of every test, one row after another.
        self._floats = array("d")
        self._ints = array("q")
        #: The fields of the last tests (``_ROW``), not packed yet (at most ROWS_PER_PACK).
        self._rows: list[tuple[Any, ...]] = []
        #: Each test's class record as an index into ``classes`` (-1: none); classes in order of first use.
        self._class_index = array("i")
        self._classes: list[ClassMetrics] = []
        self._class_ids: dict[int, int] = {id(None): -1}
        #: Statement statistics: shapes by number, and per statement (in test order) its shape's number and its
        #: calls, ms and longest ms; ``statement_end[i]`` is where test i's statements end.
        self.shapes: list[str] = []
        self._shape_ids: dict[str, int] = {}
        self.statement_end = array("l")
        self.statement_shape = array("i")
        self.statement_numbers = array("d")
        #: Per shape number, summed as tests are packed: [calls, ms, longest ms, tests, the first TESTS_PER_SHAPE
        #: tests' indices] (the run's statistics need no pass over every statement; see ``run_totals``).
        self.shape_totals: list[list[Any]] = []
        #: Test index -> {field: value} for the SPARSE fields a test filled, and for a field whose value is not of
        #: its type (a hand-made record), kept as it was.
        self._extras: dict[int, dict[str, Any]] = {}
        self._odd: set[str] = set()  # FLOATS and INTS some test holds in ``extras``
        self.statements_kept = 0  # tests whose statements ``extras`` holds
        for tm in tests:
            self.add(tm)

    def add(self, tm: TestMetrics) -> None:
        """Keep ``tm`` (its fields as they are now: later changes to it are not seen)."""
        rows = self._rows
        rows.append(_ROW(tm))
        if len(rows) >= ROWS_PER_PACK:
            self._pack()

    def _pack(self) -> None:
        """Move the tests waiting in ``_rows`` (if any) into the columns, each column in one go."""
        if not self._rows:
            return
        rows, self._rows = self._rows, []
        first = len(self._ids)
        test_ids, outcomes, classes, statements, *sparse = list(zip(*rows, strict=True))[:_FIRST_NUMBER]
        self._ids.extend(test_ids)
        self._add_outcomes(first, outcomes)
        self._add_classes(classes)
        self._add_statements(first, statements)
        for name, values in zip(SPARSE, sparse, strict=True):
            if any(values):
                for index, value in enumerate(values, first):
                    if value:
                        self._extras.setdefault(index, {})[name] = value
        self._add_numbers(first, rows)

    def _add_outcomes(self, first: int, outcomes: Sequence[str]) -> None:
        codes = list(map(_CODES.get, outcomes))
        if None in codes:  # an outcome of a hand-made record: kept as it is
            for index, (outcome, code) in enumerate(zip(outcomes, codes, strict=True), first):
                if code is None:
                    self._extras.setdefault(index, {})["outcome"] = outcome
                    codes[index - first] = 0
        self._outcomes.extend(codes)  # type: ignore[arg-type]  # no None left

    def _add_classes(self, classes: Sequence[ClassMetrics | None]) -> None:
        keys = list(map(id, classes))
        class_ids = self._class_ids
        for key, cm in dict(zip(keys, classes, strict=True)).items():  # each class once, in order of first use
            if key not in class_ids:
                class_ids[key] = len(self._classes)
                self._classes.append(cm)  # type: ignore[arg-type]  # None's key is there from the start
        self._class_index.extend(map(class_ids.__getitem__, keys))

    def _add_numbers(self, first: int, rows: list[tuple[Any, ...]]) -> None:
        """FLOATS and INTS into their arrays: all at once when every value is of its type (the common case), else
        row by row (``_pack_odd``)."""
        floats = list(chain.from_iterable(map(_FLOAT_PART, rows)))
        ints = list(chain.from_iterable(map(_INT_PART, rows)))
        if set(map(type, floats)) <= {float} and set(map(type, ints)) <= {int}:
            try:
                packed = array("q", ints)
            except OverflowError:  # an int too large for the array: that row is odd
                pass
            else:
                self._floats.fromlist(floats)
                self._ints.extend(packed)
                return
        for index, row in enumerate(rows, first):
            self._pack_odd(index, row[_FIRST_NUMBER:])

    def _pack_odd(self, index: int, values: tuple[Any, ...]) -> None:
        """Keep the fields whose values are not of their type in ``extras``; zeros in the arrays instead."""
        kept: list[Any] = []
        for name, value in zip((*FLOATS, *INTS), values, strict=True):
            wanted = float if name in _FLOAT_INDEX else int
            if type(value) is not wanted or wanted is int and not -2**63 <= value < 2**63:
                self._extras.setdefault(index, {})[name], value = value, wanted()
                self._odd.add(name)
            kept.append(value)
        self._floats.extend(kept[:_NF])
        self._ints.extend(kept[_NF:])

    def _add_statements(self, first: int, statements: Sequence[Sequence[tuple[str, int, float, float]]]) -> None:
        """The statements of tests ``first``, ``first + 1``, ...: in one go when every number is of its type (the
        common case), else test by test; a test's statements with numbers of other types (a hand-made record) are
        kept in ``extras`` as they are."""
        flat = list(chain.from_iterable(statements))
        ends = self.statement_end
        if not flat:
            ends.extend(repeat(len(self.statement_shape), len(statements)))
            return
        shapes, calls, total_ms, max_ms = zip(*flat, strict=True)
        if not _typed(calls, total_ms, max_ms):
            if len(statements) > 1:
                for index, one in enumerate(statements, first):
                    self._add_statements(index, (one,))
                return
            self._extras.setdefault(first, {})["statements"] = statements[0]
            self.statements_kept += 1
            ends.append(len(self.statement_shape))
            return
        shape_ids = self._shape_ids
        for shape in dict.fromkeys(shapes):
            if shape not in shape_ids:
                shape_ids[shape] = len(self.shapes)
                self.shapes.append(shape)
                self.shape_totals.append([0, 0.0, 0.0, 0, []])
        numbers = list(map(shape_ids.__getitem__, shapes))
        ends.extend(accumulate(map(len, statements), initial=len(self.statement_shape)))
        del ends[-len(statements) - 1]  # accumulate's initial value: the end of the test before ``first``
        self.statement_shape.extend(numbers)
        self.statement_numbers.extend(chain.from_iterable(zip(calls, total_ms, max_ms, strict=True)))
        tests = list(chain.from_iterable(map(repeat, range(first, first + len(statements)), map(len, statements))))
        self._add_to_totals(numbers, calls, total_ms, max_ms, tests)

    def _add_to_totals(self, numbers: list[int], calls: Sequence[int], total_ms: Sequence[float],
                       max_ms: Sequence[float], tests: list[int]) -> None:
        """Add statements (their shapes' numbers, calls, ms, longest ms, tests) to their shapes' totals, a shape at a
        time: its ms summed in the order they came, as one addition after another would."""
        totals = self.shape_totals
        for number, group in groupby(sorted(range(len(numbers)), key=numbers.__getitem__),
                                     key=numbers.__getitem__):
            at = list(group)  # the statements of one shape, in order (the sort is stable)
            run = totals[number]
            run[0] += sum(map(calls.__getitem__, at))
            run[1] = reduce(operator.add, map(total_ms.__getitem__, at), run[1])
            run[2] = max(run[2], *map(max_ms.__getitem__, at))
            wanted = TESTS_PER_SHAPE - run[3]
            if wanted > 0:
                run[4].extend(map(tests.__getitem__, at[:wanted]))
            run[3] += len(at)

    @property
    def ids(self) -> list[str]:
        """Every test's id."""
        self._pack()
        return self._ids

    @property
    def outcomes(self) -> bytearray:
        """Every test's outcome, as its code (its index in OUTCOMES; 0 where ``extras`` holds it)."""
        self._pack()
        return self._outcomes

    @property
    def class_index(self) -> array[int]:
        """Every test's class record, as an index into ``classes`` (-1: none)."""
        self._pack()
        return self._class_index

    @property
    def classes(self) -> list[ClassMetrics]:
        """The tests' class records, in order of first use."""
        self._pack()
        return self._classes

    @property
    def floats(self) -> array[float]:
        """FLOATS of every test, one row after another."""
        self._pack()
        return self._floats

    @property
    def ints(self) -> array[int]:
        """INTS of every test, one row after another."""
        self._pack()
        return self._ints

    @property
    def extras(self) -> dict[int, dict[str, Any]]:
        """Test index -> {field: value} for the SPARSE fields a test filled, and for a field whose value is not of
        its type (a hand-made record), kept as it was."""
        self._pack()
        return self._extras

    # --- reading ----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._ids) + len(self._rows)

    @overload
    def __getitem__(self, index: int) -> TestMetrics: ...
    @overload
    def __getitem__(self, index: slice) -> list[TestMetrics]: ...

    def __getitem__(self, index: int | slice) -> TestMetrics | list[TestMetrics]:
        if isinstance(index, slice):
            return [self._metrics(i) for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("test record index out of range")
        return self._metrics(index)

    def __iter__(self) -> Iterator[TestMetrics]:
        return (self._metrics(i) for i in range(len(self)))

    def _metrics(self, i: int) -> TestMetrics:
        self._pack()
        tm = TestMetrics(self.ids[i], outcome=OUTCOMES[self.outcomes[i]])
        for name, value in zip(FLOATS, self.floats[i * _NF:(i + 1) * _NF], strict=True):
            setattr(tm, name, value)
        for name, value in zip(INTS, self.ints[i * _NI:(i + 1) * _NI], strict=True):
            setattr(tm, name, value)
        position = self.class_index[i]
        if position >= 0:
            tm.class_metrics = self.classes[position]
        tm.statements = tuple(self.statements_of(i))
        for name, value in self.extras.get(i, {}).items():
            setattr(tm, name, value)
        return tm

    def statements_of(self, i: int) -> Iterator[tuple[str, int, float, float]]:
        """(shape, calls, total ms, longest ms) of test i's statements."""
        return ((shape, calls, total_ms, max_ms) for _, shape, calls, total_ms, max_ms in self.statements((i,)))

    def statements(self, indices: Iterable[int]) -> Iterator[tuple[int, str, int, float, float]]:
        """(test index, shape, calls, total ms, longest ms) of the statements of the tests at ``indices``."""
        self._pack()
        shapes, shape_of, numbers, ends, extras = (self.shapes, self.statement_shape, self.statement_numbers,
                                                   self.statement_end, self.extras)
        for i in indices:
            extra = extras.get(i)
            if extra is not None and "statements" in extra:
                for shape, calls, total_ms, max_ms in extra["statements"]:
                    yield i, shape, calls, total_ms, max_ms
                continue
            for at in range(ends[i - 1] if i else 0, ends[i]):
                yield i, shapes[shape_of[at]], int(numbers[3 * at]), numbers[3 * at + 1], numbers[3 * at + 2]

    def outcome(self, i: int) -> str:
        """Test i's outcome."""
        extra = self.extras.get(i)
        if extra is not None and "outcome" in extra:
            return str(extra["outcome"])
        return OUTCOMES[self.outcomes[i]]

    def value(self, name: str, i: int) -> Any:
        """Test i's ``name`` (a field of FLOATS, INTS or SPARSE) as the test recorded it."""
        extra = self.extras.get(i)
        if extra is not None and name in extra:
            return extra[name]
        if name in SPARSE:
            return ()
        if name in _FLOAT_INDEX:
            return self.floats[i * _NF + _FLOAT_INDEX[name]]
        return self.ints[i * _NI + _INT_INDEX[name]]

    def column(self, name: str) -> array[Any]:
        """The ``name`` (a field of FLOATS or INTS) of every test, zero where ``extras`` holds it."""
        if name in _FLOAT_INDEX:
            return self.floats[_FLOAT_INDEX[name]::_NF]
        return self.ints[_INT_INDEX[name]::_NI]

    def field(self, name: str, indices: Iterable[int]) -> list[Any]:
        """The ``name`` (a field of FLOATS or INTS) of the tests at ``indices``, as they recorded it."""
        self._pack()
        if name in self._odd:
            return [self.value(name, i) for i in indices]
        column = self.column(name)
        if self._every_test(indices):
            return column.tolist()
        return [column[i] for i in indices]


def _typed(calls: Sequence[Any], total_ms: Sequence[Any], max_ms: Sequence[Any]) -> bool:
    """Whether statements' numbers are what a test's log gives: int calls (exact as floats), finite float ms."""
    return (set(map(type, calls)) <= {int} and set(map(type, total_ms)) | set(map(type, max_ms)) <= {float}
            and max(map(abs, calls)) <= 2**53 and math.isfinite(sum(total_ms) + sum(max_ms)))
