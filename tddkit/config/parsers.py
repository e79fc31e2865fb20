"""Parsers of setting values: each returns the parsed value or raises ValueError saying what it expects."""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Collection, Mapping
from typing import Any

from ..errors import TableEntryError

#: The longest a seconds setting may be: larger values are almost surely milliseconds typed by mistake.
MAX_SECONDS = 24 * 3600.0

Parser = Callable[[Any], Any]

_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def boolean(value: Any) -> bool:
    """true/false; as text also yes/no, on/off, 1/0."""
    if isinstance(value, bool):
        return value
    word = value.strip().lower() if isinstance(value, str) else None
    if word in _TRUE + _FALSE:
        return word in _TRUE
    raise ValueError("true or false")


def _whole(minimum: int) -> Parser:
    """A parser of whole numbers >= ``minimum``."""
    def parse(value: Any) -> int:
        digits = not isinstance(value, bool) and isinstance(value, (int, str)) and str(value).strip().isdigit()
        if digits and int(value) >= minimum:
            return int(value)
        raise ValueError(f"a whole number >= {minimum}")
    return parse


def _real(expected: str, low: float = -math.inf, strict: bool = False, max_seconds: float = math.inf) -> Parser:
    """A parser of finite numbers from ``low`` (``strict``: above it) up to ``max_seconds``; never inf or nan."""
    def parse(value: Any) -> float:
        try:
            number = float(value) if not isinstance(value, bool) and isinstance(value, (int, float, str)) else math.nan
        except ValueError:
            number = math.nan
        if not math.isfinite(number) or number < low or (strict and number == low):
            raise ValueError(expected)
        if number > max_seconds:
            raise ValueError(f"at most {max_seconds:.0f} seconds (one day): the unit is seconds, not milliseconds")
        return number
    return parse


count = _whole(0)
positive_count = _whole(1)
number = _real("a finite number")
non_negative = _real("a finite number >= 0", low=0.0)
positive = _real("a finite number > 0", low=0.0, strict=True)
seconds = _real("a number of seconds >= 0 (0 = off)", low=0.0, max_seconds=MAX_SECONDS)
positive_seconds = _real("a number of seconds > 0", low=0.0, strict=True, max_seconds=MAX_SECONDS)


def text(value: Any) -> str:
    """Text (a number is taken as its text)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError("text")
    return str(value)


def strings(value: Any) -> list[str]:
    """A list of strings; text is split on commas and whitespace."""
    if isinstance(value, str):
        return value.replace(",", " ").split()
    if not isinstance(value, (list, tuple)) or not all(isinstance(item, str) for item in value):
        raise ValueError("a list of strings")
    return list(value)


def choice(*options: str) -> Parser:
    """A parser accepting exactly one of ``options``."""
    def parse(value: Any) -> str:
        if value not in options:
            raise ValueError(f"one of {', '.join(options)}")
        return str(value)
    return parse


def closest(key: str, known: Collection[str]) -> str:
    """``'key'`` followed by the closest known key as a suggestion, or by the list of known keys."""
    hint = difflib.get_close_matches(key, known, n=1)
    return f"{key!r}; did you mean {hint[0]!r}?" if hint else f"{key!r}; known keys: {', '.join(sorted(known))}"


def table(parse_value: Parser, keys: Collection[str] | None = None,
          parsers: Mapping[str, Parser] | None = None) -> Parser:
    """A parser of a ``key = value`` table; ``keys`` fixes which keys are allowed (None: any name);
    ``parsers`` parse the values of some keys in their own way."""
    def parse(value: Any) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise ValueError("a table of key = value")
        parsed = {}
        for key, item in value.items():
            if keys is not None and key not in keys:
                raise TableEntryError(f"unknown key {closest(str(key), keys)}")
            try:
                parsed[str(key)] = (parsers or {}).get(key, parse_value)(item)
            except ValueError as exc:
                raise TableEntryError(f"{key!r} has a bad value {item!r}: expected {exc}") from None
        return parsed
    return parse
