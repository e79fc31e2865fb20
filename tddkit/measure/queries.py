"""Statement shapes, statement statistics per test, and N+1 detection (the run's: ``reporting.statements``).

A statement's *shape* is its SQL text with literals and parameters replaced
by ``?``, lists of them folded to ``(...)``, comments dropped and whitespace
collapsed: ``SELECT * FROM users WHERE id = 7`` and ``... WHERE id = %s`` share
the shape ``SELECT * FROM users WHERE id = ?``. While a test runs, its
connection hands every statement to the test's ``StatementLog``: calls, time
and the longest run per shape. Shapes are cached by query text, so a
parametrised statement costs a dictionary lookup or two. A shape run at least
``repeated_query_threshold`` times by one test's body (an N+1 pattern: one
query per row of an earlier result) is reported with the application line that
issued it. Statements of setUp, tearDown and fixtures count in the statistics
but are no N+1 (what a fixture repeats is not the code under test), nor are
catalog lookups (``pg_catalog``, ``information_schema``: SQLAlchemy checks each
table before it creates or drops it). Memory stays bounded: a test keeps at
most ``MAX_SHAPES_PER_TEST`` shapes, the rest count as ``OTHER``; long
statements are cut to ``MAX_SHAPE_CHARS``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from .frames import LIBRARY_PREFIXES, first_outside
from .warn import performance_warning

#: The shape that stands for every statement beyond a test's MAX_SHAPES_PER_TEST.
OTHER = "(other statements)"
MAX_SHAPES_PER_TEST = 100
#: Statements a test's log keeps unsummed, with N+1 detection off (with it on: the threshold's number).
PENDING_LIMIT = 50
MAX_SHAPE_CHARS = 1000
#: Query texts whose shape is remembered (the cache starts over when full); longer texts are not cached.
_CACHE_SIZE = 10_000
_CACHE_TEXT_LIMIT = 2_000
#: Severity of an N+1 alert: ``warning`` up to this many times the threshold, ``critical`` beyond.
CRITICAL_FACTOR = 1.5

_TOKENS = re.compile(r"""
    (?P<ident> "(?:[^"]|"")*(?:"|\Z) )
  | (?P<literal>
        (?<![\w$]) (?: [eE]'(?:[^'\\]|''|\\.)* | (?:[bBxXnN]|[uU]&)?'(?:[^']|'')* ) (?:'|\Z)
      | \$(?P<tag>(?:[^\W\d]\w*)?)\$ .*? (?:\$(?P=tag)\$|\Z)
      | %\(\w+\)[sbt] | %[sbt] | (?<![\w$])\$\d+
      | (?<![\w$.]) (?:\d+(?:\.\d*)?|\.\d+) (?:[eE][-+]?\d+)? (?![\w$]) )
  | (?P<space> (?: \s | --[^\n]* | /\*.*?(?:\*/|\Z) )+ )
""", re.VERBOSE | re.DOTALL)
#: What a statement that reads the system catalogs names: a relation or function of ``pg_catalog`` or
#: ``information_schema`` (qualified), or a ``pg_*`` relation (``FROM pg_type``: pg_catalog is always on the path).
_CATALOG = re.compile(r"""(?<![\w$]) "?(?:pg_catalog|information_schema)"? \s*\.
                        | \b(?:FROM|JOIN) \s+ "?pg_""", re.IGNORECASE | re.VERBOSE)
_LIST = re.compile(r"\( ?\?(?: ?, ?\?)* ?\)")
_ROWS = re.compile(r"\(\.\.\.\)(?: ?, ?\(\.\.\.\))+")

_shapes: dict[Any, str] = {}


def _token(match: re.Match[str]) -> str:
    kind = match.lastgroup
    if kind == "literal":
        return "?"
    if kind == "ident":
        return match.group(0)
    return " "  # a run of whitespace and comments


def normalise(text: str) -> str:
    """The shape of a SQL text (never fails, whatever the text: it need not be valid SQL)."""
    shape = _TOKENS.sub(_token, text[:4 * MAX_SHAPE_CHARS]).strip().rstrip(";").rstrip()
    shape = _ROWS.sub("(...), ...", _LIST.sub("(...)", shape))
    return shape if len(shape) <= MAX_SHAPE_CHARS else shape[:MAX_SHAPE_CHARS] + " …"


def statement_text(query: Any, conn: Any = None) -> str:
    """The SQL text of a query as given to a cursor: str, bytes or a ``psycopg.sql`` object."""
    if isinstance(query, str):
        return query
    if isinstance(query, (bytes, bytearray, memoryview)):
        return bytes(query).decode("utf-8", "replace")
    as_string = getattr(query, "as_string", None)
    if as_string is not None:
        try:
            return str(as_string(conn))
        except Exception:  # a value psycopg cannot adapt: the execute call reports it
            pass
    return str(query)


def shape_of(query: Any, conn: Any = None) -> str:
    """The shape of ``query``, cached by the query (str, bytes) or by its text (``psycopg.sql`` objects, which
    are not hashable: composing one is a tenth of normalising it)."""
    try:
        return _shapes[query]
    except (KeyError, TypeError):  # not seen yet, or not hashable
        pass
    text = statement_text(query, conn)
    shape = _shapes.get(text)
    if shape is None:
        shape = normalise(text)
    for key in {query, text} if isinstance(query, bytes) else {text}:  # a str query is its text
        if len(key) <= _CACHE_TEXT_LIMIT:
            if len(_shapes) >= _CACHE_SIZE:
                _shapes.clear()
            _shapes[key] = shape
    return shape


def reads_catalog(shape: str) -> bool:
    """Whether a statement reads the system catalogs (``pg_catalog``, ``information_schema``): a lookup of
    the schema, never an N+1 of the application's data."""
    return _CATALOG.search(shape) is not None


def severity(calls: int, threshold: int) -> str:
    """``warning`` up to CRITICAL_FACTOR times the threshold, ``critical`` beyond."""
    return "warning" if calls <= CRITICAL_FACTOR * threshold else "critical"


class QueryCapture:
    """The statements run on a connection while a ``capture_queries()`` block was open."""

    def __init__(self) -> None:
        #: (SQL text, seconds) of each statement, in order.
        self.statements: list[tuple[str, float]] = []

    def __len__(self) -> int:
        return len(self.statements)

    def listing(self, limit: int = 200) -> str:
        """The statements as numbered lines (each cut to ``limit`` characters), or ``(none)``."""
        lines = [f"  {i}. {text.strip()[:limit]}" for i, (text, _) in enumerate(self.statements, 1)]
        return "\n".join(lines) or "  (none)"


class StatementLog:
    """The statements of one running test, by shape: calls, seconds, longest, and where repeats came from.

    ``threshold``: calls of one shape by the test's body that make it a repeated statement (0: detection off). Until
    a test has run that many statements (``PENDING_LIMIT`` with detection off; at most MAX_SHAPES_PER_TEST) none can be
    repeated yet: they are kept as they came and summed by shape when the statistics are read (after the test, while
    the server rolls it back), or once there are that many.
    """

    __slots__ = ("threshold", "in_body", "_entries", "_repeated", "_pending", "_limit")

    def __init__(self, threshold: int = 0) -> None:
        #: True while the test's body runs: only its statements can be repeated statements.
        self.in_body = False
        #: shape -> [calls, seconds, longest seconds, (file, line, function) of the body's call that hit the
        #: threshold (None for a catalog lookup), calls by the body]
        self._entries: dict[str, list[Any]] = {}
        #: Whether a shape reached the threshold (most tests repeat nothing: ``repeated`` then looks at none).
        self._repeated = False
        #: The statements not summed by shape yet: (query text, seconds, run by the body); None once summed.
        self._pending: list[tuple[str | bytes, float, bool]] | None = []
        self.watch(threshold)

    def watch(self, threshold: int) -> None:
        """Set the N+1 threshold (before the test's first statement)."""
        self.threshold = threshold
        self._limit = min(threshold or PENDING_LIMIT, MAX_SHAPES_PER_TEST)

    def note(self, query: Any, elapsed: float, conn: Any = None) -> None:
        """Count one statement of the test (called by the connection for each statement)."""
        pending = self._pending
        if pending is not None:
            kind = type(query)
            if kind is str or kind is bytes:
                pending.append((query, elapsed, self.in_body))
                if len(pending) >= self._limit:
                    self._sum_pending()
                return
            self._sum_pending()
        self._count(query, elapsed, conn, self.in_body)

    def _sum_pending(self) -> None:
        """Sum the statements kept as they came; count by shape from now on."""
        pending, self._pending = self._pending, None
        for query, elapsed, in_body in pending or ():
            self._count(query, elapsed, None, in_body)

    def _count(self, query: Any, elapsed: float, conn: Any, in_body: bool) -> None:
        try:
            shape = _shapes[query]
        except (KeyError, TypeError):
            shape = shape_of(query, conn)
        entry = self._entries.get(shape)
        if entry is None:
            entry = self._entry(shape)
        entry[0] += 1
        entry[1] += elapsed
        if elapsed > entry[2]:
            entry[2] = elapsed
        if in_body:
            entry[4] += 1
            if entry[4] == self.threshold:
                entry[3] = None if reads_catalog(shape) else _issuer()
                self._repeated = True

    def _entry(self, shape: str) -> list[Any]:
        entries = self._entries
        if len(entries) >= MAX_SHAPES_PER_TEST:
            shape = OTHER
        return entries.setdefault(shape, [0, 0.0, 0.0, None, 0])

    def statements(self) -> tuple[tuple[str, int, float, float], ...]:
        """(shape, calls, total ms, longest ms) of every shape, in order of first call."""
        if self._pending is not None:  # nothing summed yet
            return _summed(self._pending)
        return tuple([(shape, e[0], e[1] * 1000, e[2] * 1000) for shape, e in self._entries.items()])

    def repeated(self) -> tuple[dict[str, Any], ...]:
        """The shapes the test's body ran at least ``threshold`` times (catalog lookups aside), with the
        application line that issued them."""
        if not self._repeated:
            return ()
        found = []
        for shape, (_, _, _, where, calls) in self._entries.items():
            if calls >= self.threshold and where is not None and shape != OTHER:
                file, line, function = where
                found.append({"statement": shape, "calls": calls, "threshold": self.threshold,
                              "severity": severity(calls, self.threshold), "file": file, "line": line,
                              "function": function})
        return tuple(found)


def _summed(pending: list[tuple[str | bytes, float, bool]]) -> tuple[tuple[str, int, float, float], ...]:
    """``StatementLog.statements`` of a test whose statements are all pending: fewer than the N+1 threshold and
    than MAX_SHAPES_PER_TEST, so summing them by shape is all there is to do (the common case, told in one loop)."""
    sums: dict[str, list[Any]] = {}
    shapes = _shapes
    for query, elapsed, _ in pending:
        shape = shapes.get(query) or shape_of(query)
        entry = sums.get(shape)
        if entry is None:
            sums[shape] = [1, elapsed, elapsed]
        else:
            entry[0] += 1
            entry[1] += elapsed
            if elapsed > entry[2]:
                entry[2] = elapsed
    return tuple([(shape, calls, total * 1000, longest * 1000) for shape, (calls, total, longest) in sums.items()])


def _issuer() -> tuple[str, int, str]:
    """File, line and function of the application code running the current statement."""
    frame, _ = first_outside(LIBRARY_PREFIXES)
    if frame is None:
        return "?", 0, "?"
    return frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name


# --- turning detection off, reporting what it found ---------------------------------------

_MARK = "tddkit_allow_repeated_queries"


def allow_repeated_queries(target: Any) -> Any:
    """Turn N+1 detection off for a test method, or every test of a class (the class attribute
    ``allow_repeated_queries = True`` does the same)."""
    setattr(target, _MARK, True)
    return target


def repeated_queries_allowed(*owners: Any) -> bool:
    """Whether any of ``owners`` (a test function or method, its class) turned N+1 detection off."""
    for owner in owners:  # a loop, not any(): this runs for every test
        if getattr(owner, _MARK, False) or (isinstance(owner, type) and
                                            getattr(owner, "allow_repeated_queries", False) is True):
            return True
    return False


def repeated_message(test_id: str, found: dict[str, Any]) -> str:
    """The alert of one repeated statement: what, how often, where from, and what to do."""
    calls, threshold = found["calls"], found["threshold"]
    return (f"{found['severity']}: n_plus_one: one statement ran {calls} times in {test_id} "
            f"(repeated_query_threshold {threshold}, {calls / threshold:.2f}x), issued at "
            f"{found['file']}:{found['line']} in {found['function']}: {found['statement'][:200]}. "
            "Fetch the rows in one statement (a join, or WHERE id = ANY(%s)), or mark the test "
            "@tddkit.allow_repeated_queries")


def alert_repeated(test_id: str, repeated: Sequence[dict[str, Any]], *, as_failure: bool) -> str | None:
    """Warn (``PerformanceWarning`` at the application line, never raised) about each repeated statement; with
    ``as_failure``, return the messages to fail the test with instead."""
    messages = [repeated_message(test_id, found) for found in repeated]
    if as_failure:
        return "\n".join(messages) or None
    for found, message in zip(repeated, messages, strict=True):
        performance_warning(message, found["file"], found["line"])
    return None
