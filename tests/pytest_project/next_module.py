"""The next module sees none of the first module's data."""


def test_nothing_from_the_other_module(tddkit_conn):
    assert tddkit_conn.execute("SELECT count(*) FROM users").fetchone() == (0,)
