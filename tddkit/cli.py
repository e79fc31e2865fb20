"""Command line: ``python -m tddkit run | bench | server``.

Exit codes: 0 all tests passed; 1 a test failed or errored; 2 usage or
configuration error (one line on stderr, no traceback); 3 the tests passed but
the performance gate failed or a regression against the baseline was flagged;
5 no tests found.
"""

from __future__ import annotations

import argparse
import functools
import io
import sys
import unittest
from pathlib import Path
from typing import List, NoReturn, Optional, Sequence, Tuple

from .baseline import DEFAULT_BASELINE_PATH
from .case import TDDTestCase
from .errors import TddkitError
from .parallel import group_by_class, load_durations, parse_parallel, parse_shard, save_durations, shard

EXIT_OK, EXIT_TESTS_FAILED, EXIT_USAGE, EXIT_NO_TESTS = 0, 1, 2, 5


def _top_level_dir(start: Path) -> Path:
    """The directory to import from: the first ancestor of ``start`` that is not a package."""
    top = start.resolve()
    while (top / "__init__.py").is_file():
        top = top.parent
    return top


def load_tests(targets: Sequence[str], pattern: str, name_patterns: Optional[List[str]]) -> unittest.TestSuite:
    """Discover directories, load files and dotted names, like ``python -m unittest``."""
    suite = unittest.TestSuite()
    for target in targets or ["."]:
        loader = unittest.TestLoader()
        if name_patterns:
            loader.testNamePatterns = [p if "*" in p else f"*{p}*" for p in name_patterns]
        path = Path(target)
        if path.is_dir():
            top = _top_level_dir(path)
            suite.addTests(loader.discover(str(path.resolve()), pattern=pattern, top_level_dir=str(top)))
            continue
        if target.endswith(".py"):
            if not path.is_file():
                raise TddkitError(f"test file not found: {target}")
            top = _top_level_dir(path.parent)
            if str(top) not in sys.path:
                sys.path.insert(0, str(top))
            target = ".".join(path.resolve().with_suffix("").relative_to(top).parts)
        if str(Path.cwd()) not in sys.path:
            sys.path.insert(0, str(Path.cwd()))
        suite.addTests(loader.loadTestsFromName(target))
    return suite


def _add_run_parser(commands) -> None:
    run = commands.add_parser("run", help="discover and run tests with the metrics report")
    run.add_argument("targets", nargs="*", metavar="START_DIR|module|file",
                     help="directories to discover, test modules, files or dotted names (default: .)")
    run.add_argument("-k", dest="name_patterns", action="append", metavar="PATTERN",
                     help="only run tests matching the pattern or substring (repeatable)")
    run.add_argument("-p", "--pattern", default="test*.py", help="file pattern for discovery (default: test*.py)")
    run.add_argument("-v", "--verbose", dest="verbosity", action="store_const", const=2, default=1)
    run.add_argument("-q", "--quiet", dest="verbosity", action="store_const", const=0)
    run.add_argument("-f", "--failfast", action="store_true", help="stop on the first failure or error")
    run.add_argument("-b", "--buffer", action="store_true", help="buffer stdout and stderr of passing tests")
    run.add_argument("--dsn", help="use this PostgreSQL server instead of the embedded one")
    run.add_argument("--json", dest="json_path", metavar="FILE", help="write every test's metrics as JSON")
    run.add_argument("--junit-xml", dest="junit_path", metavar="FILE", help="write a JUnit XML report")
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
    run.add_argument("--parallel", metavar="N", help="run test classes in N worker processes ('auto': one per CPU)")
    run.add_argument("--shard", metavar="K/N", help="run only the K-th of N duration-balanced shards (CI matrices)")
    run.add_argument("--rebuild-schema", action="store_const", const=True, default=None,
                     help="rebuild the schema template even if the schema is unchanged")


def _add_bench_parser(commands) -> None:
    bench = commands.add_parser("bench", help="benchmark tddkit's per-test costs against other approaches")
    bench.add_argument("--iterations", type=int, metavar="N",
                       help="scale every iteration count so the 50s become N (default: 50; 100 for "
                            "fixture_setup and connection_acquire)")
    bench.add_argument("--json", dest="json_path", metavar="FILE", help="write every number as JSON")
    bench.add_argument("--dsn", help="use this PostgreSQL server instead of the embedded one")
    bench.add_argument("--no-compare", dest="compare", action="store_false",
                       help="skip the traditional, truncate and database-per-test comparisons")


def _add_server_parser(commands) -> None:
    server = commands.add_parser("server", help="a PostgreSQL server kept running across runs")
    server.add_argument("action", choices=["start", "stop", "status", "url"])


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error and exit code 2 (sub-commands inherit it)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"tddkit: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m tddkit", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="{run,bench,server}")
    _add_run_parser(commands)
    _add_bench_parser(commands)
    _add_server_parser(commands)
    return parser


def _select(suite: unittest.TestSuite, shard_of, durations_path: Path, workers: int) -> unittest.TestSuite:
    """The suite, cut to one shard and grouped by class when sharding or running in parallel."""
    from .runner import iter_tests

    if not shard_of and workers <= 1:
        return suite
    groups = group_by_class(iter_tests(suite))
    if shard_of:
        groups = shard(groups, load_durations(durations_path), *shard_of)
    return unittest.TestSuite(t for g in groups for t in g)


def cmd_run(args: argparse.Namespace) -> int:
    from .baseline import load_baseline
    from .config import load_settings
    from .runner import TDDTestRunner, closing_line, describe_session, iter_tests
    from .session import close_session, current_session, get_session

    if args.durations < 0 or args.repeat < 1:
        raise TddkitError("--durations must be >= 0 and --repeat >= 1")
    workers = parse_parallel(args.parallel) if args.parallel else 1
    shard_of = parse_shard(args.shard) if args.shard else None
    settings = load_settings({"dsn": args.dsn, "rebuild_schema": args.rebuild_schema})
    baseline = load_baseline(str(settings.resolve(args.compare))) if args.compare else None
    durations_path = settings.resolve(settings.durations_file)
    runs, walls, failed = [], [], False
    try:
        for repetition in range(args.repeat):
            suite = _select(load_tests(args.targets, args.pattern, args.name_patterns), shard_of, durations_path,
                            workers)
            if suite.countTestCases() == 0:
                print("tddkit: no tests found" + (f" in shard {args.shard}" if shard_of else ""), file=sys.stderr)
                return EXIT_NO_TESTS
            if repetition == 0 and any(isinstance(t, TDDTestCase) for t in iter_tests(suite)):
                session = get_session(settings, with_database=workers <= 1)
                print(f"tddkit: {describe_session(session)}", file=sys.stderr)
            last = repetition == args.repeat - 1
            runner = TDDTestRunner(
                verbosity=args.verbosity, failfast=args.failfast, buffer=args.buffer, settings=settings,
                show_report=args.show_report and last, json_path=args.json_path if last else None,
                junit_path=args.junit_path if last else None, slowest=args.durations, workers=workers,
                trace_memory=args.trace_memory, closing_line=False,
            )
            result = runner.run(suite)
            runs.append(result.test_metrics)
            walls.append(runner.last_wall)
            failed = failed or not result.wasSuccessful()
        rerun = functools.partial(_rerun, args, settings, shard_of, durations_path, workers)
        performance_code = _performance(args, settings, baseline, runs, walls, rerun)
        session = current_session()
        if session is not None:  # also when tests started it lazily, after the first line
            print(f"tddkit: tests ran on {session.server_origin}", file=sys.stderr)
    finally:
        close_session()
    if settings.durations_file and not shard_of:  # shards read the durations every shard shares
        save_durations(durations_path, runs[-1])
    print(closing_line(result.counts()), file=sys.stderr)
    return EXIT_TESTS_FAILED if failed else performance_code


def _rerun(args, settings, shard_of, durations_path: Path, workers: int, test_ids: Sequence[str],
           times: int) -> Tuple[List[list], List[float]]:
    """Run only ``test_ids`` ``times`` more times, quietly; their metrics and wall times."""
    from .runner import TDDTestRunner, iter_tests

    runs, walls = [], []
    wanted = set(test_ids)
    for _ in range(times):
        tests = iter_tests(_select(load_tests(args.targets, args.pattern, args.name_patterns), shard_of,
                                   durations_path, workers))
        runner = TDDTestRunner(io.StringIO(), verbosity=0, settings=settings, show_report=False,
                               workers=workers, closing_line=False)
        runs.append(runner.run(unittest.TestSuite(t for t in tests if t.id() in wanted)).test_metrics)
        walls.append(runner.last_wall)
    return runs, walls


def _performance(args: argparse.Namespace, settings, baseline, runs, walls, rerun) -> int:
    """Save or compare the baseline and evaluate the gate, as asked; EXIT_GATE_FAILED if any flags the run."""
    from .baseline import (CONFIRM_SAMPLES, build_baseline, compare, confirm, evaluate_gate, format_comparison,
                           format_gate, gate_exit_code, save_baseline, suspects)

    comparison = gate = None
    if args.save_baseline:
        path = settings.resolve(args.save_baseline)
        save_baseline(str(path), build_baseline(runs, walls))
        print(f"tddkit: baseline of {len(runs)} run(s) saved to {path}", file=sys.stderr)
    if baseline is not None:
        comparison = compare(baseline, runs, walls, settings.regression_threshold)
        suspected = suspects(baseline, comparison)
        if suspected and len(runs) < CONFIRM_SAMPLES:
            print(f"tddkit: confirming {len(suspected)} suspected regression(s) with "
                  f"{CONFIRM_SAMPLES - len(runs)} more run(s) of those tests", file=sys.stderr)
            comparison = confirm(baseline, comparison, runs, walls, *rerun(suspected, CONFIRM_SAMPLES - len(runs)))
        print(format_comparison(comparison), file=sys.stderr)
    if args.gate:
        gate = evaluate_gate(runs[-1], walls[-1], settings.gate)
        print(format_gate(gate), file=sys.stderr)
    return gate_exit_code(gate, comparison)


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import format_bench, iteration_counts, run_benchmark, write_bench_json
    from .config import load_settings
    from .session import close_session, get_session

    iteration_counts(args.iterations)  # reject a bad count before the server starts
    session = get_session(load_settings({"dsn": args.dsn}))
    try:
        report = run_benchmark(session, args.iterations, compare=args.compare)
    finally:
        close_session()
    print(format_bench(report))
    if args.json_path:
        write_bench_json(args.json_path, report)
    return EXIT_OK


def cmd_server(args: argparse.Namespace) -> int:
    from .binaries import find_binaries
    from .config import load_settings
    from .server import read_state, start_persistent, stop_persistent

    settings = load_settings()
    cache_dir = Path(settings.cache_dir) if settings.cache_dir else None
    if args.action == "start":
        state = start_persistent(find_binaries(settings.pg_bindir, settings.pg_source), cache_dir)
        print(f"tddkit server running: PostgreSQL {state['version']} ({state['source']}, {state['bindir']}), "
              f"pid {state['pid']}, {state['url']}")
        return EXIT_OK
    if args.action == "stop":
        print("tddkit server stopped" if stop_persistent(cache_dir) else "tddkit server was not running")
        return EXIT_OK
    state = read_state(cache_dir)
    if args.action == "url":
        if not state:
            print("tddkit: no server running; start one with: python -m tddkit server start", file=sys.stderr)
            return EXIT_TESTS_FAILED
        print(state["url"])
        return EXIT_OK
    binaries = find_binaries(settings.pg_bindir, settings.pg_source)
    print(f"binaries: {binaries.describe()}")
    if state:
        print(f"server: running, PostgreSQL {state['version']} ({state['source']}), pid {state['pid']}, {state['url']}")
    else:
        print("server: not running (tests start a throwaway server; 'server start' keeps one running)")
    return EXIT_OK


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``python -m tddkit``; returns the exit code."""
    args = build_parser().parse_args(argv)
    handlers = {"run": cmd_run, "bench": cmd_bench, "server": cmd_server}
    try:
        return handlers[args.command](args)
    except TddkitError as exc:
        print(f"tddkit: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("tddkit: interrupted", file=sys.stderr)
        return 130
