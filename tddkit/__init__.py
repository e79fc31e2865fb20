"""tddkit: fast, isolated and measured PostgreSQL-backed unittest suites."""

from .case import TDDTestCase
from .config import Settings, load_settings
from .errors import (
    ConfigError,
    IsolationError,
    OwnershipError,
    PerformanceWarning,
    PoolExhaustedError,
    ResourceTimeoutError,
    SchemaError,
    ServerError,
    TddkitError,
)
from .metrics import TestMetrics
from .resources import resources
from .runner import TDDTestResult, TDDTestRunner
from .session import Session, close_session, get_session

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "IsolationError",
    "OwnershipError",
    "PerformanceWarning",
    "PoolExhaustedError",
    "ResourceTimeoutError",
    "SchemaError",
    "ServerError",
    "Session",
    "Settings",
    "TDDTestCase",
    "TDDTestResult",
    "TDDTestRunner",
    "TddkitError",
    "TestMetrics",
    "close_session",
    "get_session",
    "load_settings",
    "resources",
]
