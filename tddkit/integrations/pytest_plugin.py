"""tddkit's pytest plugin: isolated connections as fixtures, shared module data, the report and the gate.

Registered by the ``pytest11`` entry point when tddkit is installed
(``-p no:tddkit`` turns it off). It uses the isolation core that TDDTestCase
uses: one transaction per test module (``tddkit_module_conn`` is the
module's connection: data made through it from module- or class-scoped
fixtures is seen by the tests of that module or class and gone after it), a
rolled-back savepoint per test (``tddkit_conn``). Nothing of tddkit is
imported and no server starts until a tddkit fixture is used.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from ..config.paths import DEFAULT_BASELINE_PATH
from .pytest_items import class_of
from .pytest_results import STATE, PluginState, begin_test, finish_item, measured_item
from .pytest_signals import SignalStop

if TYPE_CHECKING:
    from ..isolation.class_transaction import ClassTransaction
    from ..session.session import Session

#: What tddkit did (config, server, schema template) in pytest's header and closing summary; the session's early
#: start; query checks; the async fixtures; the run's startup objects frozen for the garbage collector.
pytest_plugins = ["tddkit.integrations.pytest_header", "tddkit.integrations.pytest_early",
                  "tddkit.integrations.pytest_queries", "tddkit.integrations.pytest_async",
                  "tddkit.integrations.pytest_gc"]

SIGNALS = pytest.StashKey[SignalStop]()
#: The configs of the pytest runs under way in this process, innermost last: fixtures that take no ``request``
#: read theirs here (pytest builds a fixture definition for ``request`` anew for every test that resolves it).
_CONFIGS: list[pytest.Config] = []
CLASS_SCOPE_FIXTURE = "_tddkit_class_scope"

SCOPES_HINT = (
    "tddkit: tddkit_conn, tddkit_pool, tddkit_dsn, tddkit_sqlalchemy_* (engine, connection, session, session_factory), "
    "tddkit_queries, tddkit_record_metric and "
    "tddkit_memory_snapshot work in tests and function-scoped fixtures; for data shared by a module or a class, "
    "use tddkit_module_conn in a module- or class-scoped fixture. No tddkit fixture works at session scope: "
    "each test module has a transaction of its own."
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tddkit", "tddkit: PostgreSQL tests isolated by savepoints, measured")
    group.addoption("--tddkit-report", action="store_true", help="print tddkit's metrics report at the end")
    group.addoption("--tddkit-json", metavar="FILE", help="write every measured test's metrics as JSON")
    group.addoption("--tddkit-html", metavar="FILE",
                    help="write a self-contained HTML report with charts (the --tddkit-json document embedded)")
    group.addoption("--tddkit-history", metavar="DIR",
                    help="add this run's summary to the performance history in DIR (setting history_dir)")
    group.addoption("--tddkit-gate", action="store_true",
                    help="check the limits in [tool.tddkit.gate]; a failed gate makes the exit status 3")
    group.addoption("--tddkit-save-baseline", nargs="?", const=DEFAULT_BASELINE_PATH, metavar="FILE",
                    help=f"save per-test metrics as a baseline (default {DEFAULT_BASELINE_PATH})")
    group.addoption("--tddkit-compare", nargs="?", const=DEFAULT_BASELINE_PATH, metavar="FILE",
                    help="compare with a saved baseline; a regression makes the exit status 3")
    group.addoption("--tddkit-dsn", metavar="URL", help="use this PostgreSQL server instead of the embedded one")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "tddkit_resources(*names): tests that use the same named outside resource "
                                       "never run at the same time (also across pytest-xdist workers)")
    config.stash[STATE] = PluginState(config)
    config.stash[SIGNALS] = SignalStop()
    _CONFIGS.append(config)


def _state(config: pytest.Config) -> PluginState:
    return config.stash[STATE]


# --- fixtures ----------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def tddkit_session() -> Session:
    """The tddkit session: the server (embedded, or --tddkit-dsn) and the test database."""
    return _state(_CONFIGS[-1]).tddkit_session()


@pytest.fixture(scope="module")
def _tddkit_transaction(tddkit_session: Session) -> Iterator[ClassTransaction]:
    from ..isolation.class_transaction import ClassTransaction

    if tddkit_session._lender is None:
        raise pytest.UsageError("the tddkit session has no test database")
    module = _state(_CONFIGS[-1]).running_item().nodeid.split("::", 1)[0]
    transaction = ClassTransaction(tddkit_session._lender, name=module, lent_between_tests=True)
    transaction.connection()
    yield transaction
    transaction.release()


@pytest.fixture(scope="class")
def _tddkit_class_scope(request: pytest.FixtureRequest) -> Iterator[None]:
    """A class whose tests use tddkit gets a nested scope: its class-scoped data is gone after it (the tests of
    such classes get this fixture first, at collection)."""
    transaction: ClassTransaction = request.getfixturevalue("_tddkit_transaction")
    transaction.push_scope()
    yield
    transaction.pop_scope()


@pytest.fixture(scope="module")
def tddkit_module_conn(_tddkit_transaction: ClassTransaction) -> Any:
    """The module's connection, inside the module's transaction: for module- and class-scoped data fixtures."""
    return _tddkit_transaction.connection()


@pytest.fixture
def tddkit_conn(_tddkit_transaction: ClassTransaction) -> Iterator[Any]:
    """The test's connection (a psycopg Connection, guarded), inside a savepoint rolled back after the test."""
    item = _state(_CONFIGS[-1]).running_item()
    scope = begin_test(item, _tddkit_transaction)  # the test is measured from here (one fixture: each one costs)
    yield scope.conn
    finish_item(item, _tddkit_transaction, scope)


@pytest.fixture
def _tddkit_test(tddkit_conn: Any) -> Any:
    """The running test's TestScope, begun by ``tddkit_conn``: what tddkit's other per-test fixtures build on."""
    return measured_item(_state(_CONFIGS[-1]).running_item())


@pytest.fixture
def tddkit_pool(_tddkit_test: Any, _tddkit_transaction: ClassTransaction) -> Any:
    """A psycopg_pool.ConnectionPool stand-in for application code: its connections are the test's own."""
    from ..isolation.joined import JoinedPool

    return JoinedPool(_tddkit_transaction, name="tddkit_pool")


@pytest.fixture
def tddkit_dsn(_tddkit_test: Any, tddkit_session: Session) -> str:
    """The test database's DSN, for code that opens its own connection (the leak check watches its commits)."""
    return tddkit_session.dsn


@pytest.fixture
def tddkit_sqlalchemy_engine(_tddkit_test: Any, _tddkit_transaction: ClassTransaction) -> Any:
    """A SQLAlchemy Engine whose connections are the test's own, each a unit of work of its own (commits kept
    within the test); one per run. Needs ``pip install 'tddkit[sqlalchemy]'``."""
    from . import sqlalchemy as bridge

    return bridge.engine(_tddkit_transaction.active_connection, _tddkit_transaction.name)


@pytest.fixture
def tddkit_sqlalchemy_connection(tddkit_sqlalchemy_engine: Any) -> Iterator[Any]:
    """The test's SQLAlchemy Connection (from ``tddkit_sqlalchemy_engine``), closed after the test."""
    with tddkit_sqlalchemy_engine.connect() as connection:
        yield connection


@pytest.fixture
def tddkit_sqlalchemy_session_factory(tddkit_sqlalchemy_connection: Any) -> Iterator[Callable[..., Any]]:
    """``make(**session_options)``: an ORM Session on the test's SQLAlchemy Connection, closed after the test."""
    from . import sqlalchemy as bridge

    sessions: list[Any] = []

    def make(**session_options: Any) -> Any:
        sessions.append(bridge.session(tddkit_sqlalchemy_connection, **session_options))
        return sessions[-1]

    yield make
    for made in reversed(sessions):
        made.close()


@pytest.fixture
def tddkit_sqlalchemy_session(tddkit_sqlalchemy_session_factory: Callable[..., Any]) -> Any:
    """An ORM Session on the test's SQLAlchemy Connection (``join_transaction_mode="create_savepoint"``)."""
    return tddkit_sqlalchemy_session_factory()


@pytest.fixture
def tddkit_record_metric(_tddkit_test: Any, request: pytest.FixtureRequest) -> Callable[..., None]:
    """``tddkit_record_metric(name, value, **metadata)``: a custom metric of this test, with threshold alerts."""
    from ..measure.instruments import record

    def record_metric(name: str, value: float, **metadata: Any) -> None:
        failure = record(_tddkit_test.meter.metrics, _tddkit_test.settings, request.node.nodeid, name,
                         value, metadata)
        if failure is not None:
            pytest.fail(failure)

    return record_metric


@pytest.fixture
def tddkit_memory_snapshot(_tddkit_test: Any) -> Callable[[str], dict[str, Any]]:
    """``tddkit_memory_snapshot(label)``: RSS and VMS in MB after a garbage collection, kept in the metrics."""
    from ..measure.instruments import memory_snapshot

    def snapshot(label: str) -> dict[str, Any]:
        taken = memory_snapshot(label)
        metrics = _tddkit_test.meter.metrics
        metrics.memory_snapshots = (*metrics.memory_snapshots, taken)
        return taken

    return snapshot


# --- the test protocol ---------------------------------------------------------------------------------


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """The tests of a class whose tests use tddkit open its nested scope first (before its class fixtures); no
    other test pays for it."""
    classes = _state(config).tddkit_classes(items)
    for item in items:
        names = getattr(item, "fixturenames", None)
        if names is not None and class_of(item) in classes and CLASS_SCOPE_FIXTURE not in names:
            from .._compat import fixture_scopes

            scopes = fixture_scopes(item)  # after the session's and module's fixtures: their data outlives the class
            names.insert(next((i for i, scope in enumerate(scopes) if scope in ("class", "function")), len(names)),
                         CLASS_SCOPE_FIXTURE)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Wait for the test's named resources before anything is timed; measure TDDTestCase tests too."""
    _state(item.config).before_test(item)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    scope = measured_item(item)
    if scope is None:
        return (yield)
    scope.meter.set_up()
    try:
        result = yield
    except BaseException as error:
        scope.failed = True
        if "psycopg" in sys.modules and isinstance(error, sys.modules["psycopg"].Error):
            note = scope.explain(error)
            if note:
                error.add_note(note)
        scope.body_done()
        raise
    failure = scope.body_done()
    if failure:  # alerts_as_failures: an N+1 fails the test (its call, not its teardown)
        raise pytest.fail.Exception(failure, pytrace=False)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report: pytest.TestReport = yield
    if report.failed and report.when == "setup" and "ScopeMismatch" in report.longreprtext and \
            "tddkit_" in report.longreprtext:
        report.sections.append(("tddkit", SCOPES_HINT))
    _state(item.config).after_phase(item, report)
    return report


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    _state(item.config).release_resources(item)


# --- the end of the run -------------------------------------------------------------------------------


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[SIGNALS].install()
    _state(session.config).start_clock()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtestloop(session: pytest.Session) -> Generator[None, Any, None]:
    yield
    session.config.stash[SIGNALS].hold()  # the tests are over: a signal during the cleanup only sets the exit status


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """pytest-xdist: a worker finished; take the metrics it measured."""
    _state(node.config).merge_worker(getattr(node, "workeroutput", {}).get("tddkit"))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = _state(session.config)
    code = state.finish(worker_output=getattr(session.config, "workeroutput", None))
    if code and session.exitstatus == 0:
        session.exitstatus = code
    session.exitstatus = session.config.stash[SIGNALS].exit_status(session.exitstatus)


def pytest_unconfigure(config: pytest.Config) -> None:
    if SIGNALS in config.stash:
        config.stash[SIGNALS].uninstall()
    if config in _CONFIGS:
        _CONFIGS.remove(config)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    for line in _state(config).summary_lines():
        terminalreporter.write_line(line)
