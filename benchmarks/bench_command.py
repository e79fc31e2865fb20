"""``python -m tddkit bench`` as the docs show it: runs the command and writes its printed tables as a fragment.

    python benchmarks/bench_command.py [bench options, e.g. --iterations 50]
"""

from __future__ import annotations

import datetime
import subprocess
import sys

from _project import FRAGMENTS, machine


def main() -> None:
    done = subprocess.run([sys.executable, "-m", "tddkit", "bench", *sys.argv[1:]], capture_output=True, text=True)
    sys.stdout.write(done.stdout)
    sys.stderr.write(done.stderr)
    if done.returncode != 0:
        raise SystemExit(done.returncode)
    server = next((line for line in done.stderr.splitlines() if "PostgreSQL" in line), "")
    version = server.split("PostgreSQL ", 1)[1].split()[0] if server else ""
    command = " ".join(["python -m tddkit bench", *sys.argv[1:]])
    text = (f"```text\n{done.stdout.strip()}\n```\n\n*`{command}` (through `python benchmarks/bench_command.py`), "
            f"{datetime.date.today().isoformat()}, {machine(version)}; times in ms.*\n")
    FRAGMENTS.mkdir(parents=True, exist_ok=True)
    (FRAGMENTS / "bench_command.md").write_text(text)
    print(f"output written to {FRAGMENTS / 'bench_command.md'}")


if __name__ == "__main__":
    main()
