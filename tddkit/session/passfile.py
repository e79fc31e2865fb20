"""DSNs without their password: libpq reads it from a passfile tddkit writes, so no DSN tddkit hands out shows it.

Tests print DSNs (pytest shows a failing test's fixture values and the
strings an assertion compared), and CI keeps that output. So when the
server's DSN (``--dsn``, ``TDDKIT_DATABASE_URL``, ``dsn`` in the config)
has a password, the session's DSNs (``server_dsn``, ``dsn``, and from them
``self.dsn`` and the ``tddkit_dsn`` fixture) name a ``passfile=`` instead:
a file only this user can read (0600, in a 0700 directory where run
directories go), removed when the session closes; a killed run's is
removed by the next run. Whoever is given such a DSN connects as with the
password: psycopg in the process, a subprocess, psql.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from ..server.leftovers import owned_tempdir, reclaim
from ..server.locations import default_run_base

#: The passfile's directory: ``tddkit-auth-<pid>@<host>-...``.
PREFIX = "tddkit-auth-"


def _field(value: str) -> str:
    """A passfile field: ``\\`` and ``:`` escaped, as libpq reads them."""
    return value.replace("\\", "\\\\").replace(":", "\\:")


class PassFile:
    """The passfile of one session (made when a DSN with a password is first hidden)."""

    def __init__(self) -> None:
        self.path: Path | None = None

    def hide(self, dsn: str) -> str:
        """``dsn`` without its password, naming a passfile that holds it instead (``dsn`` itself if it has none)."""
        params = conninfo_to_dict(dsn)
        password = params.pop("password", None)
        if not password:
            return dsn
        if self.path is None:
            base = default_run_base() or tempfile.gettempdir()
            reclaim(Path(base), PREFIX)
            self.path = owned_tempdir(PREFIX, base) / "pgpass"  # mkdtemp: 0700
        user = _field(str(params["user"])) if params.get("user") else "*"
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(f"*:*:*:{user}:{_field(str(password))}\n")
        return make_conninfo("", **{**params, "passfile": str(self.path)})

    def remove(self) -> None:
        """Delete the passfile and its directory (safe to call twice)."""
        path, self.path = self.path, None
        if path is not None:
            shutil.rmtree(path.parent, ignore_errors=True)
