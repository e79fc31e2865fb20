"""tddkit: fast, isolated and measured PostgreSQL-backed test suites.

The public names are imported on first use (``tddkit.TDDTestCase`` imports
the test case and psycopg; ``import tddkit`` alone costs almost nothing), so
the pytest plugin and the command line only pay for what they use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, List

__version__ = "0.1.0"

#: Public name -> the module defining it.
_EXPORTS = {
    "ConfigError": "errors",
    "IsolationError": "errors",
    "OwnershipError": "errors",
    "PerformanceWarning": "errors",
    "PoolExhaustedError": "errors",
    "ResourceTimeoutError": "errors",
    "SchemaError": "errors",
    "ServerError": "errors",
    "Session": "session",
    "Settings": "config",
    "TDDTestCase": "case",
    "TDDTestResult": "runner",
    "TDDTestRunner": "runner",
    "TddkitError": "errors",
    "TestMetrics": "metrics",
    "close_session": "session",
    "get_session": "session",
    "load_settings": "config",
    "resources": "resources",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tddkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> List[str]:
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:
    from .case import TDDTestCase
    from .config import Settings, load_settings
    from .errors import (ConfigError, IsolationError, OwnershipError, PerformanceWarning, PoolExhaustedError,
                         ResourceTimeoutError, SchemaError, ServerError, TddkitError)
    from .metrics import TestMetrics
    from .resources import resources
    from .runner import TDDTestResult, TDDTestRunner
    from .session import Session, close_session, get_session
