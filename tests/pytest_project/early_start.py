"""A module that takes a while to import: the run's test database appears meanwhile (the session started early)."""
import os
import time

import psycopg


def _database_appeared(seconds=30):
    deadline = time.monotonic() + seconds
    ours = f"tddkit\\_{os.getpid()}\\_%"  # the test database of this process (see TestDatabase)
    with psycopg.connect(os.environ["SERVER_DSN"], autocommit=True) as conn:
        while time.monotonic() < deadline:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname LIKE %s", (ours,)).fetchone():
                return True
            time.sleep(0.01)
    return False


APPEARED_WHILE_IMPORTING = _database_appeared()


def test_the_session_started_while_this_module_imported(tddkit_conn):
    assert APPEARED_WHILE_IMPORTING
