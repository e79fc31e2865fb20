import pytest

sqlalchemy = pytest.importorskip("sqlalchemy")


def app_code(pool):
    """Application code: one INSERT through the pool, committed (a savepoint release of tddkit's, uncounted)."""
    with pool.connection() as conn:
        conn.execute("INSERT INTO users (email, name) VALUES ('a@example.org', 'a')")


def test_counts_the_conn_the_pool_and_sqlalchemy_not_tddkits_savepoints(tddkit_queries, tddkit_conn, tddkit_pool,
                                                                        tddkit_sqlalchemy_connection):
    with tddkit_queries.assert_num(3) as capture:
        app_code(tddkit_pool)
        tddkit_conn.execute("SELECT count(*) FROM users")
        tddkit_sqlalchemy_connection.execute(sqlalchemy.text("SELECT email FROM users"))
    assert [text.split()[0] for text, _ in capture.statements] == ["INSERT", "SELECT", "SELECT"]
    with tddkit_queries.assert_max(1):
        tddkit_conn.execute("SELECT 1")


def test_plans(tddkit_queries, tddkit_conn):
    with tddkit_queries.assert_num(0):
        plan = tddkit_queries.explain("DELETE FROM users WHERE email = %s", ("a@example.org",), analyze=True)
        tddkit_queries.assert_uses_index("SELECT * FROM users WHERE email = %s", ("a@example.org",),
                                         "users_email_key")
        tddkit_queries.assert_no_seq_scan("SELECT * FROM users WHERE id = %s", (1,), "users")
    assert plan["Plan"]["Node Type"] == "ModifyTable"


def test_fails_too_many(tddkit_queries, tddkit_conn, tddkit_pool):
    with tddkit_queries.assert_num(1):
        app_code(tddkit_pool)
        tddkit_conn.execute("SELECT name FROM users WHERE email = 'a@example.org'")


def test_fails_over_the_limit(tddkit_queries, tddkit_conn):
    with tddkit_queries.assert_max(1):
        tddkit_conn.execute("SELECT 1 AS first_statement")
        tddkit_conn.execute("SELECT 2 AS second_statement")


def test_fails_no_index(tddkit_queries):
    tddkit_queries.assert_uses_index("SELECT * FROM users WHERE name = %s", ("a",), "users_email_key")


def test_fails_seq_scan(tddkit_queries):
    tddkit_queries.assert_no_seq_scan("SELECT * FROM users WHERE name = %s", ("a",), "users")
