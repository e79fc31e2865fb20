"""How long a one-test run takes, whole process, against ``python -c "import psycopg"`` on the same machine.

Writes a throwaway project with one TDDTestCase test (INSERT + COUNT) and
times, alternating, for several rounds: ``python -c "import psycopg"`` (the
floor any psycopg program pays), ``python -m tddkit run`` of the module on the
embedded default (cache warm: the first, uncounted round builds it), and the
same with ``--dsn`` on a server started here. Prints medians and ratios.

    python benchmarks/startup.py [--rounds 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

import tddkit
from tddkit.config.settings import load_settings

from _project import make_project, server_version, timed, write_fragment

TEST = """import tddkit


class One(tddkit.TDDTestCase):
    def test_insert(self):
        self.conn.execute("INSERT INTO items (name) VALUES ('x')")
        self.assertEqual(self.conn.execute("SELECT count(*) FROM items").fetchone(), (1,))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tddkit-startup-") as tmp:
        root = Path(tmp)
        make_project(root)
        (root / "test_one.py").write_text(TEST)
        session = tddkit.get_session(load_settings(targets=[tmp]))
        env = dict(os.environ)
        run = [sys.executable, "-m", "tddkit", "run", "test_one.py", "-q", "--no-report"]
        commands = {
            'python -c "import psycopg"': [sys.executable, "-c", "import psycopg"],
            "tddkit run, embedded server (warm cache)": run,
            "tddkit run --dsn (running server)": [*run, "--dsn", session.server_dsn],
        }
        for command in commands.values():  # warm the cache and the OS's file cache; not counted
            timed(command, root, env)
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.rounds):
            for name, command in commands.items():
                samples[name].append(timed(command, root, env) * 1000)
        version = server_version(session.server_dsn)
        tddkit.close_session()
    floor = statistics.median(samples['python -c "import psycopg"'])
    print(f"one-test module, whole process; {args.rounds} rounds alternating, medians; {os.cpu_count()} CPUs")
    print(f"{'command':<44} {'ms':>8} {'vs import psycopg':>18}")
    for name, values in samples.items():
        median = statistics.median(values)
        print(f"{name:<44} {median:>8.1f} {median / floor:>17.2f}x")
    write_fragment("startup", ["command", "ms", 'vs `python -c "import psycopg"`'],
                   [[f"`{name}`" if name.startswith("python") else name, f"{statistics.median(values):.0f}",
                     f"{statistics.median(values) / floor:.2f}x"] for name, values in samples.items()],
                   f"a one-test module, whole process, {args.rounds} rounds alternating, medians", version)


if __name__ == "__main__":
    main()
