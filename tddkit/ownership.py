"""The databases tddkit owns, and the only ways it lists and drops databases.

tddkit creates, writes and drops only databases whose names start with
``tddkit_``; any other name is refused with OwnershipError.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, List

from .errors import OwnershipError

if TYPE_CHECKING:
    import psycopg

OWNED_PREFIX = "tddkit_"


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
    try:
        admin.execute(sql.SQL(statement).format(sql.Identifier(ensure_owned(name))))
    except psycopg.errors.ObjectInUse:
        if strict:
            raise
