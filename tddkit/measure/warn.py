"""tddkit's ``PerformanceWarning``: shown as the warning filters say, but never raised.

An alert (an N+1, a metric over its threshold) is listed in the report and the
JSON; failing a test on it is ``alerts_as_failures``. A filter that turns
warnings into errors (``python -W error``, pytest's ``filterwarnings =
error``, common in real projects) would make the alert an exception wherever
tddkit emits it, an error in a test that passed; such a warning is shown
instead (``warnings.showwarning``: stderr, or pytest's warnings summary).
"""

from __future__ import annotations

import warnings
from typing import Any

from ..errors import PerformanceWarning


def performance_warning(message: str, filename: str, lineno: int, module: str | None = None,
                        registry: dict[Any, Any] | None = None) -> None:
    """Emit ``PerformanceWarning(message)`` at ``filename:lineno`` (``module`` and ``registry`` as for
    ``warnings.warn_explicit``); an ``error`` filter shows it instead of raising it, ``ignore`` drops it."""
    warning = PerformanceWarning(message)
    if module is None:  # warn_explicit's own default (given None, CPython's shows nothing)
        module = filename[:-3] if filename.lower().endswith(".py") else filename
    try:
        warnings.warn_explicit(warning, PerformanceWarning, filename, lineno, module, registry)
    except PerformanceWarning:
        warnings.showwarning(warning, PerformanceWarning, filename, lineno)
