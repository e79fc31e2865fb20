"""The private APIs of dependencies that tddkit relies on, all of them, in one place.

unittest, threading, psycopg, psycopg_pool and pytest offer no public way to
do a few things tddkit needs. Each such reach is here, named for what it does,
saying what it relies on and what tddkit falls back to (if anything).
``tests/test_private_apis.py`` checks each against the installed versions;
``tests/test_private_names.py`` that no other module of tddkit reaches a
private name of a dependency. Only ``sys`` and ``threading`` are imported
here: unittest and psycopg are imported by the functions that use them, so
modules that need neither (the report, the CLI) do not import them by
importing this one. Hot paths bind what they use from here once, at import.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    import logging
    import unittest

    from psycopg.abc import PQGen
    from psycopg.pq.abc import PGconn, PGresult

# --- Python ------------------------------------------------------------------------------------

#: ``sys._getframe``: the caller's frame at a depth (CPython and PyPy have it; tddkit has no fallback).
getframe = sys._getframe


#: ``threading._active``: threading's own registry of running threads, changed in place (None where there is none).
_ACTIVE_THREADS: Mapping[int | None, Any] | None = getattr(threading, "_active", None)
if not isinstance(_ACTIVE_THREADS, dict):
    _ACTIVE_THREADS = None


def running_threads() -> Mapping[int | None, Any]:
    """The running threads by ident: ``threading._active`` itself (no copy of each thread), else a dict built from
    ``threading.enumerate()``."""
    if _ACTIVE_THREADS is not None:
        return _ACTIVE_THREADS
    return {t.ident: t for t in threading.enumerate()}


# --- unittest ----------------------------------------------------------------------------------

#: Private methods of unittest's classes that tddkit's subclasses override, by these names (no fallback: unittest
#: would stop calling them). TestCase's two put each test's scope around setUp and the test body (TDDTestCase);
#: ``_exc_info_to_string`` shows a traceback formatted in another process (TDDTestResult); ``_makeResult`` tells
#: the result how many tests will run (TDDTestRunner); ``_get_module_from_name`` keeps what a module that failed
#: to import raised (discovery's loader).
OVERRIDDEN_HOOKS: dict[str, tuple[str, ...]] = {
    "unittest.TestCase": ("_callSetUp", "_callTestMethod"),
    "unittest.TextTestResult": ("_exc_info_to_string",),
    "unittest.TextTestRunner": ("_makeResult",),
    "unittest.TestLoader": ("_get_module_from_name",),
}

def run_as_cleanup(test: Any, part: Callable[[], None]) -> bool:
    """Run ``part`` as ``TestCase.doCleanups`` runs a cleanup of ``test`` within ``TestCase.run``: an error is the
    test's (a failure when it is the test's ``failureException``) and the run goes on; False when it failed. One
    ``try`` instead of unittest's context manager per cleanup (``_Outcome.testPartExecutor``; ``part`` raises no
    SkipTest). Outside ``TestCase.run`` (``debug()``) its error is raised."""
    outcome: Any = getattr(test, "_outcome", None)
    result = getattr(outcome, "result", None)
    if result is None:
        part()
        return True
    try:
        part()
    except KeyboardInterrupt:
        raise
    except BaseException:  # noqa: BLE001 - as unittest: any error of a cleanup is the test's
        outcome.success = False
        kind, exc, traceback = sys.exc_info()
        error = (kind, exc, traceback.tb_next if traceback else None)  # from ``part`` on, as unittest's would be
        if issubclass(kind, test.failureException):  # type: ignore[arg-type]  # an exception is set here
            result.addFailure(test, error)
        else:
            result.addError(test, error)
        return False
    return True


#: The start of the id of unittest's stand-in test for a module that failed to import
#: (``unittest.loader._FailedTest``), the module's name follows; no fallback (it would count as a measured error).
FAILED_IMPORT_ID = "unittest.loader._FailedTest."


def hide_from_unittest_tracebacks(namespace: dict[str, Any]) -> None:
    """unittest leaves the frames of the module with globals ``namespace`` out of failure tracebacks, as its own: it
    skips frames whose globals hold ``__unittest`` (no fallback: the frames are shown)."""
    namespace["__unittest"] = True


def method_name_of(test: Any) -> str:
    """The name of the method a unittest test runs (``TestCase._testMethodName``); "" when it has none."""
    return getattr(test, "_testMethodName", "")


def is_failed_import(test: Any) -> bool:
    """Whether ``test`` is unittest's stand-in for a module that failed to import (``unittest.loader._FailedTest``)."""
    import unittest.loader

    return isinstance(test, unittest.loader._FailedTest)  # type: ignore[attr-defined]


def set_failed_import_error(test: Any, exc: Exception) -> None:
    """What unittest's stand-in for a module that failed to import raises when it runs (its ``_exception``)."""
    test._exception = exc


def failed_import_suite(name: str, exc: Exception,
                        suite_class: Callable[..., unittest.TestSuite]) -> unittest.TestSuite:
    """A suite of one unittest stand-in test, ``name``, raising ``exc`` when it runs, as unittest's discovery makes
    for a module that failed to import (``unittest.loader._make_failed_test``)."""
    import unittest.loader

    suite: unittest.TestSuite = unittest.loader._make_failed_test(name, exc, suite_class, "")[0]  # type: ignore[attr-defined]
    return suite


def error_holder(description: str) -> Any:
    """unittest's placeholder test for a class or module fixture error (``unittest.suite._ErrorHolder``),
    ``description`` its id, to report such an error that happened in another process."""
    import unittest.suite

    return unittest.suite._ErrorHolder(description)  # type: ignore[attr-defined]


def writeln_stream(stream: TextIO) -> Any:
    """``stream`` with the ``writeln`` unittest's text results write with (``unittest.runner._WritelnDecorator``)."""
    import unittest.runner

    return unittest.runner._WritelnDecorator(stream)


# --- psycopg -----------------------------------------------------------------------------------

def cursor_connection_slot() -> Any:
    """A descriptor reading a psycopg cursor's connection, for a subclass to read it as fast as psycopg does: the
    ``_conn`` slot of psycopg's cursors, else their public ``connection`` property (one call slower)."""
    import types

    import psycopg

    slot = getattr(psycopg.Cursor, "_conn", None)
    return slot if isinstance(slot, types.MemberDescriptorType) else psycopg.Cursor.connection


def query_results_generator() -> Callable[[PGconn], PQGen[list[PGresult]]]:
    """``psycopg.generators.execute``: the results of a query sent with ``pgconn.send_query``, run by ``conn.wait``
    while holding ``conn.lock``, as psycopg's cursors do (no fallback)."""
    import psycopg.generators

    execute: Callable[[PGconn], PQGen[list[PGresult]]] = psycopg.generators.execute
    return execute


def forget_prepared(conn: Any, *, deallocate: bool) -> None:
    """Make psycopg forget the statements it prepared on ``conn`` (its ``PrepareManager``): with ``deallocate``
    psycopg deallocates them on the server after its next statement, else the caller does (``DEALLOCATE ALL``)."""
    manager = conn._prepared
    manager.clear()  # queues DEALLOCATE ALL when it had prepared statements
    if not deallocate:
        manager._to_flush.clear()


def async_view_of(conn: Any, view_class: type) -> Any:
    """An ``AsyncConnection`` of ``view_class`` on the libpq connection of the sync ``conn`` (psycopg builds a
    connection object from its ``pgconn``); marked as pooled (its ``_pool``), so dropping it open does not warn.
    Notices and notifies go to the view until ``reclaim_handlers(conn)``."""
    view = view_class(conn.pgconn)
    view._pool = None
    return view


def reclaim_handlers(conn: Any) -> None:
    """Send the libpq connection's notices and notifies to ``conn`` again (psycopg's ``BaseConnection`` handlers,
    as its ``__init__`` installs them) after a view took them."""
    import functools
    import weakref

    from psycopg._connection_base import BaseConnection

    owner = weakref.ref(conn)
    conn.pgconn.notice_handler = functools.partial(BaseConnection._notice_handler, owner)
    conn.pgconn.notify_handler = functools.partial(BaseConnection._notify_handler, owner)


def in_transaction_block(conn: Any) -> bool:
    """Whether a ``with conn.transaction()`` block is open on a psycopg connection, where psycopg forbids commit()
    and rollback() (its ``_num_transactions``; no fallback)."""
    return bool(conn._num_transactions)


def notice_handlers(conn: Any) -> list[Callable[..., Any]]:
    """The notice handlers of a psycopg connection (``_notice_handlers``); [] when psycopg keeps none there (then
    tddkit cannot take back a handler a test added)."""
    found: list[Callable[..., Any]] | None = getattr(conn, "_notice_handlers", None)
    return found if found is not None else []


def notify_handlers(conn: Any) -> list[Callable[..., Any]]:
    """The notify handlers of a psycopg connection (``_notify_handlers``); [] when psycopg keeps none there (then
    tddkit cannot take back a handler a test added)."""
    found: list[Callable[..., Any]] | None = getattr(conn, "_notify_handlers", None)
    return found if found is not None else []


def forget_adapters(conn: Any) -> None:
    """Drop the adapters registered on a psycopg connection (its ``_adapters``): psycopg makes a fresh map from the
    global adapters on next use (no fallback)."""
    conn._adapters = None


# --- psycopg_pool ------------------------------------------------------------------------------

def pool_record_is_about(record: logging.LogRecord, cls: type) -> bool:
    """Whether a psycopg_pool log record is about a connection of class ``cls``: the pool's warnings about a connection
    it discards or rolls back pass that connection as an argument (else False: the warning is let through)."""
    args = record.args if isinstance(record.args, tuple) else ()
    return any(isinstance(arg, cls) for arg in args)


# --- pytest ------------------------------------------------------------------------------------

#: The start of the name of every module of pytest's own code (its package ``_pytest``), whose frames are never the
#: application's line (no fallback: should pytest move its code, its frames could be taken for the application's).
PYTEST_MODULES = "_pytest."


# --- pytest --------------------------------------------------------------------------------------------

def fixture_scopes(item: Any) -> list[str | None]:
    """The scope name of each of a pytest item's fixtures, in ``item.fixturenames`` order (None when unknown:
    ``request``, or pytest keeps no definitions where it used to, ``item._fixtureinfo.name2fixturedefs``)."""
    definitions = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
    return [definitions[name][-1].scope if definitions.get(name) else None for name in item.fixturenames]

