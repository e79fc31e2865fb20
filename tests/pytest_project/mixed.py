import os
import sys


def test_uses_the_database(tddkit_conn):
    tddkit_conn.execute("SELECT 1")


def test_needs_no_database():
    assert os.listdir(os.environ["TDDKIT_RUN_DIR"]) == []  # no embedded server (its run directory) now
    if os.environ.get("NOTHING_STARTED"):
        assert "tddkit.session.session" not in sys.modules
