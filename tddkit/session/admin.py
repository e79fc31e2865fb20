"""Connections to a server's maintenance database, and what to say when connecting fails."""

from __future__ import annotations

import os
import re

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from ..errors import ConfigError, ServerError, one_line


def redact(dsn: str) -> str:
    """A DSN fit for messages: the password replaced by ***."""
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "<unparsable DSN>"
    if params.get("password"):
        params["password"] = "***"
    return make_conninfo("", **params)


def hide_password(text: str) -> str:
    """``text`` with anything that looks like a password in a URL or key=value DSN replaced by ***.

    For text that may not parse as a DSN (``redact`` needs one that does).
    """
    text = re.sub(r"(://[^:/@\s]*:)[^@\s]*@", r"\1***@", text)
    return re.sub(r"(password\s*=\s*)('[^']*'|\S+)", r"\1***", text, flags=re.IGNORECASE)


#: Appended to the DSN's options on tddkit's own connections: a statement_timeout meant for the tests must
#: not cancel CREATE DATABASE or the checks before it.
OWN_OPTIONS = "-c statement_timeout=0"


def own_options(dsn: str) -> str:
    """The DSN's ``options`` (else PGOPTIONS, which a given ``options`` replaces) with ``OWN_OPTIONS`` after them."""
    given = conninfo_to_dict(dsn).get("options") or os.environ.get("PGOPTIONS", "")
    return f"{given} {OWN_OPTIONS}".strip()


def connect_admin(dsn: str) -> psycopg.Connection:
    """An autocommit connection to the server's maintenance database, with a clear error; the DSN's
    statement_timeout does not apply to it."""
    try:
        return psycopg.connect(dsn, autocommit=True, connect_timeout=10, options=own_options(dsn))
    except psycopg.ProgrammingError as exc:
        reason = one_line(exc)
        raise ConfigError(
            f"invalid DSN {hide_password(dsn)!r}: {hide_password(reason)}; "
            "expected e.g. postgresql://user:password@host:5432/postgres or 'host=... port=... user=...'"
        ) from None
    except psycopg.OperationalError as exc:
        raise connection_error(dsn, exc) from None


def connection_error(dsn: str, exc: psycopg.OperationalError) -> ServerError:
    """A one-line ServerError saying why connecting to ``dsn`` failed and what to change."""
    reason = one_line(exc)
    where = redact(dsn)
    if "password authentication failed" in reason:
        return ServerError(
            f"PostgreSQL at {where} rejected the password ({reason.rsplit('FATAL:', 1)[-1].strip()}): put the "
            "right one in --dsn / TDDKIT_DATABASE_URL (postgresql://USER:PASSWORD@HOST:PORT/DB), PGPASSWORD "
            "or ~/.pgpass"
        )
    if "no password supplied" in reason:
        return ServerError(
            f"PostgreSQL at {where} asks for a password and none was given: add it to --dsn / "
            "TDDKIT_DATABASE_URL (postgresql://USER:PASSWORD@HOST:PORT/DB), PGPASSWORD or ~/.pgpass"
        )
    return ServerError(
        f"cannot connect to PostgreSQL at {where}: {reason}; check --dsn / TDDKIT_DATABASE_URL "
        "(host, port, user, password) or unset it to use the embedded server"
    )
