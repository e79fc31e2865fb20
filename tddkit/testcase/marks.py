"""What a test method's marks say, read cheaply once per test: ``@tddkit.allow_repeated_queries``, named resources
(``@tddkit.resources``), ``async def``. A plain function (no attributes) carries no mark of its own, so for most tests
only the class's marks count, read once per class."""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable
from typing import Any

from ..isolation.named_resources import resources_of
from ..measure.queries import repeated_queries_allowed


def is_async(method: Callable[..., Any]) -> bool:
    """Whether a test method is ``async def``: a plain function's code tells; ``inspect`` answers for the rest
    (wrapped or marked functions, partials)."""
    function = getattr(method, "__func__", method)
    if _is_plain(function):
        return bool(function.__code__.co_flags & inspect.CO_COROUTINE)
    return inspect.iscoroutinefunction(function)


def _is_plain(function: Any) -> bool:
    """Whether ``function`` is a plain function with no attributes: no mark set on it, nothing wrapped."""
    return type(function) is types.FunctionType and not function.__dict__


def marks_of(cls: type, name: str) -> tuple[bool, tuple[str, ...], bool]:
    """What the marks of test method ``name`` of ``cls`` say: N+1 detection off, the named resources it waits for,
    whether it is ``async def``. What the class says is read once; a plain function (no attributes) adds nothing."""
    marks: tuple[bool, tuple[str, ...]] | None = cls.__dict__.get("_tddkit_class_marks")
    if marks is None:
        marks = (repeated_queries_allowed(cls), resources_of(cls, ""))
        setattr(cls, "_tddkit_class_marks", marks)  # noqa: B010 - on this class itself, not inherited
    function: Any = getattr(cls, name, None)
    if _is_plain(function):  # its code tells whether it is async
        return marks[0], marks[1], bool(function.__code__.co_flags & inspect.CO_COROUTINE)
    return (repeated_queries_allowed(cls, function), resources_of(cls, name),
            function is not None and is_async(function))
