"""A suite with known, adjustable costs: the subject of test_baseline.

Every test runs a little SQL and sleeps ``BASE_MS * weight * FACTOR``. Change
``FACTOR`` to make the whole suite slower or faster, ``EXTRA_QUERIES`` to give
one test an N+1 query pattern. Both start from the environment
(``TDDKIT_REGRESSION_FACTOR``, ``TDDKIT_REGRESSION_EXTRA_QUERIES``) so that a
child ``python -m tddkit run`` can be slowed down too.
"""

import os
import time

import tddkit

BASE_MS = 5.0
FACTOR = float(os.environ.get("TDDKIT_REGRESSION_FACTOR", "1"))
EXTRA_QUERIES = int(os.environ.get("TDDKIT_REGRESSION_EXTRA_QUERIES", "0"))


def work(weight: float) -> None:
    """Sleep for this test's share of the suite's cost."""
    time.sleep(BASE_MS * weight * FACTOR / 1000)


class Regression(tddkit.TDDTestCase):
    @classmethod
    def setUpTestData(cls):
        cls.conn.execute("INSERT INTO users (email, name) VALUES ('base@example.org', 'base')")

    def test_select(self):
        self.assertEqual(self.conn.execute("SELECT count(*) FROM users").fetchone(), (1,))
        work(2)

    def test_insert(self):
        self.conn.execute("INSERT INTO users (email, name) VALUES ('new@example.org', 'new')")
        self.assertEqual(self.conn.execute("SELECT count(*) FROM users").fetchone(), (2,))
        work(2)

    def test_update(self):
        self.conn.execute("UPDATE users SET name = 'renamed'")
        work(3)

    def test_join(self):
        self.conn.execute("SELECT u.name, count(o.id) FROM users u LEFT JOIN orders o ON o.user_id = u.id "
                          "GROUP BY u.name").fetchall()
        work(3)

    def test_lookups(self):
        """One query per lookup: EXTRA_QUERIES adds more, like an N+1 pattern would."""
        for _ in range(1 + EXTRA_QUERIES):
            self.conn.execute("SELECT name FROM users WHERE email = %s", ("base@example.org",)).fetchone()
        work(4)

    def test_report(self):
        self.conn.execute("SELECT status, count(*) FROM orders GROUP BY status").fetchall()
        work(5)
