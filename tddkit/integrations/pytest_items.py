"""What a collected pytest item is, told cheaply: the class it was collected from, whether it is a TDDTestCase test."""

from __future__ import annotations

import sys
from typing import Any

import pytest


def class_of(item: pytest.Item) -> Any:
    """The class a test was collected from, or None: pytest's ``item.cls``, told from the item's parent in the common
    cases (``item.cls`` walks up every node, with an ABC isinstance check at each)."""
    parent = item.parent
    kinds = type(parent).__mro__
    if pytest.Class in kinds:
        return parent.obj  # type: ignore[union-attr]  # a Class has its class as obj
    if pytest.Module in kinds:
        return None
    return getattr(item, "cls", None)


def is_tddkit_case(item: pytest.Item) -> bool:
    """Whether a test is a method of a ``TDDTestCase`` (none can be before tddkit's test case module is imported)."""
    case = sys.modules.get("tddkit.testcase.case")
    cls = class_of(item)
    return case is not None and isinstance(cls, type) and issubclass(cls, case.TDDTestCase)
