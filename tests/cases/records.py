"""Small tests for runs of many: cheap database tests, and one that stops the run (Ctrl-C)."""

import tddkit


class Cheap(tddkit.TDDTestCase):
    def test_0(self):
        self.conn.execute("INSERT INTO users (email, name) VALUES ('c@example.org', 'c')")

    def test_1(self):
        self.assertEqual(self.conn.execute("SELECT count(*) FROM users").fetchone(), (0,))

    def test_2(self):
        pass


class Interrupts(tddkit.TDDTestCase):
    def test_interrupts(self):
        raise KeyboardInterrupt
