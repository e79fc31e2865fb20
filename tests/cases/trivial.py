"""A small passing suite for child-process runs."""

import tddkit


class Trivial(tddkit.TDDTestCase):
    def test_select(self):
        self.assertEqual(self.conn.execute("SELECT 1").fetchone(), (1,))

    def test_insert(self):
        self.conn.execute("INSERT INTO users (email, name) VALUES ('t@example.org', 't')")
        self.assertEqual(self.conn.execute("SELECT count(*) FROM users").fetchone(), (1,))
