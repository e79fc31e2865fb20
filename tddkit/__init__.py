"""tddkit: fast, isolated and measured PostgreSQL-backed test suites.

The public names are imported on first use (``tddkit.TDDTestCase`` imports
the test case and psycopg; ``import tddkit`` alone costs almost nothing), so
the pytest plugin and the command line only pay for what they use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__ as __version__

#: Public name -> the module defining it.
_EXPORTS = {
    "AsyncTDDTestCase": "testcase.async_case",
    "ConfigError": "errors",
    "IsolationError": "errors",
    "OwnershipError": "errors",
    "PerformanceWarning": "errors",
    "PoolExhaustedError": "errors",
    "ResourceTimeoutError": "errors",
    "SchemaError": "errors",
    "ServerError": "errors",
    "Session": "session.session",
    "Settings": "config.settings",
    "TDDTestCase": "testcase.case",
    "TDDTestResult": "testcase.runner",
    "TDDTestRunner": "testcase.runner",
    "TddkitError": "errors",
    "TestTimeout": "errors",
    "TestMetrics": "measure.metrics",
    "allow_repeated_queries": "measure.queries",
    "close_session": "session.session",
    "get_session": "session.session",
    "load_settings": "config.settings",
    "resources": "isolation.named_resources",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tddkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:  # the names as type checkers see them (the 'as' marks each as a re-export)
    from .config.settings import Settings as Settings
    from .config.settings import load_settings as load_settings
    from .errors import ConfigError as ConfigError
    from .errors import IsolationError as IsolationError
    from .errors import OwnershipError as OwnershipError
    from .errors import PerformanceWarning as PerformanceWarning
    from .errors import PoolExhaustedError as PoolExhaustedError
    from .errors import ResourceTimeoutError as ResourceTimeoutError
    from .errors import SchemaError as SchemaError
    from .errors import ServerError as ServerError
    from .errors import TddkitError as TddkitError
    from .errors import TestTimeout as TestTimeout
    from .isolation.named_resources import resources as resources
    from .measure.metrics import TestMetrics as TestMetrics
    from .measure.queries import allow_repeated_queries as allow_repeated_queries
    from .session.session import Session as Session
    from .session.session import close_session as close_session
    from .session.session import get_session as get_session
    from .testcase.async_case import AsyncTDDTestCase as AsyncTDDTestCase
    from .testcase.case import TDDTestCase as TDDTestCase
    from .testcase.runner import TDDTestResult as TDDTestResult
    from .testcase.runner import TDDTestRunner as TDDTestRunner
