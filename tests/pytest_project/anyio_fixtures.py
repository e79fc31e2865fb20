"""The async fixtures' tests of test_async_fixtures.py, run by anyio's plugin (without pytest-asyncio)."""

import pytest
from test_async_fixtures import (  # noqa: F401 - collected here, under this module's mark
    test_a_duplicate_fails_and_the_session_recovers,
    test_nothing_left,
    test_the_pool_and_a_session_share_the_test,
    test_writes_on_the_async_connection,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"
