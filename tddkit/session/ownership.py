"""The databases tddkit owns, and the only ways it creates, lists and drops databases.

tddkit creates, writes and drops only databases whose names start with
``tddkit_``; any other name is refused with OwnershipError. Every database
``create_database`` makes is marked at once: its comment names the process
that made it (a schema template's comment says when and for which project it
was built instead). ``drop_database`` drops only a database carrying one of
these marks: one of that name without it was not made by tddkit (or a crash
came between its CREATE and its COMMENT), and is refused in one line. A
later run drops the test databases whose process has certainly ended (a run
killed by SIGKILL), never one a live run uses.
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING

from ..config.settings import OWNED_PREFIX
from ..errors import ConfigError, OwnershipError
from ..server.liveness import process_gone, process_identity

if TYPE_CHECKING:
    import psycopg


#: How long a drop waits for sessions that are ending anyway: DROP DATABASE itself re-checks every 0.1 s.
SESSION_END_WAIT = 0.1

#: The comment of a test database: the process that made it (see ``liveness``) follows.
OWNER_COMMENT = "tddkit test database of process "

#: The comment of a schema template: ``<ISO time> for <project directory>`` follows.
TEMPLATE_COMMENT = "tddkit schema template built "

#: PostgreSQL cuts longer names (NAMEDATALEN - 1): a cut name would be another database than the one meant.
MAX_NAME_BYTES = 63


def ensure_owned(name: str) -> str:
    """Return ``name`` if tddkit owns it (prefix ``tddkit_``), else raise OwnershipError."""
    if not name.startswith(OWNED_PREFIX):
        raise OwnershipError(
            f"refusing to create, drop or write database {name!r}: tddkit only touches databases "
            f"whose names start with {OWNED_PREFIX!r}"
        )
    if len(name.encode()) > MAX_NAME_BYTES:
        raise OwnershipError(f"database name {name!r} is longer than PostgreSQL's {MAX_NAME_BYTES} bytes (it "
                             "would be cut to another name): choose a shorter 'database'")
    return name


def worker_database_name(base: str, index: int) -> str:
    """The database of worker ``index`` of a run whose database is ``base`` (``--parallel``, pytest-xdist)."""
    return ensure_owned(f"{base}_w{index}")


def is_marked(comment: str | None) -> bool:
    """Whether a database comment is tddkit's mark: a test database's or a schema template's."""
    return comment is not None and comment.startswith((OWNER_COMMENT, TEMPLATE_COMMENT))


def database_comment(admin: psycopg.Connection, name: str) -> str | None:
    """The comment of database ``name``: "" when it has none, None when there is no such database."""
    row = admin.execute("SELECT coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database "
                        "WHERE datname = %s", (name,)).fetchone()
    return None if row is None else row[0]


def not_ours(name: str, way_out: str = "") -> OwnershipError:
    """The one-line refusal to drop, replace or reuse database ``name``, which has no tddkit mark."""
    way_out = way_out or "rename it or, if nothing in it is needed, drop it yourself"
    return OwnershipError(
        f"database {name!r} exists but tddkit cannot prove it made it (its comment has no tddkit mark), so tddkit "
        f"will not drop, replace or reuse it: {way_out} (DROP DATABASE \"{name}\")")


def databases_like(admin: psycopg.Connection, pattern: str) -> list[str]:
    """Names of the server's databases matching a LIKE ``pattern``."""
    rows = admin.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (pattern,)).fetchall()
    return [row[0] for row in rows]


def marked_databases_like(admin: psycopg.Connection, pattern: str) -> list[str]:
    """Names of the databases matching a LIKE ``pattern`` that carry tddkit's mark (see ``is_marked``)."""
    rows = admin.execute("SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database "
                         "WHERE datname LIKE %s", (pattern,)).fetchall()
    return [name for name, comment in rows if is_marked(comment)]


def drop_database(admin: psycopg.Connection, name: str, force: bool = True, strict: bool = False) -> None:
    """Drop a database tddkit made, if it exists; ``force`` ends its sessions first.

    One without tddkit's mark is refused (OwnershipError), as is one whose
    owner is another role. A database still in use (another run cloning a
    template, a prepared transaction) is left for a later run to drop, or,
    with ``strict``, the error is raised.
    """
    import psycopg
    from psycopg import sql

    comment = database_comment(admin, ensure_owned(name))
    if comment is None:
        return
    if not is_marked(comment):
        raise not_ours(name)
    statement = "DROP DATABASE IF EXISTS {} WITH (FORCE)" if force else "DROP DATABASE IF EXISTS {}"
    _wait_for_sessions_to_end(admin, name)
    try:
        admin.execute(sql.SQL(statement).format(sql.Identifier(name)))
    except psycopg.errors.ObjectInUse:
        if strict:
            raise
    except psycopg.errors.InsufficientPrivilege:
        raise OwnershipError(f"database {name!r} belongs to another PostgreSQL role than {admin.info.user!r}, "
                             "so tddkit cannot drop it: drop it as its owner, or use that role") from None


def _wait_for_sessions_to_end(admin: psycopg.Connection, name: str) -> None:
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


def create_database(admin: psycopg.Connection, name: str, template: str | None = None) -> None:
    """``CREATE DATABASE name [TEMPLATE template]``, marked as this process's at once (see ``mark_owner``);
    a role that may not create it is a one-line ConfigError.

    If marking fails (the connection is lost, Ctrl-C), the database just made
    is dropped again: only a process killed between the two statements
    leaves an unmarked one, which no run then touches.
    """
    import psycopg
    from psycopg import sql

    identifier = sql.Identifier(ensure_owned(name))
    statement = sql.SQL("CREATE DATABASE {}").format(identifier)
    if template is not None:
        statement = sql.SQL("{} TEMPLATE {}").format(statement, sql.Identifier(template))
        if _copies_files_cheaply(admin):
            statement = sql.SQL("{} STRATEGY = FILE_COPY").format(statement)
    try:
        admin.execute(statement)
    except psycopg.errors.InsufficientPrivilege as exc:
        raise _cannot_create(admin, (exc.diag.message_primary or str(exc)).strip()) from None
    try:
        mark_owner(admin, name)
    except BaseException:
        with contextlib.suppress(psycopg.Error):  # made by the statement above: certainly this process's
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(identifier))
        raise


def _copies_files_cheaply(admin: psycopg.Connection) -> bool:
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


def check_can_create(admin: psycopg.Connection) -> None:
    """A one-line ConfigError now if the role may not create databases (before any worker tries)."""
    row = admin.execute("SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
    if row is not None and not row[0]:
        raise _cannot_create(admin, "permission denied to create database")


def _cannot_create(admin: psycopg.Connection, reason: str) -> ConfigError:
    role = admin.info.user
    fix = f"give it the right (as a superuser: ALTER ROLE \"{role}\" CREATEDB)" if "create database" in reason \
        else "give it the rights tddkit needs"
    return ConfigError(f"PostgreSQL role {role!r} cannot create the test databases ({reason}): tddkit creates "
                       f"and drops databases of its own; {fix}, or put a role that can in --dsn / "
                       "TDDKIT_DATABASE_URL")


def mark_owner(admin: psycopg.Connection, name: str) -> None:
    """Record in database ``name``'s comment that this process made it (see ``drop_dead_runs``)."""
    _comment_on(admin, name, OWNER_COMMENT + process_identity())


def mark_template(admin: psycopg.Connection, name: str, built_at: str, project: str) -> None:
    """Mark database ``name`` (made by ``create_database``) as a schema template built at ``built_at`` for the
    project in directory ``project``."""
    _comment_on(admin, name, f"{TEMPLATE_COMMENT}{built_at} for {project}")


def _comment_on(admin: psycopg.Connection, name: str, comment: str) -> None:
    from psycopg import sql

    admin.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(sql.Identifier(ensure_owned(name)),
                                                                 sql.Literal(comment)))


def drop_dead_runs(admin: psycopg.Connection) -> list[str]:
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
            except (psycopg.Error, OwnershipError):
                continue  # in use after all (a prepared transaction), or another role's: left alone
            dropped.append(name)
    return dropped
