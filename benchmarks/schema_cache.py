"""Wall time of `python -m tddkit run examples` with a cold vs a warm schema cache.

cold: the schema changed since the last run (a new schema_version each run), so
      the template is built and the snapshot saved;
warm: the schema is unchanged, so the run starts from the cached snapshot and
      executes no DDL.
Both use the same cache directory, alternate, and report medians.

    python benchmarks/schema_cache.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _project import write_fragment  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_examples(env: dict) -> tuple:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "tddkit", "run", "examples", "-q", "--no-report"],
                          cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    wall = (time.perf_counter() - started) * 1000
    session = next(line for line in done.stderr.splitlines() if " ready in " in line)
    tests = int(re.search(r"tddkit: (\d+) passed", done.stderr).group(1))
    version = re.search(r"PostgreSQL ([\d.]+)", session)
    return wall, tests, "built" if " built in " in session else "reused", version.group(1) if version else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tddkit-bench-") as cache:
        os.chmod(cache, 0o755)
        base = {**os.environ, "TDDKIT_CACHE_DIR": cache}
        *_, version = run_examples(base)  # initdb once, like any machine after its first run
        samples = {"cold": [], "warm": []}
        for _ in range(args.rounds):
            wall, tests, how, _ = run_examples({**base, "TDDKIT_SCHEMA_VERSION": uuid.uuid4().hex})
            assert how == "built", how
            samples["cold"].append(wall)
            run_examples(base)  # the unchanged schema's snapshot exists from here on
            wall, tests, how, _ = run_examples(base)
            assert how == "reused", how
            samples["warm"].append(wall)
    print(f"python -m tddkit run examples ({tests} tests), {args.rounds} rounds, medians of the whole run")
    for name, values in samples.items():
        print(f"  {name} schema cache: {statistics.median(values):7.1f} ms")
    write_fragment("schema_cache", ["schema cache", "whole `python -m tddkit run examples`"], [
        ["cold (schema changed: template built, snapshot saved)", f"{statistics.median(samples['cold']):.1f} ms"],
        ["warm (unchanged: snapshot copied, no DDL)", f"{statistics.median(samples['warm']):.1f} ms"],
    ], f"the examples ({tests} tests), embedded server, {args.rounds} rounds alternating, medians", version)


if __name__ == "__main__":
    main()
