"""The schema source: what the test schema is made of, its content hash, and applying it.

The hash covers everything the schema is built from: the schema files'
names and bytes, the ``schema_hook``'s qualified name and its module's
source, the files matched by ``schema_inputs`` (seed data the hook reads),
``schema_version``, and the leak check's triggers when the template holds
them (a server without commit tracking, see ``isolation.leaks``). Any change
gives a new hash, hence a new template (see ``template``).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config.settings import Settings
from ..errors import ConfigError, SchemaError
from ..isolation.leaks.triggers import INSTALL as LEAK_TRIGGERS
from ..isolation.leaks.triggers import install as install_leak_triggers

if TYPE_CHECKING:
    import psycopg

#: Template databases are named ``tddkit_tpl_<project>_<fingerprint>`` (see ``SchemaSource.template_name``).
TEMPLATE_PREFIX = "tddkit_tpl_"


def load_hook(spec: str) -> Callable[[psycopg.Connection], Any]:
    """Import ``'package.module:function'``."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"schema_hook {spec!r} must look like 'package.module:function'")
    try:
        hook: Callable[[psycopg.Connection], Any] = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"schema_hook {spec!r} cannot be loaded: {exc}") from None
    return hook


def _line_of(text: str, position: str | None) -> int | None:
    """1-based line of a 1-based character position reported by PostgreSQL."""
    if not position:
        return None
    return text.count("\n", 0, max(int(position) - 1, 0)) + 1


def apply_schema_files(conn: psycopg.Connection, files: list[Path]) -> int:
    """Run each SQL file in order; return how many; SchemaError names file, line and message."""
    import psycopg

    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise SchemaError(f"schema file {path} cannot be read: {exc.strerror}") from None
        except UnicodeDecodeError as exc:
            raise SchemaError(f"schema file {path} is not UTF-8 text (byte {exc.start}: {exc.reason}); save it as "
                              "UTF-8") from None
        try:
            conn.execute(text.encode(), prepare=False)
        except psycopg.Error as exc:
            line = _line_of(text, exc.diag.statement_position)
            where = f"{path}:{line}" if line else str(path)
            message = (exc.diag.message_primary or str(exc)).strip()
            raise SchemaError(f"schema error in {where}: {message}") from None
    return len(files)


@dataclasses.dataclass
class SchemaSource:
    """What the schema is made of, and its content hash."""

    files: list[Path]
    hook: str | None
    version: str
    project: str
    #: The template gets the leak check's triggers (the server does not track commit timestamps).
    leak_triggers: bool = False
    #: Files the hook reads (``schema_inputs``), sorted.
    inputs: list[Path] = dataclasses.field(default_factory=list)
    #: The project directory (where the config file is), for messages.
    root: str = ""

    @classmethod
    def from_settings(cls, settings: Settings, leak_triggers: bool = False) -> SchemaSource:
        files = [settings.resolve(p) for p in settings.schema]
        missing = [str(p) for p in files if not p.is_file()]
        if missing:
            raise ConfigError(f"schema file not found: {', '.join(missing)} (check 'schema' in your tddkit config)")
        if settings.schema_hook:
            load_hook(settings.schema_hook)  # fail now, before any server work
        root = str(Path(settings.root or os.getcwd()).resolve())
        project = hashlib.sha256(root.encode()).hexdigest()[:8]
        return cls(files, settings.schema_hook, settings.schema_version, project, leak_triggers,
                   _matched_inputs(settings), root)

    @functools.cached_property
    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for path in self.files:
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
        digest.update(f"hook={self.hook}\0version={self.version}".encode())
        if self.hook:
            digest.update(b"\0hook_source=" + _hook_source(self.hook))
        for path in self.inputs:
            digest.update(b"\0input=" + str(path).encode() + b"\0" + _input_bytes(path))
        if self.leak_triggers:
            digest.update(b"\0leak_check=" + LEAK_TRIGGERS.encode())
        return digest.hexdigest()[:16]

    @property
    def template_name(self) -> str:
        """The template database of this source: project and content hash."""
        return f"{TEMPLATE_PREFIX}{self.project}_{self.fingerprint}"

    def apply(self, conn: psycopg.Connection) -> None:
        """Apply the files, then the hook, on ``conn`` (committed by the caller)."""
        self.apply_schema(conn)
        if self.leak_triggers:
            install_leak_triggers(conn)

    def apply_schema(self, conn: psycopg.Connection) -> None:
        """Apply the project's schema only: the files, then the hook."""
        import psycopg

        apply_schema_files(conn, self.files)
        if self.hook:
            try:
                load_hook(self.hook)(conn)
            except psycopg.Error as exc:
                raise SchemaError(f"schema_hook {self.hook!r} failed: {exc.diag.message_primary or exc}") from None
            except Exception as exc:
                raise SchemaError(f"schema_hook {self.hook!r} raised {_described(exc)}") from None


def _described(exc: BaseException) -> str:
    """``Type: message (at file:line)``, the line being the innermost frame that raised it."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    message = str(exc)
    return f"{type(exc).__name__}{': ' + message if message else ''}{where}"


def _hook_source(spec: str) -> bytes:
    """The source of the hook's module (already imported by ``load_hook``); b"" when it has no file."""
    module = sys.modules.get(spec.partition(":")[0])
    path = getattr(module, "__file__", None)
    try:
        return Path(path).read_bytes() if path else b""
    except OSError:
        return b""


def _matched_inputs(settings: Settings) -> list[Path]:
    """The files matched by ``schema_inputs`` globs (relative to the config file's directory), sorted.

    A pattern may not leave that directory (``..``, an absolute path): it would
    walk the whole file system, /proc included.
    """
    found: list[Path] = []
    base = settings.resolve(".")
    for pattern in settings.schema_inputs:
        if Path(pattern).is_absolute() or ".." in Path(pattern).parts:
            raise ConfigError(f"schema_inputs pattern {pattern!r} leaves the project directory {base}; give a "
                              "pattern inside it (without '..'), and copy or link outside files into the project")
        try:
            matched = sorted(p for p in base.glob(pattern) if p.is_file())
        except OSError as exc:
            raise _unreadable(exc.filename, exc) from None
        if not matched:
            raise ConfigError(f"schema_inputs pattern {pattern!r} matches no file under {base}; fix the pattern "
                              "or remove it")
        found.extend(matched)
    return sorted(set(found))


def _input_bytes(path: Path) -> bytes:
    """The content of a ``schema_inputs`` file, or a one-line ConfigError naming it."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise _unreadable(path, exc) from None


def _unreadable(path: object, exc: OSError) -> ConfigError:
    return ConfigError(f"schema_inputs file {path} cannot be read ({exc.strerror}); make it readable or change "
                       "the pattern so it is left out")
