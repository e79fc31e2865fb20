"""The private APIs of dependencies that tddkit relies on (tddkit/_compat.py) exist and behave as tddkit assumes, on
the installed versions: a test here fails, saying what changed and where tddkit relies on it, when one does not."""

import importlib.util
import inspect
import io
import logging
import re
import sys
import tempfile
import threading
import types
import unittest
from pathlib import Path

if __name__ == "__main__":  # python tests/test_x.py: this checkout first on sys.path, not an installed tddkit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg
from psycopg import pq
from psycopg.types.string import TextLoader
from psycopg_pool import ConnectionPool

import tddkit
from tddkit import _compat
from tddkit.isolation.connection import CountingCursor, GuardedConnection
from tests.support import ROOT, admin_connection, wait_until

PACKAGE = ROOT / "tddkit"
COMPAT = PACKAGE / "_compat.py"


SOURCES = {str(p.relative_to(ROOT)): p.read_text() for p in sorted(PACKAGE.rglob("*.py")) if p != COMPAT}


def used_in(name: str) -> str:
    """Where tddkit uses ``_compat``'s ``name``, for the failure messages."""
    found = [path for path, text in SOURCES.items() if re.search(rf"\b{name}\b", text)]
    return ", ".join(found) or "nowhere (remove it from _compat.py)"


def changed(dependency: str, what: str, name: str) -> str:
    """The failure message: what changed, and where tddkit relies on it (through ``_compat``'s ``name``)."""
    return f"{dependency} changed {what}: tddkit relies on it in {used_in(name)} (see {name} in tddkit/_compat.py)"


class UnittestTests(unittest.TestCase):
    def test_the_overridden_hooks_exist_with_the_parameters_tddkit_passes(self):
        parameters = {"_callSetUp": [], "_callTestMethod": ["method"], "_exc_info_to_string": ["err", "test"],
                      "_makeResult": [], "_get_module_from_name": ["name"]}
        for owner, hooks in _compat.OVERRIDDEN_HOOKS.items():
            cls = getattr(unittest, owner.split(".")[1])
            for hook in hooks:
                method = getattr(cls, hook, None)
                self.assertTrue(callable(method), changed("unittest", f"{owner}.{hook} (gone)", hook))
                found = list(inspect.signature(method).parameters)[1:]
                self.assertEqual(found, parameters[hook], changed("unittest", f"{owner}.{hook}'s parameters", hook))

    def test_run_calls_the_test_hooks_in_the_order_tddkit_assumes(self):
        calls = []

        class Case(unittest.TestCase):
            def _callSetUp(self):
                calls.append("_callSetUp")
                super()._callSetUp()

            def setUp(self):
                self.addCleanup(calls.append, "setUp's cleanup")

            def _callTestMethod(self, method):
                calls.append(("_callTestMethod", method))
                super()._callTestMethod(method)

            def doCleanups(self):  # TDDTestCase's rollback runs after unittest's cleanups, from here
                done = super().doCleanups()
                calls.append(("doCleanups", self._outcome is not None))
                return done

            def test_it(self):
                calls.append("body")

        case = Case("test_it")
        self.assertTrue(case.run(unittest.TestResult()).wasSuccessful())
        expected = ["_callSetUp", ("_callTestMethod", case.test_it), "body", "setUp's cleanup", ("doCleanups", True)]
        self.assertEqual(calls, expected, changed("unittest", "when TestCase.run calls its hooks", "run_as_cleanup"))

    def test_run_as_cleanup_reports_as_a_cleanup_does(self):
        def reported(fail_with):
            class Case(unittest.TestCase):
                def doCleanups(self):
                    done = super().doCleanups()
                    return _compat.run_as_cleanup(self, fail_with) and done

                def test_it(self):
                    pass

            class Plain(unittest.TestCase):
                def test_it(self):
                    self.addCleanup(fail_with)

            ours, theirs = unittest.TestResult(), unittest.TestResult()
            Case("test_it").run(ours)
            Plain("test_it").run(theirs)
            return [(len(r.failures), len(r.errors), r.wasSuccessful()) for r in (ours, theirs)]

        def failure():
            raise AssertionError("x")

        def error():
            raise RuntimeError("x")

        for part in (failure, error, lambda: None):
            ours, theirs = reported(part)
            self.assertEqual(ours, theirs, changed("unittest", "how a cleanup's error is reported", "run_as_cleanup"))
        self.assertEqual(reported(failure)[0], (1, 0, False))
        self.assertEqual(reported(error)[0], (0, 1, False))

    def test_the_result_and_runner_hooks(self):
        class Result(unittest.TextTestResult):
            def _exc_info_to_string(self, err, test):
                return "formatted elsewhere"

        made = []

        class Runner(unittest.TextTestRunner):
            resultclass = Result

            def _makeResult(self):
                made.append(super()._makeResult())
                return made[-1]

        class Fails(unittest.TestCase):
            def test_it(self):
                self.fail("x")

        result = Runner(stream=io.StringIO()).run(unittest.TestSuite([Fails("test_it")]))
        self.assertEqual(made, [result], changed("unittest", "TextTestRunner.run's use of _makeResult", "_makeResult"))
        self.assertEqual(result.failures[0][1], "formatted elsewhere",
                         changed("unittest", "TestResult.addFailure's formatting", "_exc_info_to_string"))

    def test_a_module_that_fails_to_import_in_discovery(self):
        imported = []

        class Loader(unittest.TestLoader):
            def _get_module_from_name(self, name):
                imported.append(name)
                return super()._get_module_from_name(name)

        with tempfile.TemporaryDirectory() as top:
            Path(top, "test_tddkit_broken.py").write_text("import tddkit_no_such_module\n")
            try:
                tests = list(Loader().discover(top, top_level_dir=top))
            finally:
                sys.path.remove(top)
        self.assertEqual(imported, ["test_tddkit_broken"], changed("unittest", "TestLoader.discover's imports",
                                                                    "_get_module_from_name"))
        (failed,) = [test for suite in tests for test in suite]
        self.assertTrue(_compat.is_failed_import(failed), changed("unittest", "loader._FailedTest", "is_failed_import"))
        self.assertEqual(_compat.method_name_of(failed), "test_tddkit_broken",
                         changed("unittest", "_FailedTest's _testMethodName", "method_name_of"))
        self.assertEqual(failed.id(), _compat.FAILED_IMPORT_ID + "test_tddkit_broken",
                         changed("unittest", "the id of _FailedTest", "FAILED_IMPORT_ID"))
        _compat.set_failed_import_error(failed, ImportError("the project's frames only"))
        result = unittest.TestResult()
        failed.run(result)
        self.assertIn("ImportError: the project's frames only", result.errors[0][1],
                      changed("unittest", "what _FailedTest raises (its _exception)", "set_failed_import_error"))

    def test_failed_import_suite(self):
        suite = _compat.failed_import_suite("tests.gone", ImportError("no module"), unittest.TestSuite)
        (test,) = list(suite)
        result = unittest.TestResult()
        suite.run(result)
        self.assertTrue(_compat.is_failed_import(test), changed("unittest", "loader._make_failed_test",
                                                                "failed_import_suite"))
        self.assertEqual((test.id(), result.errors[0][0]), (_compat.FAILED_IMPORT_ID + "tests.gone", test),
                         changed("unittest", "loader._make_failed_test", "failed_import_suite"))
        self.assertIn("ImportError: no module", result.errors[0][1])

    def test_error_holder_and_writeln_stream(self):
        holder = _compat.error_holder("setUpClass (tests.test_x.Case)")
        stream = _compat.writeln_stream(io.StringIO())
        stream.writeln("written")
        result = unittest.TextTestResult(stream, False, 0)
        result.addError(holder, (ValueError, ValueError("in a worker"), None))
        self.assertEqual(stream.stream.getvalue(), "written\n", changed("unittest", "runner._WritelnDecorator",
                                                                        "writeln_stream"))
        self.assertEqual((holder.id(), holder.countTestCases(), result.errors[0][0]),
                         ("setUpClass (tests.test_x.Case)", 0, holder),
                         changed("unittest", "suite._ErrorHolder", "error_holder"))
        self.assertNotIsInstance(holder, unittest.TestCase,
                                 changed("unittest", "suite._ErrorHolder (now a TestCase)", "error_holder"))

    def test_hidden_modules_frames_are_left_out_of_tracebacks(self):
        def failure(hidden):
            helpers = types.ModuleType("tddkit_helpers")
            exec(compile("def check():\n    raise AssertionError('off')\n", "helpers.py", "exec"), helpers.__dict__)
            if hidden:
                _compat.hide_from_unittest_tracebacks(helpers.__dict__)
            case = unittest.FunctionTestCase(helpers.check)
            result = unittest.TestResult()
            case.run(result)
            return result.failures[0][1]

        self.assertIn("in check", failure(hidden=False))
        self.assertNotIn("in check", failure(hidden=True),
                         changed("unittest", "the frames it leaves out", "hide_from_unittest_tracebacks"))


class PythonTests(unittest.TestCase):
    def test_running_threads_is_threadings_registry(self):
        threads = _compat.running_threads()
        self.assertIs(threads, getattr(threading, "_active", None),
                      changed("threading", "_active (gone: enumerate() is used, slower)", "running_threads"))
        release = threading.Event()
        thread = threading.Thread(target=release.wait)
        thread.start()
        try:
            self.assertIn(thread.ident, threads, changed("threading", "_active's keys", "running_threads"))
            self.assertIs(threads[threading.get_ident()], threading.current_thread())
        finally:
            release.set()
            thread.join()
        self.assertNotIn(thread.ident, threads, changed("threading", "when _active forgets a thread",
                                                         "running_threads"))

    def test_getframe(self):
        self.assertIs(_compat.getframe(0).f_code, PythonTests.test_getframe.__code__,
                      changed("Python", "sys._getframe", "getframe"))


class PsycopgTests(unittest.TestCase):
    def test_the_cursor_reads_its_connection_from_psycopgs_slot(self):
        slot = _compat.cursor_connection_slot()
        self.assertIsInstance(slot, types.MemberDescriptorType,
                              changed("psycopg", "Cursor._conn (no slot: one call more per statement)",
                                      "cursor_connection_slot"))
        database = tddkit.get_session()._database
        with GuardedConnection.connect(database.dsn, autocommit=True, **database.connection_kwargs()) as conn:
            cursor = conn.cursor()
            self.assertIsInstance(cursor, CountingCursor)
            self.assertIs(slot.__get__(cursor), conn, changed("psycopg", "Cursor._conn", "cursor_connection_slot"))
            self.assertIs(psycopg.Cursor.connection.__get__(cursor), conn)  # the fallback
            cursor.execute("SELECT 1")
            self.assertEqual(conn._tddkit.query_count, 1)

    def test_a_sent_query_is_run_as_tddkit_runs_its_own(self):
        execute = _compat.query_results_generator()
        with admin_connection() as conn:
            with conn.lock:
                conn.pgconn.send_query(b"SELECT 1; SELECT 'two'")
                results = conn.wait(execute(conn.pgconn))
            self.assertEqual([(r.status, r.get_value(0, 0)) for r in results],
                             [(pq.ExecStatus.TUPLES_OK, b"1"), (pq.ExecStatus.TUPLES_OK, b"two")],
                             changed("psycopg", "generators.execute", "query_results_generator"))
            with conn.lock:
                conn.pgconn.send_query(b"SELECT 1/0")
                (result,) = conn.wait(execute(conn.pgconn))
            error = psycopg.errors.error_from_result(result, encoding=conn.info.encoding)
            self.assertIsInstance(error, psycopg.errors.DivisionByZero,
                                  changed("psycopg", "errors.error_from_result", "query_results_generator"))
            self.assertEqual(conn.execute("SELECT 3").fetchone(), (3,))

    def test_in_transaction_block(self):
        with admin_connection() as conn:
            states = [_compat.in_transaction_block(conn)]
            with conn.transaction():
                states.append(_compat.in_transaction_block(conn))
                with self.assertRaises(psycopg.ProgrammingError):
                    conn.commit()  # what tddkit's joined mode refuses likewise
            states.append(_compat.in_transaction_block(conn))
        self.assertEqual(states, [False, True, False],
                         changed("psycopg", "Connection._num_transactions", "in_transaction_block"))

    def test_notice_and_notify_handlers(self):
        notices, notifies = [], []
        with admin_connection() as conn:
            conn.add_notice_handler(notices.append)
            conn.add_notify_handler(notifies.append)
            self.assertEqual((_compat.notice_handlers(conn), _compat.notify_handlers(conn)),
                             ([notices.append], [notifies.append]),
                             changed("psycopg", "Connection._notice_handlers / _notify_handlers", "notice_handlers"))
            conn.execute("DO $$BEGIN RAISE NOTICE 'heard'; END$$")
            conn.execute("LISTEN tddkit_compat; NOTIFY tddkit_compat, 'heard'")
            self.assertTrue(wait_until(lambda: notices and notifies, seconds=5))
            conn.remove_notice_handler(notices.append)
            conn.remove_notify_handler(notifies.append)
            self.assertEqual((_compat.notice_handlers(conn), _compat.notify_handlers(conn)), ([], []),
                             changed("psycopg", "Connection._notice_handlers / _notify_handlers", "notify_handlers"))

    def test_forget_adapters(self):
        class Upper(TextLoader):
            def load(self, data):
                return super().load(data).upper()

        with admin_connection() as conn:
            conn.adapters.register_loader("text", Upper)
            self.assertEqual(conn.execute("SELECT 'abc'::text").fetchone(), ("ABC",))
            _compat.forget_adapters(conn)
            self.assertEqual(conn.execute("SELECT 'abc'::text").fetchone(), ("abc",),
                             changed("psycopg", "Connection._adapters", "forget_adapters"))

    def test_pool_warnings_name_the_connection(self):
        with ConnectionPool(tddkit.get_session()._database.dsn, min_size=1, max_size=1, open=True) as pool:
            with self.assertLogs("psycopg.pool", logging.WARNING) as logs:
                conn = pool.getconn()
                conn.execute("SELECT 1")  # a transaction left open: the pool rolls it back and says so
                pool.putconn(conn)
        self.assertTrue(any(_compat.pool_record_is_about(r, psycopg.Connection) for r in logs.records),
                        changed("psycopg_pool", "the arguments of its warnings", "pool_record_is_about"))
        self.assertFalse(any(_compat.pool_record_is_about(r, GuardedConnection) for r in logs.records))

    @unittest.skipUnless(importlib.util.find_spec("pytest"), "pytest is not installed")
    def test_pytest_code_lives_in_its_private_package(self):
        import pytest

        self.assertTrue(pytest.main.__module__.startswith(_compat.PYTEST_MODULES),
                        changed("pytest", f"where its code lives ({pytest.main.__module__})", "PYTEST_MODULES"))
