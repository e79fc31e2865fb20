"""N+1 detection with the fixtures: a loop of per-row lookups, and the same loop marked as intended."""

import tddkit


def lookup_each(conn, count):
    for user_id in range(count):
        conn.execute("SELECT name FROM users WHERE id = %s", (user_id,)).fetchone()  # the N+1 line


def test_lookups(tddkit_conn):
    lookup_each(tddkit_conn, 12)


@tddkit.allow_repeated_queries
def test_allowed(tddkit_conn):
    lookup_each(tddkit_conn, 12)


def test_through_the_pool(tddkit_pool):
    with tddkit_pool.connection() as conn:
        lookup_each(conn, 16)
