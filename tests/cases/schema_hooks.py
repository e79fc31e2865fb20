"""Schema hooks for test_schema: each call is counted, so a reused template shows as no call."""

CALLS = []


def create_audit_table(conn):
    CALLS.append(conn.info.dbname)
    conn.execute("CREATE TABLE audit (id serial PRIMARY KEY, note text)")


def slow_create_audit_table(conn):
    conn.execute("SELECT pg_sleep(0.3)")
    create_audit_table(conn)


#: The seed file load_seed reads (set by the test).
SEED = {"path": None}


def load_seed(conn):
    """Create the audit table and fill it from the seed file, as a hook that reads data files does."""
    create_audit_table(conn)
    with open(SEED["path"]) as fh:
        for line in fh:
            conn.execute("INSERT INTO audit (note) VALUES (%s)", (line.strip(),))


def asserts_on_its_seed(conn):
    raise ValueError("the seed data has no admin user")  # RAISES HERE
