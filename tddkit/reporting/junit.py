"""JUnit XML of a run, for CI systems: one <testcase> per test, its metrics as <properties>.

Written as the run goes: each test's ``<testcase>`` when it ends, into an
unnamed temporary file beside the target, then the suite around them at the
end (when its counts are known), so memory does not grow with the tests. The
text is what ``xml.etree.ElementTree`` writes for the same elements after
``ET.indent``: the same escaping, attribute order and indentation.
"""

from __future__ import annotations

import re
import shutil
import socket
import tempfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from ..measure.metrics import TestMetrics
from ..output import output_path
from .report import RunSummary

#: JUnit element of each outcome that is not a pass, and the suite counter it adds to.
_OUTCOME_TAGS = {"failed": "failure", "unexpected_success": "failure", "error": "error", "skipped": "skipped"}
_TAG_COUNTERS = {"failure": "failures", "error": "errors", "skipped": "skipped"}
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_TIMINGS = ("query_ms", "connection_ms", "setup_ms", "body_ms", "cleanup_ms", "total_ms")
#: ElementTree's escapes in character data, and in attribute values (where "&" comes first).
_TEXT_ESCAPES = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"))
_ATTRIBUTE_ESCAPES = (*_TEXT_ESCAPES, ('"', "&quot;"), ("\r", "&#13;"), ("\n", "&#10;"), ("\t", "&#09;"))


def _xml_text(text: str) -> str:
    """``text`` without the characters XML 1.0 cannot hold."""
    return _XML_INVALID.sub("?", text)


def _escaped(text: str, escapes: tuple[tuple[str, str], ...]) -> str:
    text = _xml_text(text)
    for char, entity in escapes:
        if char in text:
            text = text.replace(char, entity)
    return text


def _attribute(text: str) -> str:
    """An attribute value as ElementTree writes it."""
    return _escaped(text, _ATTRIBUTE_ESCAPES)


def _split_id(test_id: str, suite_name: str) -> tuple[str, str]:
    """(classname, name) of a unittest id; a subTest's parameters stay in the name."""
    head, space, params = test_id.partition(" ")
    classname, _, name = head.rpartition(".")
    return classname or suite_name, name + space + params


def _outcome_element(tm: TestMetrics, text: str) -> tuple[str, str] | None:
    """The <failure>, <error> or <skipped> element of a test and its counter; None when it passed."""
    tag = _OUTCOME_TAGS.get(tm.outcome)
    if tag is None:
        return None
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if tm.outcome == "unexpected_success":
        message, kind = "unexpected success", "UnexpectedSuccess"
    else:
        message = lines[-1] if lines else tm.outcome
        prefix = message.split(":", 1)[0]
        kind = prefix if ":" in message and prefix.replace(".", "").isidentifier() else (
            "AssertionError" if tag == "failure" else "Exception"
        )
    opening = f'<{tag} message="{_attribute(message[:500])}"'
    if tag == "skipped":
        return f"{opening} />", _TAG_COUNTERS[tag]
    opening += f' type="{_attribute(kind)}"'
    body = _escaped(text or message, _TEXT_ESCAPES)
    return (f"{opening}>{body}</{tag}>" if body else f"{opening} />"), _TAG_COUNTERS[tag]


def _property(name: str, value: str) -> str:
    return f'        <property name="{_attribute(name)}" value="{_attribute(value)}" />\n'


#: The properties every test has: counts and timings, filled with ``%``.
_PROPERTIES = "".join(_property(name, "%" + form) for name, form in (
    ("query_count", "d"), *((name, ".3f") for name in _TIMINGS), ("memory_delta", "d")))


class JUnitStream:
    """The JUnit XML of a run at ``path``: ``add`` each test as it ends, ``finish`` with the run's summary."""

    def __init__(self, path: str | Path, suite_name: str = "tddkit") -> None:
        self.path = output_path(path)
        self.suite_name = suite_name
        self.counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        self._spool: IO[str] | None = tempfile.TemporaryFile("w+", encoding="utf-8", dir=self.path.parent)

    def add(self, tm: TestMetrics, text: str = "") -> None:
        """Write the <testcase> of a test that ended; ``text`` is its traceback or skip reason."""
        if self._spool is None:
            return
        classname, name = _split_id(tm.test_id, self.suite_name)
        parts = [f'    <testcase classname="{_attribute(classname)}" name="{_attribute(name)}" '
                 f'time="{tm.total_ms / 1000:.6f}">\n      <properties>\n', self._properties(tm),
                 *(_property(f"custom:{c.name}", str(c.value)) for c in tm.custom),
                 "      </properties>\n"]
        outcome = _outcome_element(tm, text)
        if outcome is not None:
            parts.append(f"      {outcome[0]}\n")
            self.counts[outcome[1]] += 1
        parts.append("    </testcase>\n")
        self._spool.write("".join(parts))
        self.counts["tests"] += 1

    @staticmethod
    def _properties(tm: TestMetrics) -> str:
        values = (tm.query_count, *(getattr(tm, name) for name in _TIMINGS), tm.memory_delta)
        if type(values[0]) is int and type(values[-1]) is int:
            return _PROPERTIES % values
        return (_property("query_count", str(tm.query_count)) +  # other types, as str() shows them
                "".join(_property(name, f"{getattr(tm, name):.3f}") for name in _TIMINGS) +
                _property("memory_delta", str(tm.memory_delta)))

    def finish(self, summary: RunSummary) -> None:
        """Write the document around the test cases."""
        spool, self._spool = self._spool, None
        if spool is None:
            return
        with spool:
            attributes = "".join(f' {key}="{value}"' for key, value in self.counts.items())
            attributes += f' time="{summary.wall_seconds:.3f}"'
            name = _attribute(self.suite_name)
            suite = (f'<testsuite name="{name}"{attributes} timestamp="'
                     f'{datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="seconds")}" '
                     f'hostname="{_attribute(socket.gethostname())}"')
            spool.seek(0)
            with open(self.path, "w", encoding="utf-8", errors="xmlcharrefreplace") as fh:
                fh.write(f"<?xml version='1.0' encoding='utf-8'?>\n<testsuites name=\"{name}\"{attributes}>\n  ")
                if self.counts["tests"]:
                    fh.write(f"{suite}>\n")
                    shutil.copyfileobj(spool, fh, 1 << 20)
                    fh.write("  </testsuite>\n</testsuites>")
                else:
                    fh.write(f"{suite} />\n</testsuites>")

    def close(self) -> None:
        """Stop without writing the document."""
        if self._spool is not None:
            self._spool.close()
            self._spool = None


def write_junit_xml(path: str, tests: Sequence[TestMetrics], summary: RunSummary, suite_name: str = "tddkit",
                    details: Mapping[str, str] | None = None) -> None:
    """Write the tests as a JUnit XML report; ``details`` maps test ids to traceback or skip text."""
    details = details or {}
    stream = JUnitStream(path, suite_name)
    for tm in tests:
        stream.add(tm, details.get(tm.test_id, ""))
    stream.finish(summary)
