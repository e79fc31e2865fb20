"""The OS account that runs the server's processes (PostgreSQL refuses to run as root)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pwd
import subprocess
from pathlib import Path

from ..errors import ServerError

UNPRIVILEGED_ACCOUNTS = ("postgres", "nobody")


@dataclasses.dataclass(frozen=True)
class Account:
    """The OS account that runs the server processes (None fields: the current user)."""

    uid: int | None = None
    gid: int | None = None
    name: str = ""

    @classmethod
    def for_server(cls) -> Account:
        """The current user, or an unprivileged account when running as root."""
        if os.geteuid() != 0:
            return cls(name=pwd.getpwuid(os.geteuid()).pw_name)
        for name in UNPRIVILEGED_ACCOUNTS:
            with contextlib.suppress(KeyError):
                entry = pwd.getpwnam(name)
                return cls(entry.pw_uid, entry.pw_gid, name)
        raise ServerError(
            "tddkit runs as root and PostgreSQL refuses to: create an unprivileged 'postgres' account "
            "(useradd --system postgres), run as another user, or pass --dsn URL"
        )

    @property
    def extra_groups(self) -> list[int] | None:
        """``subprocess``'s ``extra_groups``: none at all for another account, unchanged for ours."""
        return [] if self.uid is not None else None

    def run(self, args: list[str], *, cwd: str | None = None, timeout: float | None = None,
            stdin: int | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run a program as this account, capturing its output (``env``: its whole environment, if given)."""
        return subprocess.run(args, user=self.uid, group=self.gid, extra_groups=self.extra_groups,
                              capture_output=True, text=True, cwd=cwd, timeout=timeout, stdin=stdin, env=env)

    def chown_tree(self, path: Path) -> None:
        """Give ``path`` and everything below it to this account (no-op for the current user)."""
        if self.uid is None or self.gid is None:
            return
        os.chown(path, self.uid, self.gid)
        for root, dirs, files in os.walk(path):
            for name in dirs + files:
                os.lchown(os.path.join(root, name), self.uid, self.gid)
