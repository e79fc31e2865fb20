import os
import time


def test_waits_to_be_interrupted(tddkit_conn):
    tddkit_conn.execute("SELECT 1")
    open(os.environ["TDDKIT_TEST_STARTED"], "w").close()
    time.sleep(60)
