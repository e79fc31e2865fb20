"""What tddkit did, in pytest's output, as ``python -m tddkit run`` says it in its first lines.

The header names the config file. Once the tests are collected, and only if
one of them uses tddkit (a tddkit fixture or a TDDTestCase), the session
starts, before any test runs, and a line under "collected N items" names the
server, the database and the schema template: built (and why) or reused. A
session that cannot start is one line and exit status 2, as under ``tddkit
run``. The closing summary repeats the template's line (under pytest-xdist,
each worker's, as the workers send them).
"""

from __future__ import annotations

from typing import Any

import pytest

from .pytest_items import is_tddkit_case
from .pytest_results import STATE, TRANSACTION_FIXTURE

#: The session's line (server, database, template) and the template's line, once the session started.
STARTED = pytest.StashKey[tuple[str, str]]()
#: The template lines of pytest-xdist workers, on the controller.
WORKER_TEMPLATES = pytest.StashKey[list[str]]()


def uses_tddkit(item: pytest.Item) -> bool:
    """Whether a collected test needs the tddkit session."""
    names = getattr(item, "fixturenames", ())
    if TRANSACTION_FIXTURE in names or "tddkit_session" in names:
        return True
    return is_tddkit_case(item)


def pytest_report_header(config: pytest.Config) -> list[str]:
    from ..config.files import find_config
    from ..config.settings import describe_config

    if find_config([str(config.rootpath)]) is None:
        return []  # not a tddkit project: say nothing
    return [f"tddkit: {describe_config(config.stash[STATE].settings())}"]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """Start the session now if a collected test needs it, so the lines below the header can say what it did."""
    config = session.config
    if config.option.collectonly or not any(uses_tddkit(item) for item in session.items):
        return
    from ..errors import TddkitError
    from ..exit_codes import EXIT_USAGE

    try:
        started = config.stash[STATE].tddkit_session()
    except TddkitError as exc:
        pytest.exit(f"tddkit: error: {exc}", returncode=EXIT_USAGE)
    template = started._template.describe() if started._template is not None else ""
    config.stash[STARTED] = (started._describe(), template)


def pytest_report_collectionfinish(config: pytest.Config) -> list[str]:
    line = config.stash.get(STARTED, None)
    return [f"tddkit: {line[0]}"] if line else []


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """pytest-xdist: a worker finished; keep its template line."""
    line = getattr(node, "workeroutput", {}).get("tddkit_template")
    if line:
        node.config.stash.setdefault(WORKER_TEMPLATES, []).append(line)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    line = session.config.stash.get(STARTED, None)
    if workeroutput is not None and line and line[1]:
        worker = getattr(session.config, "workerinput", {}).get("workerid", "worker")
        workeroutput["tddkit_template"] = f"{worker}: {line[1]}"


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    line = config.stash.get(STARTED, None)
    lines = [line[1]] if line and line[1] else sorted(config.stash.get(WORKER_TEMPLATES, ()))
    for text in lines:
        terminalreporter.write_line(f"tddkit: {text}")
