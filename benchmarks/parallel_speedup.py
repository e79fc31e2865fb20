"""Serial vs --parallel 2 vs --parallel 4 on a suite whose tests wait on the database.

Writes a throwaway suite of 200 tests (20 classes x 10 tests, each running
SELECT pg_sleep(0.01)), runs it with `python -m tddkit run` at each worker
count (rounds alternate), and prints median wall times and speedups: the
suite's own wall time (from --json) and the whole command's.

    python benchmarks/parallel_speedup.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _project import write_fragment  # noqa: E402

CLASS = '''
class Waits{n}(tddkit.TDDTestCase):
''' + "".join(f'''
    def test_{i}(self):
        self.conn.execute("SELECT pg_sleep(0.01)")
''' for i in range(10))


def run(suite_dir: str, workers: int) -> tuple:
    out = os.path.join(suite_dir, "out.json")
    args = [sys.executable, "-m", "tddkit", "run", suite_dir, "-q", "--no-report", "--json", out]
    if workers > 1:
        args += ["--parallel", str(workers)]
    env = {**os.environ, "TDDKIT_DURATIONS_FILE": os.path.join(suite_dir, "durations.json")}
    started = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True, env=env)
    whole = time.perf_counter() - started
    with open(out) as fh:
        data = json.load(fh)
    assert data["summary"]["passed"] == 200, data["summary"]
    return data["summary"]["wall_seconds"], whole


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tddkit-parallel-") as suite_dir:
        with open(os.path.join(suite_dir, "test_waits.py"), "w") as fh:
            fh.write("import tddkit\n" + "".join(CLASS.format(n=n) for n in range(20)))
        counts = (1, 2, 4)
        samples = {w: [] for w in counts}
        run(suite_dir, 1)  # records durations for the scheduler
        for _ in range(args.rounds):
            for workers in counts:
                samples[workers].append(run(suite_dir, workers))
    serial = statistics.median(s[0] for s in samples[1])
    serial_whole = statistics.median(s[1] for s in samples[1])
    print(f"200 tests x SELECT pg_sleep(0.01), 20 classes; {os.cpu_count()} CPUs; {args.rounds} rounds, medians")
    print(f"{'workers':>8} {'suite wall s':>13} {'speedup':>8} {'command wall s':>15} {'speedup':>8}")
    for workers in counts:
        suite = statistics.median(s[0] for s in samples[workers])
        whole = statistics.median(s[1] for s in samples[workers])
        print(f"{workers:>8} {suite:>13.3f} {serial / suite:>7.2f}x {whole:>15.3f} {serial_whole / whole:>7.2f}x")
    rows = []
    for workers in counts:
        suite = statistics.median(s[0] for s in samples[workers])
        whole = statistics.median(s[1] for s in samples[workers])
        rows.append(["1 (serial)" if workers == 1 else f"`--parallel {workers}`", f"{suite:.3f} s",
                     f"{serial / suite:.2f}x", f"{whole:.3f} s", f"{serial_whole / whole:.2f}x"])
    write_fragment("parallel_speedup", ["workers", "suite wall time", "speedup", "whole command", "speedup"], rows,
                   f"200 tests in 20 classes, each `SELECT pg_sleep(0.01)`, {args.rounds} rounds alternating, medians")


if __name__ == "__main__":
    main()
