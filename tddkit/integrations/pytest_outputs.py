"""The pytest plugin's HTML report (``--tddkit-html``) and performance history (``--tddkit-history``, history_dir)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ..config.settings import Settings
    from ..reporting.checks import Checks
    from ..reporting.outputs import RunOutputs
    from ..reporting.report import Report


def run_outputs(config: pytest.Config, settings: Settings) -> RunOutputs | None:
    """The HTML report and the history entry asked for (None: neither), their paths resolved like
    ``--tddkit-json``'s (against the config file's directory) and checked: a bad one is a usage error."""
    from ..errors import TddkitError
    from ..reporting.outputs import RunOutputs

    html, history = config.getoption("tddkit_html", None), config.getoption("tddkit_history", None)
    history = history or settings.history_dir
    if not (html or history):
        return None
    try:
        return RunOutputs(settings, settings.resolve(html) if html else None,
                          settings.resolve(history) if history else None,
                          html_option="--tddkit-html", history_option="--tddkit-history")
    except TddkitError as exc:
        raise pytest.UsageError(f"tddkit: {exc}") from None


def publish(outputs: RunOutputs, report: Report | None, json_file: str | None, checks: Checks,
            earlier: Sequence[Mapping[str, Any]] | None, html_option: str | None) -> list[str]:
    """Add the run to the history and write the page; the summary's line about the page."""
    try:
        outputs.finish(report, json_file, checks, earlier)
    finally:
        outputs.close()
    return [f"tddkit: HTML report written to {html_option}"] if outputs.html_path else []
