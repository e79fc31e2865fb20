import pytest


@pytest.fixture(scope="session")
def everything(tddkit_conn):
    return tddkit_conn


def test_uses_it(everything):
    pass
