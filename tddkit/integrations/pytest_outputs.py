"""The pytest plugin's HTML report (``--tddkit-html``) and performance history (``--tddkit-history``, history_dir)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from ..config.settings import Settings
    from ..reporting.outputs import RunOutputs


def asked(config: pytest.Config) -> bool:
    """Whether the command line asks for the HTML report or the history."""
    return bool(config.getoption("tddkit_html", None) or config.getoption("tddkit_history", None))


def run_outputs(config: pytest.Config, settings: Settings) -> RunOutputs:
    """The HTML report and the history entry asked for, their paths resolved like ``--tddkit-json``'s (against the
    config file's directory) and checked: a bad one is a usage error, before any test runs."""
    from ..errors import TddkitError
    from ..reporting.outputs import RunOutputs

    html, history = config.getoption("tddkit_html", None), config.getoption("tddkit_history", None)
    history = history or settings.history_dir
    try:
        return RunOutputs(settings, settings.resolve(html) if html else None,
                          settings.resolve(history) if history else None,
                          html_option="--tddkit-html", history_option="--tddkit-history")
    except TddkitError as exc:
        raise pytest.UsageError(f"tddkit: {exc}") from None
