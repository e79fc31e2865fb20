"""Who may connect to an embedded server: its pg_hba.conf, and the password of one that listens on TCP.

Every embedded cluster trusts its unix socket and nothing else. The socket
lives in the server's run directory, which only the runner and the server's
account can enter (mode 0700), so trusting it trusts exactly those two. A
server started with TCP on (``python -m tddkit server start``) also accepts
``scram-sha-256`` logins on 127.0.0.1 with a random password made for that
server alone.
"""

from __future__ import annotations

import secrets
from pathlib import Path

#: The server's superuser role, made by initdb.
SUPERUSER = "postgres"

#: pg_hba.conf of every cached cluster (written after initdb, replacing initdb's own).
HBA_SOCKET_ONLY = """\
# Written by tddkit. Only the unix socket is trusted: it lives in the run directory,
# which only the runner and the server's account can enter (0700). Anything else,
# TCP included, matches no line and is refused.
local all all trust
"""

#: Added to the run copy's pg_hba.conf when the server listens on TCP.
HBA_TCP = """\
# TCP (python -m tddkit server start): loopback only, and only with this server's password.
host all all 127.0.0.1/32 scram-sha-256
"""

#: Server settings of a server that listens on TCP.
TCP_SETTINGS = {"listen_addresses": "127.0.0.1", "password_encryption": "scram-sha-256"}

#: ... and of one that does not (the default): no TCP socket at all.
SOCKET_ONLY_SETTINGS = {"listen_addresses": ""}


def write_hba(data_dir: Path, tcp: bool = False) -> None:
    """Write the cluster's pg_hba.conf: the socket only, plus password logins on loopback if ``tcp``."""
    (data_dir / "pg_hba.conf").write_text(HBA_SOCKET_ONLY + (HBA_TCP if tcp else ""))


def new_password() -> str:
    """A random password for one server (URL-safe, so it goes into a URL as it is)."""
    return secrets.token_urlsafe(24)


def set_password(socket_dsn: str, password: str) -> None:
    """Give the superuser ``password`` (stored as a SCRAM verifier), connecting through the socket."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(socket_dsn, autocommit=True, connect_timeout=10) as conn:
        conn.execute("SET password_encryption = 'scram-sha-256'")
        conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(SUPERUSER), sql.Literal(password)))
