"""The schema source: what the test schema is made of, its content hash, and applying it.

The hash covers everything the schema is built from: the schema files'
paths and bytes, the ``schema_hook``'s qualified name and its module file's
bytes, the files matched by ``schema_inputs`` (seed data the hook reads),
an Alembic environment's files and the project modules they import,
``schema_version``, and the leak check's triggers when the template holds
them (a server without commit tracking, see ``isolation.leaks``). Any change gives a new
hash, hence a new template (see ``template``). Computing it imports none of
the project's code: the hook and the migrations are imported only to build.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib
import importlib.util
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config.paths import SCHEMA_RECORD_PATH
from ..config.settings import Settings
from ..errors import ConfigError, SchemaError, described
from ..isolation.leaks.triggers import INSTALL as LEAK_TRIGGERS
from ..isolation.leaks.triggers import install as install_leak_triggers
from .alembic_source import AlembicProject
from .source_files import in_project, module_file

if TYPE_CHECKING:
    import psycopg

#: Template databases are named ``tddkit_tpl_<project>_<fingerprint>`` (see ``SchemaSource.template_name``).
TEMPLATE_PREFIX = "tddkit_tpl_"


def _hook_module(spec: str) -> str:
    """The module of hook ``'package.module:function'`` (a one-line ConfigError when it is not that shape)."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"schema_hook {spec!r} must look like 'package.module:function'")
    return module_name


def load_hook(spec: str) -> Callable[[psycopg.Connection], Any]:
    """Import ``'package.module:function'``."""
    module_name, attr = _hook_module(spec), spec.partition(":")[2]
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
    #: The hook module's file (found without importing it).
    hook_file: Path | None = None
    #: The Alembic migration environment (``alembic_config``), upgraded to head after the files.
    alembic: AlembicProject | None = None
    #: Where the inputs of the last build are kept (see ``schema_record``).
    record: Path | None = None

    @classmethod
    def from_settings(cls, settings: Settings, leak_triggers: bool = False) -> SchemaSource:
        files = [settings.resolve(p) for p in settings.schema]
        missing = [str(p) for p in files if not p.is_file()]
        if missing:
            raise ConfigError(f"schema file not found: {', '.join(missing)} (check 'schema' in your tddkit config)")
        hook_file = _find_hook(settings.schema_hook) if settings.schema_hook else None  # fail now, not on build
        root = str(Path(settings.root or os.getcwd()).resolve())
        project = hashlib.sha256(root.encode()).hexdigest()[:8]
        return cls(files, settings.schema_hook, settings.schema_version, project, leak_triggers,
                   _matched_inputs(settings), root, hook_file, _alembic(settings), settings.resolve(SCHEMA_RECORD_PATH))

    @functools.cached_property
    def manifest(self) -> dict[str, str]:
        """What the template is made of: each file by its path (relative to the project) and a digest of its
        bytes; the settings that shape it by name. Every entry is part of the hash."""
        entries = {"schema_version": self.version, "schema_hook": self.hook or ""}
        if self.files:
            entries["schema order"] = ", ".join(self._label(p) for p in self.files)
        files = [*self.files, *([self.hook_file] if self.hook_file else [])]
        if self.alembic is not None:
            files += [*self.alembic.files(), *self.alembic.imports(Path(self.root))]
        for path in files:
            try:
                entries[self._label(path)] = _digest(path.read_bytes())
            except OSError as exc:
                raise ConfigError(f"{path} cannot be read ({exc.strerror}): the schema is built from it; make it "
                                  "readable") from None
        entries.update((self._label(p), _digest(_input_bytes(p))) for p in self.inputs)
        return entries

    def _label(self, path: Path) -> str:
        """``path`` relative to the project when it is the project's own, else absolute."""
        resolved = path.resolve()
        return str(resolved.relative_to(self.root)) if in_project(resolved, Path(self.root)) else str(resolved)

    @property
    def watched(self) -> list[Path]:
        """Every file the template is built from (what ``watch`` follows)."""
        return [Path(self.root, label) for label in self.manifest if label not in _SETTINGS]

    @functools.cached_property
    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for label, value in sorted(self.manifest.items()):
            digest.update(f"{label}\0{value}\0".encode())

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
        """Apply the project's schema only: the files, the migrations (``upgrade head``), then the hook."""
        import psycopg

        apply_schema_files(conn, self.files)
        if self.alembic is not None:
            self.alembic.upgrade(conn)
        if self.hook:
            try:
                load_hook(self.hook)(conn)
            except psycopg.Error as exc:
                raise SchemaError(f"schema_hook {self.hook!r} failed: {exc.diag.message_primary or exc}") from None
            except Exception as exc:
                raise SchemaError(f"schema_hook {self.hook!r} raised {described(exc)}") from None


#: Manifest entries that are settings, not files.
_SETTINGS = ("schema_version", "schema_hook", "schema order")


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _find_hook(spec: str) -> Path:
    """The file of the hook's module, found without importing it; a one-line ConfigError if there is none."""
    module_name = _hook_module(spec)
    path = module_file(module_name)
    if path is None:
        raise ConfigError(f"schema_hook {spec!r} cannot be loaded: No module named {module_name!r}")
    return path


def _alembic(settings: Settings) -> AlembicProject | None:
    """The Alembic environment of ``alembic_config``, if set (Alembic itself is needed only to build)."""
    if not settings.alembic_config:
        return None
    if importlib.util.find_spec("alembic") is None or importlib.util.find_spec("sqlalchemy") is None:
        raise ConfigError("alembic_config needs Alembic and SQLAlchemy: pip install 'tddkit[alembic]'")
    return AlembicProject.read(settings.resolve(settings.alembic_config), settings.alembic_url_env)


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
