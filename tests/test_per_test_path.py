"""What tddkit does per test to stay cheap gives the results it gave before: a test's first statements kept as they
came and summed by shape afterwards (N+1 detection as sharp, at the same line), the next test's meter made ahead of
time (its clock starts with its test), the rollback run from ``doCleanups`` (``debug()`` too)."""

import random
import sys
import time
import unittest
from pathlib import Path

if __name__ == "__main__":  # python tests/test_x.py: this checkout first on sys.path, not an installed tddkit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from psycopg import sql

from tddkit.measure import meter as meter_module
from tddkit.measure.meter import TestMeter
from tddkit.measure.queries import MAX_SHAPES_PER_TEST, OTHER, PENDING_LIMIT, StatementLog, shape_of
from tests.cases import overlap

HERE = str(Path(__file__).resolve())


def by_hand(statements: list) -> tuple:
    """(shape, calls, total ms, longest ms) per shape in order of first call, OTHER past the limit: counted one by
    one, as the log did before it kept statements as they came."""
    found: dict = {}
    for query, elapsed, _ in statements:
        shape = shape_of(query)
        if shape not in found and len(found) >= MAX_SHAPES_PER_TEST:
            shape = OTHER
        calls, total, longest = found.get(shape, (0, 0.0, 0.0))
        found[shape] = (calls + 1, total + elapsed, max(longest, elapsed))
    return tuple((shape, calls, total * 1000, longest * 1000) for shape, (calls, total, longest) in found.items())


def logged(statements: list, threshold: int) -> StatementLog:
    log = StatementLog(threshold)
    for query, elapsed, in_body in statements:
        log.in_body = in_body
        log.note(query, elapsed)
    return log


class StatementLogTests(unittest.TestCase):
    def test_the_statistics_are_those_counted_one_by_one(self):
        rng = random.Random(7)
        for count in (0, 1, 9, PENDING_LIMIT - 1, PENDING_LIMIT, PENDING_LIMIT + 1, 400):
            for distinct in (1, 5, MAX_SHAPES_PER_TEST + 30):
                statements = []
                for _ in range(count):
                    text = f"SELECT * FROM t{rng.randrange(distinct)} WHERE id = {rng.randrange(100)}"
                    statements.append((text.encode() if rng.random() < 0.3 else text, rng.random() / 100,
                                       rng.random() < 0.5))
                for threshold in (0, 3, 10, 5 * MAX_SHAPES_PER_TEST):  # the last: more shapes pending than kept
                    with self.subTest(count=count, distinct=distinct, threshold=threshold):
                        self.assertEqual(logged(statements, threshold).statements(), by_hand(statements))

    def test_a_composed_query_among_plain_ones_is_counted_in_its_place(self):
        statements = [("SELECT 1", 0.001, True), (sql.SQL("SELECT {}").format(sql.Literal(2)), 0.002, True),
                      ("SELECT 3", 0.003, True)]
        self.assertEqual([(shape, calls) for shape, calls, _, _ in logged(statements, 10).statements()],
                         [("SELECT ?", 3)])

    def test_the_nth_repeat_in_the_body_is_found_at_its_line_before_and_after_the_log_sums(self):
        for setup_statements in (0, 2, 7):  # the threshold's statement is the first summed, or a later one
            with self.subTest(setup_statements=setup_statements):
                log = StatementLog(3)
                for _ in range(setup_statements):
                    log.note("SELECT 1 FROM fixtures", 0.001)
                log.in_body = True
                for user in range(4):
                    log.note(f"SELECT name FROM users WHERE id = {user}", 0.001); line = sys._getframe().f_lineno  # noqa: E702
                    if user < 2:
                        self.assertEqual(log.repeated(), (), "not yet at the threshold")
                [found] = log.repeated()
                self.assertEqual((found["statement"], found["calls"], found["file"]),
                                 ("SELECT name FROM users WHERE id = ?", 4, HERE))
                self.assertEqual(found["line"], line)

    def test_statements_of_setup_never_make_a_repeat(self):
        log = StatementLog(3)
        for _ in range(PENDING_LIMIT + 5):
            log.note("SELECT 1 FROM fixtures", 0.001)
        log.in_body = True
        log.note("SELECT 1 FROM fixtures", 0.001)
        self.assertEqual(log.repeated(), ())
        self.assertEqual(log.statements()[0][:2], ("SELECT ? FROM fixtures", PENDING_LIMIT + 6))


class SpareMeterTests(unittest.TestCase):
    def setUp(self):
        meter_module._spares.clear()
        self.addCleanup(meter_module._spares.clear)

    def test_a_spare_serves_the_next_test_and_its_clock_starts_with_the_test(self):
        TestMeter.make_spare()
        [spare] = meter_module._spares
        time.sleep(0.2)
        meter = TestMeter.start("tests.Spare.test_it", allow_repeated=True)
        self.assertIs(meter, spare)
        self.assertEqual(meter_module._spares, [])
        log = meter.connected(0, 0.0, 0, repeated_query_threshold=10)
        self.assertEqual(log.threshold, 0, "allow_repeated turns detection off on the spare's log too")
        metrics = meter.finish()
        self.assertEqual(metrics.test_id, "tests.Spare.test_it")
        self.assertLess(metrics.total_ms, 100, "the time the spare waited is not the test's")

    def test_without_a_spare_a_new_meter_is_made_and_at_most_one_spare_is_kept(self):
        first = TestMeter.start("a")
        TestMeter.make_spare()
        TestMeter.make_spare()
        self.assertEqual(len(meter_module._spares), 1)
        self.assertIsNot(TestMeter.start("b"), first)


class DebugTests(unittest.TestCase):
    def test_debug_rolls_the_test_back(self):
        case = overlap.Debugged
        case.setUpClass()
        try:
            case("test_writes_a_user").debug()
            transaction = case._tddkit_class_transaction()
            self.assertFalse(transaction.in_use, "the test ended")
            self.assertEqual(transaction.conn.execute("SELECT count(*) FROM users").fetchone(), (0,))
        finally:
            case.tearDownClass()


if __name__ == "__main__":
    unittest.main()
