"""Settings and where they come from.

Precedence, highest first: CLI options > ``TDDKIT_*`` environment variables
(``DATABASE_URL`` too, for the DSN) > ``[tool.tddkit]`` in pyproject.toml >
``[tddkit]`` in setup.cfg > defaults.
"""

from __future__ import annotations

import configparser
import dataclasses
import difflib
import os
import sys
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

from .errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python < 3.11 only
    import tomli as tomllib

#: Performance targets in milliseconds (the performance guide's defaults).
DEFAULT_TARGETS: Dict[str, float] = {
    "individual_test": 100.0,
    "fixture_setup": 5.0,
    "connection_acquisition": 5.0,
    "schema_operation": 10.0,
    "cleanup": 5.0,
    "suite_20_tests": 5000.0,
}

#: Alert thresholds for recorded metrics (``record_metric`` and built-ins).
DEFAULT_THRESHOLDS: Dict[str, float] = {
    "test_duration_ms": 100.0,
    "fixture_setup_ms": 5.0,
    "memory_usage_mb": 10.0,
}

#: Limits of the CI gate (``--gate``).
DEFAULT_GATE: Dict[str, float] = {
    "average_test_ms": 100.0,
    "max_test_ms": 200.0,
    "fixture_setup_ms": 10.0,
    "suite_s": 30.0,
}


def _field(default: Any, help: str, **kw: Any) -> Any:
    if isinstance(default, (dict, list)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata={"help": help}, **kw)
    return dataclasses.field(default=default, metadata={"help": help}, **kw)


@dataclasses.dataclass
class Settings:
    """Everything tddkit can be configured with; see README for each key."""

    dsn: Optional[str] = _field(None, "libpq URL or DSN of an existing server; unset starts the embedded one")
    database: Optional[str] = _field(None, "name of the test database (must start with 'tddkit_')")
    pool_min_size: int = _field(2, "connections opened when the pool starts")
    pool_max_size: int = _field(10, "most connections the pool holds")
    pool_timeout: float = _field(10.0, "seconds to wait for a free pooled connection")
    statement_timeout: float = _field(30.0, "seconds a statement may run before it is cancelled (0 = off)")
    lock_timeout: float = _field(10.0, "seconds a statement may wait for a lock before it is cancelled (0 = off)")
    schema: List[str] = _field([], "SQL files applied in order to the test database")
    schema_hook: Optional[str] = _field(None, "'package.module:function' called with a connection to build the schema")
    schema_version: str = _field("", "free text mixed into the schema hash; change it to force a rebuild")
    schema_inputs: List[str] = _field([], "globs (relative to the config file) of files the schema hook reads, "
                                      "e.g. seed CSVs: their names and bytes join the schema hash")
    rebuild_schema: bool = _field(False, "rebuild the schema template even if it is unchanged")
    pg_bindir: Optional[str] = _field(None, "directory with initdb and postgres for the embedded server")
    pg_source: str = _field("auto", "where to look for server binaries: auto, system, wheel or bindir")
    cache_dir: Optional[str] = _field(None, "where initdb templates and schema snapshots are cached")
    durations_file: str = _field(".tddkit/durations.json", "test durations of earlier runs, for balancing "
                                 "--parallel and --shard ('' turns recording off)")
    regression_threshold: float = _field(0.20, "slowdown (fraction of the baseline median) that counts as a "
                                         "regression when it is also beyond the noise")
    resource_timeout: float = _field(60.0, "seconds a test waits for a named resource held by another test")
    alerts_as_failures: bool = _field(False, "a metric over its threshold fails the test instead of warning")
    memory_warning_mb: float = _field(5.0, "per-test RSS growth reported as a memory warning")
    targets: Dict[str, float] = _field(DEFAULT_TARGETS, "performance targets in ms")
    thresholds: Dict[str, float] = _field(DEFAULT_THRESHOLDS, "alert thresholds of recorded metrics")
    gate: Dict[str, float] = _field(DEFAULT_GATE, "limits of the CI gate")
    table_templates: Dict[str, str] = _field({}, "extra temp-table templates: name = column definitions")
    leak_check: bool = _field(True, "fail a test when another connection commits a write to the test database")
    commit_as_savepoint: bool = _field(False, "self.conn.commit()/rollback() act as on self.pool's connections "
                                       "(kept within the test) instead of raising IsolationError")
    root: Optional[str] = _field(None, "directory that relative paths are resolved against", repr=False)

    def resolve(self, path: str) -> Path:
        """Resolve ``path`` against the directory of the config file (or the cwd)."""
        return Path(self.root or os.getcwd()) / path

    def validate(self) -> "Settings":
        """Check values that are wrong whatever their source; return self."""
        if self.pool_min_size < 0 or self.pool_max_size < 1:
            raise ConfigError("pool_min_size must be >= 0 and pool_max_size >= 1")
        if self.pool_min_size > self.pool_max_size:
            raise ConfigError(
                f"pool_min_size ({self.pool_min_size}) is larger than pool_max_size ({self.pool_max_size}); "
                "lower pool_min_size or raise pool_max_size"
            )
        if self.pool_timeout <= 0:
            raise ConfigError("pool_timeout must be a positive number of seconds")
        if self.statement_timeout < 0:
            raise ConfigError("statement_timeout must be >= 0 seconds (0 turns it off)")
        if self.lock_timeout < 0:
            raise ConfigError("lock_timeout must be >= 0 seconds (0 turns it off)")
        if self.database is not None and not self.database.startswith("tddkit_"):
            raise ConfigError(
                f"database {self.database!r} does not start with 'tddkit_': tddkit only creates and drops "
                "databases it owns; pick a name like 'tddkit_myapp'"
            )
        return self


FIELDS = {f.name: f for f in dataclasses.fields(Settings) if f.name != "root"}
_DICT_KEYS = {name for name, f in FIELDS.items() if isinstance(getattr(Settings(), name), dict)}


def _coerce(name: str, value: Any, source: str) -> Any:
    """Convert a raw value from ``source`` to the type of setting ``name``."""
    default = getattr(_DEFAULTS, name)
    kind = FIELDS[name].type
    try:
        if name in _DICT_KEYS:
            if not isinstance(value, Mapping):
                raise TypeError("expected a table of key = value")
            if name == "table_templates":
                return {str(k): str(v) for k, v in value.items()}
            return {**default, **{str(k): float(v) for k, v in value.items()}}
        if "List" in str(kind):
            if isinstance(value, str):
                value = [v for v in value.replace(",", " ").split() if v]
            if not isinstance(value, list):
                raise TypeError("expected a list of strings")
            return [str(v) for v in value]
        if value is None:
            return None
        if "bool" in str(kind):
            if isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
                return value.strip().lower() in ("1", "true", "yes", "on")
            if isinstance(value, bool):
                return value
            raise TypeError("expected true or false")
        if "int" in str(kind):
            if isinstance(value, bool):
                raise TypeError("expected an integer")
            return int(value)
        if "float" in str(kind):
            return float(value)
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: setting {name!r} has a bad value {value!r} ({exc})") from None


def _check_keys(data: Mapping[str, Any], source: str) -> None:
    for key in data:
        if key not in FIELDS:
            hint = difflib.get_close_matches(key, FIELDS, n=1)
            extra = f"; did you mean {hint[0]!r}?" if hint else f"; known keys: {', '.join(sorted(FIELDS))}"
            raise ConfigError(f"{source}: unknown tddkit setting {key!r}{extra}")


def find_project_root(start: Optional[Path] = None) -> Optional[Path]:
    """Return the nearest directory at or above ``start`` holding pyproject.toml or setup.cfg."""
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        if (directory / "pyproject.toml").is_file() or (directory / "setup.cfg").is_file():
            return directory
    return None


def read_file_settings(root: Path) -> Dict[str, Any]:
    """Settings from setup.cfg ``[tddkit]`` overlaid by pyproject.toml ``[tool.tddkit]``."""
    merged: Dict[str, Any] = {}
    cfg_path = root / "setup.cfg"
    if cfg_path.is_file():
        parser = configparser.ConfigParser()
        try:
            parser.read(cfg_path, encoding="utf-8")
        except configparser.Error as exc:
            raise ConfigError(f"{cfg_path}: cannot parse ({exc})") from None
        for section in parser.sections():
            if section == "tddkit":
                data = dict(parser.items(section))
            elif section.startswith("tddkit."):
                data = {section.split(".", 1)[1]: dict(parser.items(section))}
            else:
                continue
            _check_keys(data, f"{cfg_path} [{section}]")
            merged.update({k: _coerce(k, v, f"{cfg_path} [{section}]") for k, v in data.items()})
    toml_path = root / "pyproject.toml"
    if toml_path.is_file():
        try:
            with open(toml_path, "rb") as fh:
                data = tomllib.load(fh).get("tool", {}).get("tddkit", {})
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{toml_path}: cannot parse ({exc})") from None
        _check_keys(data, f"{toml_path} [tool.tddkit]")
        merged.update({k: _coerce(k, v, f"{toml_path} [tool.tddkit]") for k, v in data.items()})
    return merged


def read_env_settings(environ: Mapping[str, str]) -> Dict[str, Any]:
    """Settings from ``TDDKIT_<KEY>`` variables; the DSN also from ``DATABASE_URL``."""
    found: Dict[str, Any] = {}
    dsn = environ.get("TDDKIT_DATABASE_URL") or environ.get("TDDKIT_DSN") or environ.get("DATABASE_URL")
    if dsn:
        found["dsn"] = dsn
    for name in FIELDS:
        if name in _DICT_KEYS or name == "dsn":
            continue
        raw = environ.get(f"TDDKIT_{name.upper()}")
        if raw is not None and raw != "":
            found[name] = _coerce(name, raw, f"environment variable TDDKIT_{name.upper()}")
    return found


def load_settings(
    overrides: Optional[Mapping[str, Any]] = None,
    environ: Optional[Mapping[str, str]] = None,
    start: Optional[Path] = None,
) -> Settings:
    """Build the effective Settings from every source, highest precedence last applied."""
    environ = os.environ if environ is None else environ
    root = find_project_root(start)
    values: Dict[str, Any] = {}
    if root is not None:
        values.update(read_file_settings(root))
    values.update(read_env_settings(environ))
    cli = {k: v for k, v in (overrides or {}).items() if v is not None}
    _check_keys(cli, "command line")
    values.update({k: _coerce(k, v, "command line") for k, v in cli.items()})
    return Settings(root=str(root) if root else None, **values).validate()


_DEFAULTS = Settings()
