"""Every test's metrics of a run in compact columns, read back as TestMetrics.

A run of 20,000 tests keeps no per-test objects but its test ids: each
TestMetrics is packed into typed arrays when its test ends (about 250 bytes
for a test with two statement shapes, its id included) and rebuilt on demand
(``records[i]``, iteration), so the report, the baseline and the durations read
the same data a list of TestMetrics held. Fields most tests leave empty (resources, custom
metrics, memory snapshots, allocation sites, repeated statements) are kept
only for the tests that have them.
"""

from __future__ import annotations

import operator
from array import array
from collections.abc import Iterable, Iterator, Sequence
from itertools import chain
from typing import Any, overload

from .metrics import ClassMetrics, TestMetrics
from .record_queries import _CODES, OUTCOMES, TESTS_PER_SHAPE, RecordQueries, _tally

__all__ = ["OUTCOMES", "SPARSE", "TESTS_PER_SHAPE", "RunRecords"]

#: TestMetrics' float fields (one array holds them, a test's after another's).
FLOATS = ("connection_ms", "setup_ms", "body_ms", "cleanup_ms", "total_ms", "query_ms", "resource_wait_ms")
#: Its integer fields.
INTS = ("query_count", "rss_before", "rss_after")
_NF, _NI = len(FLOATS), len(INTS)
_FLOAT_INDEX = {name: k for k, name in enumerate(FLOATS)}
_INT_INDEX = {name: k for k, name in enumerate(INTS)}
#: Tests whose FLOATS and INTS wait as tuples before they are packed into the arrays, all at once.
ROWS_PER_PACK = 256
_FLOAT_PART, _INT_PART = operator.itemgetter(slice(0, _NF)), operator.itemgetter(slice(_NF, None))
#: Its sequence fields that most tests leave empty.
SPARSE = ("resources", "custom", "memory_snapshots", "allocations", "repeated_statements")


class RunRecords(RecordQueries, Sequence[TestMetrics]):
    """The TestMetrics of a run, in the order their tests ended (the report's queries: ``RecordQueries``)."""

    def __init__(self, tests: Iterable[TestMetrics] = ()) -> None:
        self.ids: list[str] = []
        self.outcomes = bytearray()
        #: FLOATS and INTS of every test, one row after another (``floats`` and ``ints``, once ``_rows`` is packed).
        self._floats = array("d")
        self._ints = array("q")
        #: FLOATS and INTS of the last tests, not packed yet (at most ROWS_PER_PACK).
        self._rows: list[tuple[Any, ...]] = []
        #: Each test's class record as an index into ``classes`` (-1: none); classes in order of first use.
        self.class_index = array("i")
        self.classes: list[ClassMetrics] = []
        self._class_ids: dict[int, int] = {}
        #: Statement statistics: shapes by number, and per statement (in test order) its shape's number and its
        #: calls, ms and longest ms; ``statement_end[i]`` is where test i's statements end.
        self.shapes: list[str] = []
        self._shape_ids: dict[str, int] = {}
        self.statement_end = array("l")
        self.statement_shape = array("i")
        self.statement_numbers = array("d")
        #: Per shape number, summed as tests are added: [calls, ms, longest ms, tests, the first TESTS_PER_SHAPE
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
        """Keep ``tm`` (a copy: later changes to it are not seen)."""
        index = len(self.ids)
        self.ids.append(tm.test_id)
        rows = self._rows
        rows.append((tm.connection_ms, tm.setup_ms, tm.body_ms, tm.cleanup_ms, tm.total_ms, tm.query_ms,
                     tm.resource_wait_ms, tm.query_count, tm.rss_before, tm.rss_after))
        if len(rows) >= ROWS_PER_PACK:
            self._pack()
        code = _CODES.get(tm.outcome)
        if code is None:
            self._extras.setdefault(index, {})["outcome"] = tm.outcome
            code = 0
        self.outcomes.append(code)
        cm = tm.class_metrics
        if cm is None:
            self.class_index.append(-1)
        else:
            position = self._class_ids.get(id(cm))
            if position is None:
                position = self._class_ids[id(cm)] = len(self.classes)
                self.classes.append(cm)
            self.class_index.append(position)
        if tm.statements:
            self._add_statements(index, tm.statements)
        self.statement_end.append(len(self.statement_shape))
        if tm.resources or tm.custom or tm.memory_snapshots or tm.allocations or tm.repeated_statements:
            extra = self._extras.setdefault(index, {})
            extra.update((name, getattr(tm, name)) for name in SPARSE if getattr(tm, name))

    def _pack(self) -> None:
        """Move the rows waiting in ``_rows`` (if any) into the arrays: all at once when every value is of its type
        (the common case), else row by row (``_pack_odd``). Every reader of the arrays and ``extras`` calls it first."""
        if not self._rows:
            return
        rows, self._rows = self._rows, []
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
        first = len(self.ids) - len(rows)
        for index, values in enumerate(rows, first):
            self._pack_odd(index, values)

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

    def _add_statements(self, index: int, statements: Sequence[tuple[str, int, float, float]]) -> None:
        shape_ids, shapes, numbers, totals = (self._shape_ids, self.statement_shape, self.statement_numbers,
                                              self.shape_totals)
        for statement in statements:
            shape, calls, total_ms, max_ms = statement
            if type(calls) is not int or type(total_ms) is not float or type(max_ms) is not float or \
                    abs(calls) > 2**53:  # numbers of other types (a hand-made record): kept as they are
                del shapes[self.statement_end[-1] if self.statement_end else 0:]
                del numbers[3 * len(shapes):]
                self._extras.setdefault(index, {})["statements"] = statements
                self.statements_kept += 1
                return
            shape_id = shape_ids.get(shape)
            if shape_id is None:
                shape_id = shape_ids[shape] = len(self.shapes)
                self.shapes.append(shape)
                totals.append([0, 0.0, 0.0, 0, []])
            shapes.append(shape_id)
            numbers.extend(statement[1:])
            _tally(totals[shape_id], calls, total_ms, max_ms, index)

    # --- reading ----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.ids)

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
