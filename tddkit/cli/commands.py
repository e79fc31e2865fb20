"""What ``python -m tddkit run | watch | bench | server`` do, once the command line is parsed."""

from __future__ import annotations

import argparse
import functools
import io
import sys
import unittest
from collections.abc import Callable, Sequence
from pathlib import Path

from ..config.settings import Settings, describe_config, fit_workers, load_settings
from ..errors import TddkitError
from ..exit_codes import EXIT_NO_TESTS, EXIT_OK, EXIT_TESTS_FAILED, EXIT_USAGE
from ..measure.metrics import TestMetrics
from ..output import check_writable, describe_age
from ..parallel.sharding import (
    durations_unwritable,
    group_by_class,
    load_durations,
    parse_parallel,
    parse_shard,
    save_durations,
    select,
)
from ..reporting.checks import check_run
from ..reporting.outputs import RunOutputs
from ..session import early_start
from ..session.early_start import run_settings
from ..session.session import Session, close_session, current_session, get_session
from ..testcase import interrupts
from ..testcase.case import TDDTestCase
from ..testcase.discovery import load_tests
from ..testcase.runner import TDDTestRunner, closing_line, iter_tests


class _RunPlan:
    """What ``run`` was asked to do: targets, shard, workers, and the settings."""

    def __init__(self, args: argparse.Namespace, settings: Settings) -> None:
        self.args = args
        self.settings = settings
        self.workers = fit_workers(settings, parse_parallel(args.parallel), auto=args.parallel == "auto") \
            if args.parallel else 1
        self.shard_of = parse_shard(args.shard) if args.shard else None
        self.durations_path = settings.resolve(settings.durations_file)

    def suite(self, only: Sequence[str] | None = None) -> unittest.TestSuite:
        """The tests to run (only those with ids in ``only`` when given)."""
        args = self.args
        suite = select(load_tests(args.targets, args.pattern, args.name_patterns), self.shard_of,
                       self.durations_path, by_class=self.workers > 1)
        if only is not None:
            wanted = set(only)
            suite = unittest.TestSuite(t for t in iter_tests(suite) if t.id() in wanted)
        return suite

    def runnable(self, suite: unittest.TestSuite, session: Session | None) -> unittest.BaseTestSuite:
        """The suite as it runs: in worker processes when ``--parallel`` asks for them."""
        if self.workers <= 1 or session is None or session._template is None:
            return suite
        from ..parallel.suite import ParallelSuite

        durations = load_durations(self.durations_path) if self.settings.durations_file else {}
        return ParallelSuite(group_by_class(iter_tests(suite)), workers=self.workers, settings=self.settings,
                             server_dsn=session.server_dsn, template=session._template, durations=durations)


def _needs_session(suite: unittest.TestSuite, workers: int) -> bool:
    return workers > 1 or any(isinstance(t, TDDTestCase) for t in iter_tests(suite))


def cmd_run(args: argparse.Namespace) -> int:
    """Run the tests (``--repeat`` times), then the baseline and gate checks asked for. SIGINT, SIGTERM and
    SIGHUP stop the run from now on (see ``interrupts``)."""
    interrupts.install()
    if args.durations < 0 or args.repeat < 1:
        raise TddkitError("--durations must be >= 0 and --repeat >= 1")
    settings = run_settings(args)
    plan = _RunPlan(args, settings)
    for option, path in (("--json", args.json_path), ("--junit-xml", args.junit_path),
                         ("--save-baseline", args.save_baseline and settings.resolve(args.save_baseline))):
        if path:
            check_writable(path, option)  # now, not after the whole suite ran
    history_dir = Path(args.history_dir) if args.history_dir else \
        settings.resolve(settings.history_dir) if settings.history_dir else None
    outputs = RunOutputs(settings, args.html_path, history_dir)
    json_path = outputs.json_path(args.json_path)
    saves_durations = bool(settings.durations_file) and not plan.shard_of  # shards read the file all shards share
    unsaved = durations_unwritable(plan.durations_path) if saves_durations else None
    baseline = None
    if args.compare:
        from ..reporting.baseline import load_baseline

        baseline = load_baseline(str(settings.resolve(args.compare)))
    runs, walls, totals, failed = [], [], {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}, False
    try:
        for repetition in range(args.repeat):
            suite = plan.suite()
            if next(iter_tests(suite), None) is None:  # (counting every test costs a walk of the suite)
                print("tddkit: no tests found" + (f" in shard {args.shard}" if plan.shard_of else ""),
                      file=sys.stderr)
                return EXIT_NO_TESTS
            if repetition == 0:  # the first lines: config and server (an error before them is the only line)
                session = None
                if _needs_session(suite, plan.workers):
                    early_start.finish(settings)
                    session = get_session(settings, with_database=plan.workers <= 1)
                print(f"tddkit: {describe_config(settings)}", file=sys.stderr)
                if session is not None:
                    print(f"tddkit: {session._describe()}", file=sys.stderr)
            last = repetition == args.repeat - 1
            runner = TDDTestRunner(
                verbosity=args.verbosity, failfast=args.failfast, buffer=args.buffer, settings=settings,
                show_report=args.show_report and last, json_path=json_path if last else None,
                junit_path=args.junit_path if last else None, slowest=args.durations,
                trace_memory=args.trace_memory, closing_line=False,
            )
            result = runner.run(plan.runnable(suite, current_session()))
            runs.append(result.test_metrics)
            walls.append(runner.last_wall)
            failed = failed or not result.wasSuccessful()
            for key, count in result.counts().items():
                totals[key] += count
        earlier = outputs.earlier()
        checks = check_run(settings, runs, walls, save_baseline_to=args.save_baseline, baseline=baseline,
                           gate=args.gate, rerun=functools.partial(_rerun, plan), history=earlier)
        outputs.finish(result.report, json_path, checks, earlier)
        session = current_session()
        if session is not None:  # also when tests started it lazily, after the first line
            print(f"tddkit: tests ran on {session._server_origin}", file=sys.stderr)
    finally:
        with interrupts.deferred():  # a signal now waits until the databases are dropped and the server stopped
            early_start.abandon()  # started for tests that turned out not to need it
            close_session()
            outputs.close()
    if saves_durations:
        unsaved = unsaved or save_durations(plan.durations_path, runs[-1])
    if unsaved:
        print(f"tddkit: warning: {unsaved}", file=sys.stderr)
    suffix = f" ({args.repeat} runs)" if args.repeat > 1 else ""
    print(closing_line(totals) + suffix, file=sys.stderr)
    return EXIT_TESTS_FAILED if failed else checks.code


def _rerun(plan: _RunPlan, test_ids: Sequence[str], times: int) -> tuple[list[Sequence[TestMetrics]], list[float]]:
    """Run only ``test_ids`` ``times`` more times, quietly; their metrics and wall times."""
    runs: list[Sequence[TestMetrics]] = []
    walls: list[float] = []
    for _ in range(times):
        runner = TDDTestRunner(io.StringIO(), verbosity=0, settings=plan.settings, show_report=False,
                               closing_line=False)
        runs.append(runner.run(plan.runnable(plan.suite(only=test_ids), current_session())).test_metrics)
        walls.append(runner.last_wall)
    return runs, walls


def cmd_watch(args: argparse.Namespace) -> int:
    """Run the tests, then again on every save, until Ctrl-C (see ``watch``)."""
    from ..watch.watcher import watch

    return watch(args)


def cmd_bench(args: argparse.Namespace) -> int:
    """Run the benchmark suite on a session of its own and print (and save) the numbers."""
    interrupts.install()
    from ..bench.report import format_bench, write_bench_json
    from ..bench.suite import iteration_counts, run_benchmark

    iteration_counts(args.iterations)  # reject a bad count or an unwritable file before the server starts
    if args.json_path:
        check_writable(args.json_path, "--json")
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
    """``server start | stop | status | url``: the server kept running across runs."""
    from ..server.binaries import find_binaries
    from ..server.persistent import read_state, start_persistent, stop_persistent

    settings = load_settings()
    cache_dir = settings.cache_path
    if args.action == "start":
        from ..session.admin import hide_password
        started = start_persistent(find_binaries(settings.pg_bindir, settings.pg_source, cache_dir), cache_dir)
        print(f"tddkit server running: PostgreSQL {started['version']} ({started['source']}, {started['bindir']}), "
              f"pid {started['pid']}, {hide_password(started['url'])}")
        return EXIT_OK
    if args.action == "stop":
        print("tddkit server stopped" if stop_persistent(cache_dir) else "tddkit server was not running")
        return EXIT_OK
    state = read_state(cache_dir)
    if args.action == "url":
        if not state:
            print("tddkit: no server running; start one with: python -m tddkit server start", file=sys.stderr)
            return EXIT_USAGE
        print(state["url"])
        return EXIT_OK
    binaries = find_binaries(settings.pg_bindir, settings.pg_source, cache_dir)
    print(f"binaries: {binaries.describe()}")
    if state:
        from ..session.admin import hide_password
        print(f"server: running, PostgreSQL {state['version']} ({state['source']}), pid {state['pid']}, "
              f"{hide_password(state['url'])}")
        _print_templates(state["dsn"])
    else:
        print("server: not running (tests start a throwaway server; 'server start' keeps one running)")
    _print_snapshots(settings)
    return EXIT_OK


def _print_snapshots(settings: Settings) -> None:
    """The schema snapshots the cache keeps: size, when last used, for which project (its latest or not)."""
    import time

    from ..server.locations import default_cache_dir
    from ..server.recency import latest_of_each_project, snapshots

    root = settings.cache_path or default_cache_dir()
    found = snapshots(root / "snapshots")
    latest = latest_of_each_project(found)
    print(f"schema snapshots in {root}: {len(found)}, {sum(s.size for s in found) / 2**20:.1f} MB of "
          f"{settings.cache_max_mb:g} MB (cache_max_mb); each project keeps its latest per server version")
    for snapshot in found:
        whose = f"for {snapshot.project}" if snapshot.project else "project unknown"
        used = describe_age(time.time() - snapshot.used)
        print(f"  {snapshot.path.name}  {snapshot.size / 2**20:.1f} MB  used {used} ago  {whose}"
              f"{'  (its latest)' if snapshot.path in latest else ''}")


def _print_templates(server_dsn: str) -> None:
    """The schema templates on the server, with their size and age."""
    from ..session.admin import connect_admin
    from ..session.template import describe_template, list_templates

    with connect_admin(server_dsn) as admin:
        templates = list_templates(admin)
    print(f"schema templates: {len(templates)}")
    for name, size, comment in templates:
        print(f"  {describe_template(name, size, comment)}")


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": cmd_run, "watch": cmd_watch, "bench": cmd_bench, "server": cmd_server,
}
