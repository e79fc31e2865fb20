"""N+1 detection under ``filterwarnings = error``: catalog lookups and fixture statements are no N+1, a loop of
per-row lookups in a test body is one, and no tddkit warning turns a passing test into an error."""

import pytest

sqlalchemy = pytest.importorskip("sqlalchemy")

metadata = sqlalchemy.MetaData()
for number in range(12):
    sqlalchemy.Table(f"many_{number}", metadata, sqlalchemy.Column("id", sqlalchemy.Integer, primary_key=True))


def lookup_each(conn, count):
    for user_id in range(count):
        conn.execute("SELECT name FROM users WHERE id = %s", (user_id,)).fetchone()  # the N+1 line


@pytest.fixture
def many_tables(tddkit_sqlalchemy_session):
    """Tables made and dropped one by one, each checked first: one catalog lookup per table, before and after
    the test (SQLAlchemy 2.0's create_all and drop_all do the same)."""
    connection = tddkit_sqlalchemy_session.connection()
    for table in metadata.sorted_tables:
        table.create(connection, checkfirst=True)
    yield connection
    for table in metadata.sorted_tables:
        table.drop(connection, checkfirst=True)


@pytest.fixture
def looked_up(tddkit_conn):
    """A fixture that repeats a statement while it sets up and while it tears down."""
    lookup_each(tddkit_conn, 12)
    yield tddkit_conn
    lookup_each(tddkit_conn, 12)


def test_tables_made_by_a_fixture(many_tables):
    assert many_tables.execute(sqlalchemy.text("SELECT count(*) FROM many_0")).scalar() == 0


def test_statements_repeated_by_a_fixture(looked_up):
    assert looked_up.execute("SELECT count(*) FROM users").fetchone() == (0,)


def test_catalog_lookups_in_the_body(tddkit_sqlalchemy_session, tddkit_conn):
    connection = tddkit_sqlalchemy_session.connection()
    metadata.create_all(connection)
    inspector = sqlalchemy.inspect(connection)
    assert all(inspector.has_table(table.name) for table in metadata.sorted_tables)
    metadata.drop_all(connection)
    for table in metadata.sorted_tables:
        tddkit_conn.execute("SELECT oid FROM pg_type WHERE typname = %s", (table.name,))
        tddkit_conn.execute("SELECT count(*) FROM information_schema.columns WHERE table_name = %s", (table.name,))


def test_a_genuine_n_plus_one(looked_up):
    for user_id in range(11):
        looked_up.execute("SELECT name FROM users WHERE id = %s", (user_id,))  # the body's line


def test_a_metric_over_its_threshold(tddkit_record_metric):
    tddkit_record_metric("render_ms", 50)
