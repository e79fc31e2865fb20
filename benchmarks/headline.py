"""README's headline table, composed from the tables the benchmarks wrote (docs/measured/): floor.py, startup.py
and watch_latency.py. Rewrites the table between README's headline markers; tests/test_docs_reference.py checks
that README holds what this script would write.

    python benchmarks/headline.py
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BEGIN = "<!-- headline: begin (written by python benchmarks/headline.py from docs/measured/) -->"
END = "<!-- headline: end -->"


def rows(name: str) -> list[list[str]]:
    """The data rows of ``docs/measured/<name>.md``, as cells."""
    lines = (ROOT / "docs" / "measured" / f"{name}.md").read_text().splitlines()
    table = [line for line in lines if line.startswith("|")][2:]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in table]


def table() -> str:
    floor_rows = {row[0]: row for row in rows("floor")}
    hand = next(row for name, row in floor_rows.items() if name.startswith("floor:"))[1]
    _, ours, ratio, *_ = floor_rows["python -m tddkit run (report printed)"]
    (_, floor, _), (_, embedded, embedded_ratio), (_, dsn, dsn_ratio) = rows("startup")
    module, _, cold, _ = rows("watch_latency")
    lines = [
        "| what | tddkit | baseline | ratio | target |",
        "|---|---|---|---|---|",
        f"| per test, whole process (`benchmarks/floor.py`) | {ours} ms | {hand} ms: a hand-written `unittest` suite "
        f"on one connection, `SAVEPOINT` per class, tddkit's per-test round trip | {ratio} | <= 1.05x |",
        f"| a one-test module, embedded server, warm cache (`benchmarks/startup.py`) | {embedded} ms | {floor} ms: "
        f'`python -c "import psycopg"` | {embedded_ratio} | <= 2.5x |',
        f"| a one-test module, `--dsn` (same run) | {dsn} ms | {floor} ms | {dsn_ratio} | <= 1.5x |",
        f"| `watch`: save -> closing line, 10 database tests (`benchmarks/watch_latency.py`) | {module[1]} | "
        f"{cold[1]}: a cold `python -m tddkit run` of the module | {module[2]} | <= 150 ms and <= 0.3x |",
    ]
    return "\n".join(lines)


def rewritten(readme: str) -> str:
    """``readme`` with the table between the markers replaced by ``table()``."""
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{table()}\n{END}{tail}"


def main() -> None:
    README.write_text(rewritten(README.read_text()))
    print(f"headline table written to {README}")


if __name__ == "__main__":
    main()
