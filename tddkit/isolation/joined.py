"""JoinedPool: a stand-in for psycopg_pool.ConnectionPool whose connections are the test's own, joined.

Hand it to application code wherever it expects a ``ConnectionPool`` (or
patch a module-level pool with it). Every connection it lends is the test's
connection in joined mode: ``with pool.connection() as conn`` runs inside a
savepoint, released at the end of the block (the app's commit) or rolled
back to on an exception; ``getconn()`` starts a unit of work that
``conn.commit()`` keeps within the test and ``conn.rollback()`` undoes;
``putconn()`` rolls back what was not committed, as psycopg_pool does. The
test's own rollback undoes all of it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..errors import TddkitError
from .connection import ConnectionState, GuardedConnection
from .joined_mode import Unit

if TYPE_CHECKING:
    from .class_transaction import ClassTransaction

OUTSIDE = (
    "{name} was used outside a test: its connections are the running test's own, so it only works inside a "
    "test method, setUp/tearDown or setUpTestData of {owner} (for code that runs at import time or in "
    "another process, use self.dsn)"
)


class JoinedPool:
    """The methods of ``psycopg_pool.ConnectionPool`` that application code uses, on the test's connection."""

    def __init__(self, transaction: ClassTransaction, *, name: str = "tddkit-joined") -> None:
        self._transaction = transaction
        self.name = name
        self.min_size = self.max_size = 1
        self.timeout = 30.0

    @property
    def closed(self) -> bool:
        """Never closed while a test can use it (closing it is a no-op, as the test owns the connection)."""
        return False

    def _connection(self) -> GuardedConnection:
        conn = self._transaction.active_connection()
        if conn is None:
            raise TddkitError(OUTSIDE.format(name=f"pool {self.name!r}", owner=self._transaction.name))
        return conn

    def getconn(self, timeout: float | None = None) -> GuardedConnection:
        """The test's connection, starting a unit of work (a savepoint)."""
        conn = self._connection()
        conn._tddkit.join()
        return conn

    def putconn(self, conn: GuardedConnection) -> None:
        """End the unit of work: what was not committed is rolled back."""
        conn._tddkit.end_unit(self._lent_unit(conn, conn))

    def _lent_unit(self, conn: Any, lent: Any) -> Unit:
        """The unit of work that ``putconn(conn)`` ends (``lent``: what this pool lends, the connection or its
        async view); a connection this pool did not lend, or one returned twice, is an error."""
        state: ConnectionState = conn._tddkit
        unit = state.app_unit()
        if lent is not conn or state.conn is not self._transaction.conn or unit is None:
            raise TddkitError(f"putconn() of a connection pool {self.name!r} did not lend (or returned twice)")
        return unit

    @contextlib.contextmanager
    def connection(self, timeout: float | None = None) -> Iterator[GuardedConnection]:
        """A unit of work: kept within the test when the block ends normally, rolled back on an exception."""
        conn = self._connection()
        unit = conn._tddkit.join()
        try:
            yield conn
        except BaseException:
            conn._tddkit.end_unit(unit)
            raise
        conn._tddkit.end_unit(unit, commit=True)

    # --- the rest of ConnectionPool's interface: nothing to do for one borrowed connection -------------

    def open(self, wait: bool = False, timeout: float = 30.0) -> None:
        """Nothing to open: the test's connection is already open."""

    def close(self, timeout: float = 5.0) -> None:
        """Nothing to close: the test owns the connection (it is rolled back after the test)."""

    def wait(self, timeout: float = 30.0) -> None:
        """Ready at once."""

    def check(self) -> None:
        """Nothing to check: the test's connection is checked by tddkit."""

    def resize(self, min_size: int, max_size: int | None = None) -> None:
        """Sizes are fixed: one connection, the test's."""

    def drain(self) -> None:
        """Nothing to drain."""

    def get_stats(self) -> dict[str, int]:
        """psycopg_pool-style statistics of the one connection."""
        return {"pool_min": 1, "pool_max": 1, "pool_size": 1, "pool_available": 1, "requests_waiting": 0}

    def pop_stats(self) -> dict[str, int]:
        return self.get_stats()

    def __enter__(self) -> JoinedPool:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<JoinedPool {self.name!r} of {self._transaction.name}>"
