"""Command line: ``python -m tddkit run | watch | bench | server``.

Exit codes: 0 all tests passed; 1 a test failed or errored; 2 usage or
configuration error (one line on stderr, no traceback); 3 the tests passed but
the performance gate failed or a regression against the baseline was flagged;
5 no tests found; 128 + the signal when a signal stopped the run (130 SIGINT,
143 SIGTERM, 129 SIGHUP), after ``tddkit: interrupted``.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import sys
from collections.abc import Iterator, Sequence
from typing import NoReturn, TypeAlias

from ..config.paths import DEFAULT_BASELINE_PATH
from ..errors import TddkitError
from ..exit_codes import EXIT_NO_TESTS, EXIT_OK, EXIT_TESTS_FAILED, EXIT_USAGE
from ..session import early_start
from ..testcase import interrupts

__all__ = ["EXIT_NO_TESTS", "EXIT_OK", "EXIT_TESTS_FAILED", "EXIT_USAGE", "build_parser", "main"]

_Commands: TypeAlias = "argparse._SubParsersAction[_Parser]"  # what add_subparsers returns


def _add_target_arguments(parser: argparse.ArgumentParser) -> None:
    """What ``run`` and ``watch`` both take: the targets, ``-k`` and ``-p``."""
    parser.add_argument("targets", nargs="*", metavar="START_DIR|module|file",
                        help="directories to discover, test modules, files or dotted names (default: .)")
    parser.add_argument("-k", dest="name_patterns", action="append", metavar="PATTERN",
                        help="only run tests matching the pattern or substring (repeatable)")
    parser.add_argument("-p", "--pattern", default="test*.py", help="file pattern for discovery (default: test*.py)")


def _add_run_parser(commands: _Commands) -> None:
    run = commands.add_parser("run", help="discover and run tests with the metrics report")
    _add_target_arguments(run)
    run.add_argument("-v", "--verbose", dest="verbosity", action="store_const", const=2, default=1,
                     help="a line per test with its name and outcome")
    run.add_argument("-q", "--quiet", dest="verbosity", action="store_const", const=0,
                     help="no dots or lines per test, only the failures and the closing lines")
    run.add_argument("-f", "--failfast", action="store_true", help="stop on the first failure or error")
    run.add_argument("-b", "--buffer", action="store_true", help="buffer stdout and stderr of passing tests")
    run.add_argument("--dsn", help="use this PostgreSQL server instead of the embedded one")
    run.add_argument("--json", dest="json_path", metavar="FILE", help="write every test's metrics as JSON")
    run.add_argument("--junit-xml", dest="junit_path", metavar="FILE", help="write a JUnit XML report")
    run.add_argument("--html", dest="html_path", metavar="FILE",
                     help="write a self-contained HTML report with charts (the --json document embedded)")
    run.add_argument("--history", dest="history_dir", metavar="DIR",
                     help="add this run's summary to the performance history in DIR (setting history_dir)")
    run.add_argument("--durations", type=int, default=5, metavar="N", help="list the N slowest tests (default 5)")
    run.add_argument("--no-report", dest="show_report", action="store_false", help="do not print the report")
    run.add_argument("--repeat", type=int, default=1, metavar="N",
                     help="run the suite N times (more samples for --save-baseline / --compare)")
    run.add_argument("--save-baseline", nargs="?", const=DEFAULT_BASELINE_PATH, metavar="FILE",
                     help=f"save per-test and aggregate metrics as a baseline (default {DEFAULT_BASELINE_PATH})")
    run.add_argument("--compare", nargs="?", const=DEFAULT_BASELINE_PATH, metavar="FILE",
                     help="compare with a saved baseline; a regression exits with code 3")
    run.add_argument("--gate", action="store_true",
                     help="check the limits in [tool.tddkit.gate]; a failed gate exits with code 3")
    run.add_argument("--trace-memory", action="store_true",
                     help="trace allocations (tracemalloc) and name the lines of tests whose memory grew")
    run.add_argument("--timeout", dest="test_timeout", metavar="SECONDS",
                     help="fail a test that runs longer, with the stack of where it was stuck (setting test_timeout)")
    run.add_argument("--parallel", metavar="N", help="run test classes in N worker processes ('auto': one per CPU)")
    run.add_argument("--shard", metavar="K/N", help="run only the K-th of N duration-balanced shards (CI matrices)")
    run.add_argument("--rebuild-schema", action="store_const", const=True, default=None,
                     help="rebuild the schema template even if the schema is unchanged")


def _add_watch_parser(commands: _Commands) -> None:
    watch = commands.add_parser("watch", help="run the tests, then again on every save (extra tddkit[watch])")
    _add_target_arguments(watch)
    watch.add_argument("--all", dest="run_all", action="store_true",
                       help="re-run every target on each save, not only the test modules importing the saved file")
    watch.add_argument("--dsn", help="use this PostgreSQL server instead of the embedded one")


def _add_bench_parser(commands: _Commands) -> None:
    bench = commands.add_parser("bench", help="benchmark tddkit's per-test costs against other approaches")
    bench.add_argument("--iterations", type=int, metavar="N",
                       help="scale every iteration count so the 50s become N (default: 50; 100 for "
                            "fixture_setup and connection_acquire)")
    bench.add_argument("--json", dest="json_path", metavar="FILE", help="write every number as JSON")
    bench.add_argument("--dsn", help="use this PostgreSQL server instead of the embedded one")
    bench.add_argument("--no-compare", dest="compare", action="store_false",
                       help="skip the traditional, truncate and database-per-test comparisons")


def _add_server_parser(commands: _Commands) -> None:
    server = commands.add_parser("server", help="a PostgreSQL server kept running across runs")
    server.add_argument("action", choices=["start", "stop", "status", "url"],
                        help="start one (also on 127.0.0.1, with a password), stop it, say which binaries and "
                             "whether one runs, or print its URL (exit code 2 if none runs)")


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error and exit code 2 (sub-commands inherit it)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"tddkit: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m tddkit", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="{run,watch,bench,server}")
    _add_run_parser(commands)
    _add_watch_parser(commands)
    _add_bench_parser(commands)
    _add_server_parser(commands)
    return parser


@contextlib.contextmanager
def _no_garbage_collection() -> Iterator[None]:
    """No collection while the block imports; what it imported (modules, classes, functions: alive for the whole
    run) then goes to the collector's permanent generation, so no later collection walks it again (the first full
    one would take about 20 ms)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m tddkit``; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        with _no_garbage_collection():  # importing makes no garbage: collecting during it only costs time
            if args.command == "run":
                early_start.begin(args)  # the server and the session start while the rest imports
            from .commands import HANDLERS  # the command's own imports: --help and bad usage stay instant
        return HANDLERS[args.command](args)
    except TddkitError as exc:
        print(f"tddkit: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as exc:
        print("tddkit: interrupted", file=sys.stderr)
        return interrupts.exit_code(exc)
    finally:
        early_start.abandon()  # what started early and was never handed to the run
