"""The databases tddkit owns, and the only ways it creates, lists and drops databases.

tddkit creates, writes and drops only databases whose names start with
``tddkit_``; any other name is refused with OwnershipError. A run's test
databases carry a comment naming the process that made them; a later run
drops those whose process has certainly ended (a run killed by SIGKILL),
never one a live run uses.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, List, Optional

from .errors import ConfigError, OwnershipError
from .liveness import process_gone, process_identity

if TYPE_CHECKING:
    import psycopg

OWNED_PREFIX = "tddkit_"

#: How long a drop waits for sessions that are ending anyway: DROP DATABASE itself re-checks every 0.1 s.
SESSION_END_WAIT = 0.1

#: The comment of a test database: the process that made it (see ``liveness``) follows.
OWNER_COMMENT = "tddkit test database of process "


def ensure_owned(name: str) -> str:
    """Return ``name`` if tddkit owns it (prefix ``tddkit_``), else raise OwnershipError."""
    if not name.startswith(OWNED_PREFIX):
        raise OwnershipError(
            f"refusing to create, drop or write database {name!r}: tddkit only touches databases "
            f"whose names start with {OWNED_PREFIX!r}"
        )
    return name


def databases_like(admin: "psycopg.Connection", pattern: str) -> List[str]:
    """Names of the server's databases matching a LIKE ``pattern``."""
    rows = admin.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (pattern,)).fetchall()
    return [row[0] for row in rows]


def drop_database(admin: "psycopg.Connection", name: str, force: bool = True, strict: bool = False) -> None:
    """Drop a database tddkit owns, if it exists; ``force`` ends its sessions first.

    A database still in use (another run cloning a template, a prepared
    transaction) is left for a later run to drop, or, with ``strict``, the
    error is raised.
    """
    import psycopg
    from psycopg import sql

    statement = "DROP DATABASE IF EXISTS {} WITH (FORCE)" if force else "DROP DATABASE IF EXISTS {}"
    _wait_for_sessions_to_end(admin, name)
    try:
        admin.execute(sql.SQL(statement).format(sql.Identifier(ensure_owned(name))))
    except psycopg.errors.ObjectInUse:
        if strict:
            raise


def _wait_for_sessions_to_end(admin: "psycopg.Connection", name: str) -> None:
    """Give sessions that are already ending (a pool just closed) up to 0.1 s to go.

    DROP DATABASE finds them still there and then sleeps a whole 0.1 s before
    it looks again; a closed connection's backend is gone within a few ms.
    """
    deadline = time.monotonic() + SESSION_END_WAIT
    while time.monotonic() < deadline:
        row = admin.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (name,)).fetchone()
        if row is None or row[0] == 0:
            return
        time.sleep(0.002)


def create_database(admin: "psycopg.Connection", name: str, template: Optional[str] = None) -> None:
    """``CREATE DATABASE name [TEMPLATE template]``; a role that may not is a one-line ConfigError."""
    import psycopg
    from psycopg import sql

    statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(ensure_owned(name)))
    if template is not None:
        statement = sql.SQL("{} TEMPLATE {}").format(statement, sql.Identifier(template))
        if _copies_files_cheaply(admin):
            statement = sql.SQL("{} STRATEGY = FILE_COPY").format(statement)
    try:
        admin.execute(statement)
    except psycopg.errors.InsufficientPrivilege as exc:
        raise _cannot_create(admin, (exc.diag.message_primary or str(exc)).strip()) from None


def _copies_files_cheaply(admin: "psycopg.Connection") -> bool:
    """Whether cloning by copying files beats writing the clone to the WAL (PostgreSQL 15's default).

    Copying the files costs two checkpoints, which are cheap without fsync
    (tddkit's own servers run with fsync off): 8 ms against 21 ms for the first
    clone of a small template on a just started server. With fsync on, the
    default stays.
    """
    if admin.info.server_version < 150000:
        return False  # FILE_COPY is the only way before 15, and STRATEGY is not accepted
    row = admin.execute("SELECT current_setting('fsync')").fetchone()
    return row is not None and row[0] == "off"


def check_can_create(admin: "psycopg.Connection") -> None:
    """A one-line ConfigError now if the role may not create databases (before any worker tries)."""
    row = admin.execute("SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
    if row is not None and not row[0]:
        raise _cannot_create(admin, "permission denied to create database")


def _cannot_create(admin: "psycopg.Connection", reason: str) -> ConfigError:
    role = admin.info.user
    fix = f"give it the right (as a superuser: ALTER ROLE \"{role}\" CREATEDB)" if "create database" in reason \
        else "give it the rights tddkit needs"
    return ConfigError(f"PostgreSQL role {role!r} cannot create the test databases ({reason}): tddkit creates "
                       f"and drops databases of its own; {fix}, or put a role that can in --dsn / "
                       "TDDKIT_DATABASE_URL")


def mark_owner(admin: "psycopg.Connection", name: str) -> None:
    """Record in database ``name``'s comment that this process made it (see ``drop_dead_runs``)."""
    from psycopg import sql

    admin.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(
        sql.Identifier(ensure_owned(name)), sql.Literal(OWNER_COMMENT + process_identity())))


def drop_dead_runs(admin: "psycopg.Connection") -> List[str]:
    """Drop the test databases whose making process has certainly ended; return their names.

    A database another machine or container made, or one without tddkit's
    comment, is left alone: nothing proves its run is over.
    """
    import psycopg

    rows = admin.execute(
        "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database "
        "WHERE datname LIKE %s AND shobj_description(oid, 'pg_database') LIKE %s",
        (OWNED_PREFIX.replace("_", "\\_") + "%", OWNER_COMMENT + "%")).fetchall()
    dropped = []
    for name, comment in rows:
        if process_gone(comment[len(OWNER_COMMENT):]):
            try:
                drop_database(admin, name, strict=True)
            except psycopg.Error:
                continue  # in use after all (a prepared transaction), or another role's: left alone
            dropped.append(name)
    return dropped
