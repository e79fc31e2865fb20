"""``watch``'s session: replaced when its server is lost (killed, restarted, out of reach), ended at once.

The watch process notices that its own embedded server exited by polling
the server process (at each save, after each run and once a second while
idle). A server it does not own (``--dsn``, the ``server start`` one) is
found lost by the forked child: before it runs a batch, it sends one empty
statement on one of its pooled connections, and reports a broken one
instead of running the tests (``forked_run``). Either way the old session
is closed (its server stopped, its run directory removed) and a new one
started with the same settings: a new embedded server, or the DSN's server
again once it is back (the old test database, which could not be dropped
while the server was away, is dropped then). Until then every save tries
again. When watch ends, its embedded server stops at once, keeping no
snapshot of the template for the next start (that costs 0.3 s on an idle
machine and seconds on a busy one, and leaving watch must be instant).
"""

from __future__ import annotations

import contextlib
import sys

import psycopg

from ..config.settings import Settings
from ..errors import TddkitError, one_line
from ..session.admin import connect_admin
from ..session.ownership import drop_database
from ..session.session import Session, close_session, current_session, get_session


def exited_server(session: Session | None) -> str | None:
    """Why the embedded server ``session`` started has exited ("embedded PostgreSQL, pid N, was killed by
    SIGKILL"); None while it runs, or when the session's server is not its own."""
    server = session._server if session is not None else None
    return server.exit_reason() if server is not None else None


def reconnect(settings: Settings, lost: str, leftovers: set[str]) -> Session | None:
    """Close the process's session (its server is gone) and start a new one on ``settings``, without a pool
    (each forked child opens its own). One line says so, or why it cannot start (then None). ``leftovers``:
    the names of old test databases on a server this process does not own, dropped once it answers."""
    old = current_session()
    if old is not None and old._server is None and old._database is not None:
        leftovers.add(old._database.name)
    with contextlib.suppress(TddkitError, psycopg.Error):
        close_session()
    try:
        session = get_session(settings)
    except (TddkitError, psycopg.Error) as exc:
        print(f"tddkit: server lost ({lost}); no new session: {one_line(exc)} (still watching: the next save "
              "tries again)", file=sys.stderr, flush=True)
        return None
    if session._database is not None:
        session._database.close_pool()
    _drop(session, leftovers)
    print(f"tddkit: server lost ({lost}); now on {session._describe()}", file=sys.stderr, flush=True)
    return session


def end_session() -> None:
    """Close the process's session, its embedded server stopped at once (immediate shutdown, no snapshot)."""
    session = current_session()
    try:
        if session is not None and session._server is not None:
            session._server.stop()
    finally:
        close_session()


def _drop(session: Session, names: set[str]) -> None:
    """Drop the databases ``names`` (those of this process's earlier sessions) on the session's server, if there;
    what cannot be dropped now stays in ``names``."""
    if session._server is not None:
        return  # a new embedded server: they were on the old one
    with contextlib.suppress(TddkitError, psycopg.Error), connect_admin(session.server_dsn) as admin:
        for name in sorted(names):
            drop_database(admin, name)
            names.discard(name)
