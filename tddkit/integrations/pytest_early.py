"""The session starts while pytest collects, as under ``python -m tddkit run``: a one-test run waits less.

As soon as pytest knows that a test will use tddkit, a thread starts the
session (``tddkit.session.early_start``: the embedded server, the schema
template, the test database) while pytest goes on importing the test
modules and what they import; the first tddkit fixture (or the line after
collection) takes it over. pytest knows it when it is about to import a
test module whose source names a tddkit fixture (``tddkit_...``) or
``TDDTestCase`` (and every test it holds is collected: no ``-k``, ``-m``,
``--deselect``, ``--lf`` or ``file.py::test`` selection), else when it
collected a test that uses tddkit. A run none of whose tests uses tddkit
starts nothing; one whose tests were all deselected after all stops what
started unused before the first test.
"""

from __future__ import annotations

import re

import pytest

from .pytest_header import uses_tddkit
from .pytest_results import STATE

#: The session started early (or was found not worth starting early).
DECIDED = pytest.StashKey[bool]()

#: What in a test module's source says that its tests use tddkit.
NAMES_TDDKIT = re.compile(rb"\btddkit_\w+|\bTDDTestCase\b")


def _selects_part(config: pytest.Config) -> bool:
    """Whether the command line may leave out some of a module's tests (then its source says too little)."""
    option = config.option
    return bool(getattr(option, "keyword", "") or getattr(option, "markexpr", "") or getattr(option, "deselect", None)
                or getattr(option, "lf", False) or getattr(option, "stepwise", False)
                or any("::" in arg for arg in config.args))


def _start(config: pytest.Config) -> None:
    """Start the session in the background, once per run."""
    if config.stash.get(DECIDED, False):
        return
    config.stash[DECIDED] = True
    state = config.stash[STATE]
    if state.session is not None or config.option.collectonly:
        return
    try:
        settings = state.settings()
    except pytest.UsageError:
        return  # said where the session starts
    from ..session import early_start

    early_start.start(settings)


def pytest_collectstart(collector: pytest.Collector) -> None:
    """A test module about to be imported whose source names tddkit: start now, while it imports."""
    config = collector.config
    if not isinstance(collector, pytest.Module) or config.stash.get(DECIDED, False) or _selects_part(config):
        return
    try:
        source = collector.path.read_bytes()
    except OSError:
        return
    if NAMES_TDDKIT.search(source):
        _start(config)


def pytest_itemcollected(item: pytest.Item) -> None:
    """A collected test uses tddkit (and will run: tests are deselected after this): start now, while the rest
    is collected."""
    config = item.config
    if not config.stash.get(DECIDED, False) and not _selects_part(config) and uses_tddkit(item):
        _start(config)


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """No test left uses tddkit (deselected): stop what started early, before the first test."""
    if session.config.stash.get(DECIDED, False) and not any(uses_tddkit(item) for item in session.items):
        from ..session import early_start

        early_start.abandon()
