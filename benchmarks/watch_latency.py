"""Save-to-result latency of `python -m tddkit watch` vs a cold `python -m tddkit run` of the same module.

Writes a throwaway project: a module of 10 database tests (INSERT + COUNT,
each also calling a function of app.py). Starts `python -m tddkit watch` on
it (the embedded server, as users run it), then, round by round: saves the
test module and times until watch prints its closing line; saves app.py
(imported by the module) and times the same; and runs `python -m tddkit run`
of the module in a fresh process (the embedded default, warm cache) and with
`--dsn` (a server this script starts), timing the whole command. Medians of
every kind, measured side by side in one run.

    python benchmarks/watch_latency.py [--rounds 10]
"""

from __future__ import annotations

import argparse
import os
import queue
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import tddkit  # noqa: E402  (this checkout's)
from tddkit.config.settings import load_settings  # noqa: E402

from _project import make_project, server_version, timed, write_fragment  # noqa: E402

TESTS = 10
CLOSING = re.compile(r"^tddkit: \d+ passed, \d+ failed")


def test_module(round_no: int) -> str:
    body = f"# save {round_no}\nimport tddkit\nfrom app import value\n\n\nclass Items(tddkit.TDDTestCase):\n"
    for i in range(TESTS):
        body += (f"    def test_{i}(self):\n"
                 f"        self.conn.execute(\"INSERT INTO items (name) VALUES ('x')\")\n"
                 f"        self.assertEqual(self.conn.execute('SELECT count(*) FROM items').fetchone()[0], 1)\n"
                 f"        self.assertEqual(value(), 1)\n\n")
    return body


class Watcher:
    """``python -m tddkit watch`` on the project; its output lines arrive on a queue with their time."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "tddkit", "watch", "tests/test_items.py"], cwd=root,
                                        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: queue.Queue[tuple] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.dsn = ""
        while True:
            line = self.next_line(120)
            if line.startswith("tddkit: watching "):
                break

    def _read(self) -> None:
        for line in self.process.stdout:  # type: ignore[union-attr]
            self.lines.put((time.perf_counter(), line.rstrip("\n")))

    def next_line(self, timeout: float = 30) -> str:
        return self.until(lambda line: True, timeout)[1]

    def until(self, wanted, timeout: float = 30) -> tuple:
        while True:
            try:
                at, line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise SystemExit("watch went quiet:\n" + "\n".join(self.output[-40:])) from None
            self.output.append(line)
            if wanted(line):
                return at, line

    def save_and_time(self, path: Path, text: str) -> float:
        """Write ``path`` and return the seconds until the closing line of the run it starts."""
        path.write_text(text)
        saved = time.perf_counter()
        at, line = self.until(lambda line: bool(CLOSING.match(line)))
        if ", 0 failed" not in line:
            raise SystemExit("a test failed under watch:\n" + "\n".join(self.output[-40:]))
        time.sleep(0.3)  # let the run's child finish its bookkeeping before the next save
        return at - saved

    def stop(self) -> None:
        self.process.send_signal(2)
        self.process.wait(60)


def cold_run(root: Path, env: dict[str, str], *extra: str) -> float:
    return timed([sys.executable, "-m", "tddkit", "run", "tests/test_items.py", "-q", "--no-report", *extra],
                 root, env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    for variable in ("TDDKIT_DATABASE_URL", "DATABASE_URL", "PYTHONDONTWRITEBYTECODE"):  # as users run it
        env.pop(variable, None)
    with tempfile.TemporaryDirectory(prefix="tddkit-watch-latency-") as tmp:
        root = Path(tmp)
        make_project(root)
        (root / "app.py").write_text("def value():\n    return 1\n")
        (root / "tests").mkdir()
        (root / "tests" / "__init__.py").write_text("")
        (root / "tests" / "test_items.py").write_text(test_module(0))
        cold_run(root, env)  # build the schema snapshot once, so every cold run below starts warm
        server_dsn = tddkit.get_session(load_settings(targets=[tmp])).server_dsn  # for the --dsn runs
        version = server_version(server_dsn)
        watcher = Watcher(root, env)
        samples: dict[str, list[float]] = {"module": [], "app": [], "cold": [], "cold_dsn": []}
        try:
            for round_no in range(1, args.rounds + 1):
                samples["module"].append(watcher.save_and_time(root / "tests" / "test_items.py",
                                                               test_module(round_no)))
                samples["cold"].append(cold_run(root, env))
                samples["app"].append(watcher.save_and_time(root / "app.py",
                                                            f"def value():\n    return 1  # save {round_no}\n"))
                samples["cold_dsn"].append(cold_run(root, env, "--dsn", server_dsn))
        finally:
            watcher.stop()
            tddkit.close_session()
    report(samples, args.rounds, version)


def report(samples: dict[str, list[float]], rounds: int, version: str) -> None:
    median = {kind: statistics.median(values) for kind, values in samples.items()}
    print(f"save-to-closing-line latency of watch vs a cold run, a module of {TESTS} database tests; medians of "
          f"{rounds} rounds, alternating, one run; {os.cpu_count()} CPUs")
    print("| measurement | median | vs cold run |")
    print("|---|---|---|")
    rows = [("watch: save the test module -> closing line", "module"),
            ("watch: save app.py (imported by the module) -> closing line", "app"),
            ("cold `python -m tddkit run tests/test_items.py` (embedded server, warm cache)", "cold"),
            ("cold `python -m tddkit run tests/test_items.py --dsn URL` (running server)", "cold_dsn")]
    for label, kind in rows:
        print(f"| {label} | {median[kind] * 1000:.0f} ms | {median[kind] / median['cold']:.2f}x |")
    worst = max(median["module"], median["app"])
    write_fragment("watch_latency", ["measurement", "median", "vs cold run"],
                   [[label, f"{median[kind] * 1000:.0f} ms", f"{median[kind] / median['cold']:.2f}x"]
                    for label, kind in rows],
                   f"a module of {TESTS} database tests, watch on the embedded server, medians of {rounds} rounds "
                   f"side by side in one run; targets: at most 150 ms and 0.3x of the cold run "
                   f"({worst * 1000:.0f} ms, {worst / median['cold']:.2f}x)", version)
    print(f"target: at most 150 ms: {'met' if worst <= 0.150 else 'MISSED'} ({worst * 1000:.0f} ms); "
          f"at most 0.3x of the cold run: {'met' if worst <= 0.3 * median['cold'] else 'MISSED'} "
          f"({worst / median['cold']:.2f}x; {worst / median['cold_dsn']:.2f}x of the --dsn run)")


if __name__ == "__main__":
    main()
