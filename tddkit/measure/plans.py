"""Query plans in tests: EXPLAIN inside a rolled-back savepoint, and which indexes and scans a plan uses.

Shared by TDDTestCase's ``explain`` / ``assertUsesIndex`` / ``assertNoSeqScan``
and the pytest fixture ``tddkit_queries``: the connection is the test's
GuardedConnection (``tddkit.isolation.connection``).

Everything runs inside a savepoint that is rolled back, so a planned (or, with
``analyze``, executed) write leaves nothing behind, and settings changed for
the plan (``SET LOCAL``) end with it. tddkit's statements here are its own:
not counted, not in the test's statement statistics.

The index checks answer "would this query use the index on a realistic
table?". A test table of a few rows fits in one page, and for it the planner
rightly prefers a sequential scan; so the checks plan the query with
sequential scans discouraged (``enable_seqscan = off``). Then a scan that
still reads the whole table is a real finding: a ``Seq Scan`` (no index can
serve the query), or a scan of a whole index without an index condition
(what the planner falls back to when sequential scans are off), unless it
only reads the first rows for a ``LIMIT``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from psycopg import sql

_SAVEPOINT = b"SAVEPOINT tddkit_explain"
_UNDO = b"ROLLBACK TO SAVEPOINT tddkit_explain; RELEASE SAVEPOINT tddkit_explain"
_DISCOURAGE = b"SET LOCAL enable_seqscan = off"

#: Plan nodes that read an index, with the key holding their index name.
INDEX_NODES = ("Index Scan", "Index Only Scan", "Bitmap Index Scan")

Plan = dict[str, Any]


class Guarded(Protocol):
    """The test's connection, a ``tddkit.isolation.connection.GuardedConnection``: its state runs tddkit's own
    statements (not counted)."""

    _tddkit: Any


def _explain_statement(query: Any, options: str) -> sql.Composed:
    if isinstance(query, (bytes, bytearray)):
        query = bytes(query).decode()
    body = query if isinstance(query, sql.Composable) else sql.SQL(query)
    return sql.SQL("EXPLAIN ({}) ").format(sql.SQL(options)) + body


def explain(conn: Guarded, query: Any, params: Any = None, *, analyze: bool = False,
            discourage_seqscan: bool = False, text: bool = False) -> Any:
    """PostgreSQL's plan of ``query``: the JSON document's top object (``{"Plan": {...}, ...}``), or with
    ``text`` the plan as EXPLAIN prints it. Runs in a savepoint that is rolled back."""
    options = ("ANALYZE, " if analyze else "") + ("FORMAT TEXT" if text else "FORMAT JSON")
    conn._tddkit.run_internal(_SAVEPOINT)
    try:
        cursor = conn._tddkit.internal_cursor()
        if discourage_seqscan:
            cursor.execute(_DISCOURAGE, prepare=False)
        cursor.execute(_explain_statement(query, options), params, prepare=False)
        rows = cursor.fetchall()
    finally:
        if not conn._tddkit.lost:
            conn._tddkit.run_internal(_UNDO)
    if text:
        return "\n".join(row[0] for row in rows)
    document = rows[0][0]
    return document[0] if isinstance(document, list) else document


def nodes(plan: Plan) -> Iterator[tuple[Plan, tuple[Plan, ...]]]:
    """Every node of a plan (the ``Plan`` of ``explain``'s result, or a node) with its ancestors."""
    stack: list[tuple[Plan, tuple[Plan, ...]]] = [(plan.get("Plan", plan), ())]
    while stack:
        node, above = stack.pop()
        yield node, above
        stack.extend((child, (*above, node)) for child in reversed(node.get("Plans", ())))


def _relation(node: Plan, above: tuple[Plan, ...]) -> str | None:
    """The table a scan node reads (a bitmap index scan's is on the Bitmap Heap Scan above it)."""
    if "Relation Name" in node:
        return str(node["Relation Name"])
    heap = next((n for n in reversed(above) if n.get("Node Type") == "Bitmap Heap Scan"), None)
    return heap.get("Relation Name") if heap else None


def _searches(node: Plan, above: tuple[Plan, ...]) -> bool:
    """An index node that finds rows through the index: an index condition, or an ordered read of the first
    rows under a LIMIT (no filter)."""
    if "Index Cond" in node:
        return True
    return node["Node Type"] != "Bitmap Index Scan" and "Filter" not in node and \
        any(n.get("Node Type") == "Limit" for n in above)


def index_scans(plan: Plan) -> list[tuple[str, str | None, bool]]:
    """(index name, table, finds rows through the index) of every node reading an index."""
    return [(node.get("Index Name", "?"), _relation(node, above), _searches(node, above))
            for node, above in nodes(plan) if node.get("Node Type") in INDEX_NODES]


def full_scans(plan: Plan, table: str) -> list[str]:
    """How the plan reads all of ``table`` (a bare or schema-qualified name): its Seq Scans and scans of a
    whole index, as 'Seq Scan' / 'Index Scan using <index> (no index condition)'."""
    name = table.rsplit(".", 1)[-1].strip('"')
    found = []
    for node, above in nodes(plan):
        kind = node.get("Node Type")
        if _relation(node, above) != name:
            continue
        if kind == "Seq Scan":
            found.append("Seq Scan")
        elif kind in INDEX_NODES and not _searches(node, above):
            found.append(f"{kind} using {node.get('Index Name')} (no index condition)")
    return found


def uses_index_failure(conn: Guarded, query: Any, params: Any, index_name: str) -> str | None:
    """Why ``query`` would not use ``index_name`` to find its rows (sequential scans discouraged), or None."""
    plan = explain(conn, query, params, discourage_seqscan=True)
    scans = index_scans(plan)
    if any(name == index_name and searches for name, _, searches in scans):
        return None
    used = ", ".join(f"{name}{'' if searches else ' (whole index, no index condition)'}"
                     for name, _, searches in scans) or "none"
    return (f"the query does not use index {index_name!r} to find its rows, even with sequential scans "
            f"discouraged; indexes it reads: {used}\n{_plan_text(conn, query, params)}")


def seq_scan_failure(conn: Guarded, query: Any, params: Any, table: str) -> str | None:
    """Why ``query`` would read all of ``table`` (sequential scans discouraged), or None."""
    scans = full_scans(explain(conn, query, params, discourage_seqscan=True), table)
    if not scans:
        return None
    return (f"the query reads all of table {table!r} even with sequential scans discouraged ({', '.join(scans)}): "
            f"no index serves its conditions on that table\n{_plan_text(conn, query, params)}")


def _plan_text(conn: Guarded, query: Any, params: Any) -> str:
    """The plan as EXPLAIN prints it, indented, under a heading."""
    text = explain(conn, query, params, discourage_seqscan=True, text=True)
    return "Plan (enable_seqscan = off):\n" + "\n".join(f"  {line}" for line in text.splitlines())
