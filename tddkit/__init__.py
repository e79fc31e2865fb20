"""tddkit: fast, isolated and measured PostgreSQL-backed unittest suites."""

from .case import TDDTestCase
from .config import Settings, load_settings
from .errors import (
    ConfigError,
    IsolationError,
    OwnershipError,
    PerformanceWarning,
    PoolExhaustedError,
    SchemaError,
    ServerError,
    TddkitError,
)
from .metrics import TestMetrics
from .resources import ResourceTimeoutError, resources
from .session import close_session, get_session

__version__ = "0.1.0"

__all__ = [
    "TDDTestCase",
    "Settings",
    "load_settings",
    "TestMetrics",
    "get_session",
    "close_session",
    "TddkitError",
    "ConfigError",
    "IsolationError",
    "OwnershipError",
    "PoolExhaustedError",
    "PerformanceWarning",
    "ResourceTimeoutError",
    "resources",
    "SchemaError",
    "ServerError",
]
