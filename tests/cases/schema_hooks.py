"""Schema hooks for test_schema: each call is counted, so a reused template shows as no call."""

CALLS = []


def create_audit_table(conn):
    CALLS.append(conn.info.dbname)
    conn.execute("CREATE TABLE audit (id serial PRIMARY KEY, note text)")


def slow_create_audit_table(conn):
    conn.execute("SELECT pg_sleep(0.3)")
    create_audit_table(conn)
