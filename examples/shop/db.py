"""The application's connection pool, created at import time like most applications do.

In production it connects to ``SHOP_DATABASE_URL``. The tests never open it:
they replace it with the test's pool (``mock.patch("examples.shop.db.pool",
self.pool)``), so the service code runs unchanged inside the test's transaction.
"""

import os

from psycopg_pool import ConnectionPool

pool = ConnectionPool(os.environ.get("SHOP_DATABASE_URL", "dbname=shop"), open=False)
