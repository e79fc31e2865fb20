"""What a run leaves after its checks: its entry in the performance history and the HTML report.

``RunOutputs`` checks the paths before any test runs (a one-line error, exit
code 2), hands the runner a JSON file to stream the run's document to (the
``--json`` file, else a temporary one), reads the history's earlier runs for
the gate, and once the checks are done adds the run to the history and writes
the page. Used by ``python -m tddkit run`` and by the pytest plugin alike.
"""

from __future__ import annotations

import dataclasses
import statistics
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config.settings import Settings
from ..output import check_writable, json_safe
from . import history
from .report import Report

if TYPE_CHECKING:
    from .checks import Checks


class RunOutputs:
    """The HTML page (``html_path``) and the history entry (``history_dir``) of one run; either may be None."""

    def __init__(self, settings: Settings, html_path: str | Path | None, history_dir: Path | None, *,
                 html_option: str = "--html", history_option: str = "--history") -> None:
        self.settings = settings
        self.html_path = Path(html_path) if html_path else None
        self.history_dir = history_dir
        if self.html_path is not None:
            check_writable(self.html_path, html_option)
        if history_dir is not None:
            history.check_history_dir(history_dir, history_option)
        self._spool: tempfile.TemporaryDirectory[str] | None = None

    @property
    def wanted(self) -> bool:
        return self.html_path is not None or self.history_dir is not None

    def json_path(self, requested: str | None) -> str | None:
        """Where the run's JSON document goes: ``requested`` (``--json``), else a temporary file when the page
        or the history needs the run's report (a run asked for no file builds none)."""
        if requested or not self.wanted:
            return requested
        if self._spool is None:
            self._spool = tempfile.TemporaryDirectory(prefix="tddkit-html-")
        return str(Path(self._spool.name) / "run.json")

    def earlier(self) -> list[dict[str, Any]] | None:
        """The history's latest runs before this one (None when no history is kept)."""
        if self.history_dir is None:
            return None
        return history.load(self.history_dir, self.settings.history_runs)

    def finish(self, report: Report | None, json_file: str | None, checks: Checks | None,
               earlier: Sequence[Mapping[str, Any]] | None) -> None:
        """Add the run to the history and write the page (nothing without a report: the run did not end)."""
        if report is None:
            return
        shown: list[Mapping[str, Any]] = list(earlier or [])
        if self.history_dir is not None:
            entry = history.summarize(report, Path(self.settings.root or "."))
            history.append(self.history_dir, entry)
            shown = [*shown, entry][-self.settings.history_runs:]
        if self.html_path is not None and json_file is not None:
            from .html.page import write_html

            write_html(self.html_path, Path(json_file), shown, checks_data(checks))

    def close(self) -> None:
        """Remove the temporary JSON file, if one was made."""
        if self._spool is not None:
            self._spool.cleanup()
            self._spool = None


def checks_data(checks: Checks | None) -> dict[str, Any] | None:
    """The baseline comparison (with every compared test's baseline median) and the gate's result, for the page."""
    if checks is None or (checks.comparison is None and checks.gate is None):
        return None
    data: dict[str, Any] = {}
    comparison, baseline = checks.comparison, checks.baseline
    if comparison is not None and baseline is not None:
        data["comparison"] = {
            "baseline_created": baseline.get("created"),
            "baseline_ms": {test_id: statistics.median(entry["total_ms"]) for test_id, entry in
                            baseline["tests"].items() if entry.get("total_ms")},
            "threshold": comparison.threshold,
            "regressions": [dataclasses.asdict(c) for c in comparison.regressions],
            "improvements": [dataclasses.asdict(c) for c in comparison.improvements],
            "query_changes": [{**dataclasses.asdict(q), "ratio": q.ratio} for q in comparison.query_changes],
            "missing": comparison.missing, "new": comparison.new, "notes": comparison.notes,
            "flagged": comparison.flagged,
        }
    if checks.gate is not None:
        data["gate"] = {"passed": checks.gate.passed, "failures": checks.gate.failures,
                        "checks": [{"name": c.name, "limit": c.limit, "value": c.value, "ok": c.ok}
                                   for c in checks.gate.checks]}
    return dict(json_safe(data))
