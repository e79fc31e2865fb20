"""Module data through tddkit_module_conn, class data through a class-scoped fixture, isolation between tests."""

import pytest


@pytest.fixture(scope="module")
def ada(tddkit_module_conn):
    return tddkit_module_conn.execute(
        "INSERT INTO users (email, name) VALUES ('ada@example.org', 'Ada') RETURNING id").fetchone()[0]


def count_users(conn):
    return conn.execute("SELECT count(*) FROM users").fetchone()[0]


def test_a_sees_module_data_and_inserts(tddkit_conn, ada):
    assert count_users(tddkit_conn) == 1
    tddkit_conn.execute("INSERT INTO users (email, name) VALUES ('same@example.org', 'a')")


def test_b_inserts_the_same_row(tddkit_conn, ada):
    tddkit_conn.execute("INSERT INTO users (email, name) VALUES ('same@example.org', 'b')")
    assert count_users(tddkit_conn) == 2


class TestWithClassData:
    @pytest.fixture(scope="class")
    @classmethod
    def grace(cls, tddkit_module_conn):
        tddkit_module_conn.execute("INSERT INTO users (email, name) VALUES ('grace@example.org', 'Grace')")

    def test_class_and_module_data(self, tddkit_conn, ada, grace):
        assert count_users(tddkit_conn) == 2

    def test_class_data_again(self, tddkit_conn, grace):
        assert count_users(tddkit_conn) == 2


def test_c_class_data_is_gone_after_the_class(tddkit_conn, ada):
    assert count_users(tddkit_conn) == 1


def test_d_pool_and_dsn(tddkit_pool, tddkit_conn):
    with tddkit_pool.connection() as conn:
        conn.execute("INSERT INTO users (email, name) VALUES ('app@example.org', 'app')")
    assert count_users(tddkit_conn) == 2
