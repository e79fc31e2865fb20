"""The embedded server's command line: settings tuned for tests, and where it listens (socket, or TCP too)."""

from __future__ import annotations

import socket
from pathlib import Path

from .access import SOCKET_ONLY_SETTINGS, TCP_SETTINGS
from .binaries import PgBinaries

#: Server settings for tests: durability off, nothing that adds latency.
TEST_SERVER_SETTINGS: dict[str, str] = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "jit": "off",
    "max_connections": "200",
    "shared_buffers": "128MB",
    "max_prepared_transactions": "20",
    "logging_collector": "off",
    "log_min_messages": "warning",
    "autovacuum": "off",
    "track_commit_timestamp": "on",  # the leak check needs nothing in the test database (see isolation.leaks)
    "min_wal_size": "2MB",  # with 1 MB WAL segments (see INITDB_OPTIONS): small clusters copy fast
}

#: The port of a server that listens on its unix socket only: it just names the socket file
#: (``.s.PGSQL.5432``) in the server's own run directory, so every server can use it.
SOCKET_ONLY_PORT = 5432


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_port(tcp: bool) -> int:
    """The port to start on: a free loopback port with TCP, else the socket-only one."""
    return free_port() if tcp else SOCKET_ONLY_PORT


def postgres_args(binaries: PgBinaries, data_dir: Path, run_dir: Path, port: int, tcp: bool) -> list[str]:
    """``postgres`` with the test settings, its socket in ``run_dir``, and TCP on loopback only if ``tcp``."""
    args = [binaries.path("postgres"), "-D", str(data_dir), "-p", str(port), "-k", str(run_dir)]
    for key, value in {**TEST_SERVER_SETTINGS, **(TCP_SETTINGS if tcp else SOCKET_ONLY_SETTINGS)}.items():
        args += ["-c", f"{key}={value}"]
    return args
