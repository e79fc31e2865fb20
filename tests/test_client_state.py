"""What a test sets on the psycopg Connection object does not follow the connection into the next class."""

import sys
import unittest
from pathlib import Path

if __name__ == "__main__":  # python tests/test_x.py: this checkout first on sys.path, not an installed tddkit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from psycopg.rows import tuple_row

import tddkit
from tddkit.isolation.connection import CountingCursor
from tests.cases import client_state
from tests.support import run_suite, suite_of


class ClientStateTests(unittest.TestCase):
    def test_every_pooled_connection_is_back_to_its_first_state(self):
        result = run_suite(suite_of(client_state.ChangesClientState))
        self.assertTrue(result.wasSuccessful(), result.output)
        lender = tddkit.get_session()._lender
        borrowed = [lender.getconn() for _ in range(lender.database.settings.pool_max_size)]
        try:
            for conn in borrowed:
                with self.subTest(backend=conn.info.backend_pid):
                    self.assertIs(conn.row_factory, tuple_row)
                    self.assertIs(conn.cursor_factory, CountingCursor)
                    self.assertEqual(conn.prepare_threshold, lender.database.settings.prepare_threshold)
                    self.assertEqual(conn.prepared_max, 100)
                    self.assertEqual(conn._notice_handlers, [])
                    self.assertEqual(conn._notify_handlers, [])
                    self.assertEqual(conn.execute("SELECT 'abc'::text").fetchone(), ("abc",))
        finally:
            for conn in borrowed:
                lender.putconn(conn)


if __name__ == "__main__":
    unittest.main()
