"""Inner suite for test_client_state: a class that changes the Python side of its connections."""

import psycopg
from psycopg.rows import dict_row
from psycopg.types.string import TextLoader

import tddkit


class UpperLoader(TextLoader):
    def load(self, data):
        return super().load(data).upper()


def change_everything(conn):
    conn.row_factory = dict_row
    conn.cursor_factory = psycopg.Cursor
    conn.server_cursor_factory = psycopg.ServerCursor
    conn.prepare_threshold = 0
    conn.prepared_max = 7
    conn.adapters.register_loader("text", UpperLoader)
    conn.add_notice_handler(lambda diag: None)
    conn.add_notify_handler(lambda notify: None)


class ChangesClientState(tddkit.TDDTestCase):
    @classmethod
    def setUpTestData(cls):
        change_everything(cls.conn)

    def test_sees_its_own_changes(self):
        self.assertEqual(self.conn.execute("SELECT 'abc'::text AS t").fetchone(), {"t": "ABC"})

    def test_changes_an_extra_connection_too(self):
        change_everything(self.extra_connection())
