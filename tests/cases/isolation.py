"""Inner suites for test_isolation (not collected by discovery: no test_ prefix)."""

import psycopg

import tddkit


class InsertsSameRow(tddkit.TDDTestCase):
    """Both tests insert the same unique row and expect to be alone: order must not matter."""

    def _insert_and_count(self):
        self.conn.execute("INSERT INTO users (email, name) VALUES ('same@example.org', 'same')")
        return self.conn.execute("SELECT count(*) FROM users").fetchone()[0]

    def test_a(self):
        self.assertEqual(self._insert_and_count(), 1)

    def test_b(self):
        self.assertEqual(self._insert_and_count(), 1)


class SharedData(tddkit.TDDTestCase):
    @classmethod
    def setUpTestData(cls):
        cls.conn.execute("INSERT INTO users (email, name) VALUES ('shared@example.org', 'shared')")

    def test_sees_shared_row(self):
        self.assertEqual(self.conn.execute("SELECT name FROM users").fetchall(), [("shared",)])
        self.conn.execute("DELETE FROM users")

    def test_sees_shared_row_again(self):
        self.assertEqual(self.conn.execute("SELECT name FROM users").fetchall(), [("shared",)])
        self.conn.execute("UPDATE users SET name = 'changed'")


class BreaksTransaction(tddkit.TDDTestCase):
    def test_a_unique_violation_uncaught(self):
        self.conn.execute("INSERT INTO users (email, name) VALUES ('dup@example.org', 'one')")
        self.conn.execute("INSERT INTO users (email, name) VALUES ('dup@example.org', 'two')")

    def test_b_next_test_works(self):
        self.conn.execute("INSERT INTO users (email, name) VALUES ('dup@example.org', 'three')")
        self.assertEqual(self.conn.execute("SELECT count(*) FROM users").fetchone()[0], 1)


class TriesToCommit(tddkit.TDDTestCase):
    def test_commit_method(self):
        self.conn.execute("INSERT INTO users (email, name) VALUES ('commit@example.org', 'c')")
        self.conn.commit()

    def test_raw_commit(self):
        self.conn.execute("INSERT INTO users (email, name) VALUES ('raw@example.org', 'r')")
        self.conn.execute("  commit")

    def test_autocommit(self):
        self.conn.autocommit = True

    def test_hidden_commit(self):
        self.conn.execute("INSERT INTO users (email, name) VALUES ('hidden@example.org', 'h'); COMMIT")

    def test_z_after_hidden_commit(self):
        self.assertEqual(self.conn.execute("SELECT count(*) FROM users").fetchone()[0], 0, "the committed row is gone")


class NestedTransactions(tddkit.TDDTestCase):
    def test_nested_block_rolls_back_alone(self):
        self.conn.execute("INSERT INTO users (email, name) VALUES ('outer@example.org', 'outer')")
        with self.assertRaises(psycopg.errors.UniqueViolation):
            with self.conn.transaction():
                self.conn.execute("INSERT INTO users (email, name) VALUES ('outer@example.org', 'dup')")
        with self.conn.transaction():
            self.conn.execute("INSERT INTO users (email, name) VALUES ('inner@example.org', 'inner')")
        names = [r[0] for r in self.conn.execute("SELECT name FROM users ORDER BY name")]
        self.assertEqual(names, ["inner", "outer"])


class HasAsyncTest(tddkit.TDDTestCase):
    async def test_async(self):
        raise AssertionError("never awaited")
