"""A conftest.py whose plugin deselects the tests that use tddkit."""


def pytest_collection_modifyitems(config, items):
    items[:] = [item for item in items if "tddkit_conn" not in item.fixturenames]
