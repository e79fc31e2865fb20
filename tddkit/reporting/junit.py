"""JUnit XML of a run, for CI systems: one <testcase> per test, its metrics as <properties>."""

from __future__ import annotations

import re
import socket
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from ..measure.metrics import TestMetrics
from ..output import output_path
from .report import RunSummary

#: JUnit element of each outcome that is not a pass, and the suite counter it adds to.
_OUTCOME_TAGS = {"failed": "failure", "unexpected_success": "failure", "error": "error", "skipped": "skipped"}
_TAG_COUNTERS = {"failure": "failures", "error": "errors", "skipped": "skipped"}
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_text(text: str) -> str:
    """``text`` without the characters XML 1.0 cannot hold."""
    return _XML_INVALID.sub("?", text)


def _split_id(test_id: str, suite_name: str) -> tuple[str, str]:
    """(classname, name) of a unittest id; a subTest's parameters stay in the name."""
    head, space, params = test_id.partition(" ")
    classname, _, name = head.rpartition(".")
    return classname or suite_name, name + space + params


def _outcome_element(tm: TestMetrics, text: str) -> ET.Element | None:
    """The <failure>, <error> or <skipped> element of a test; None when it passed."""
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
    element = ET.Element(tag, message=_xml_text(message[:500]))
    if tag != "skipped":
        element.set("type", kind)
        element.text = _xml_text(text or message)
    return element


def _properties(tm: TestMetrics) -> ET.Element:
    """A test's measurements as <properties> (ms with 3 decimals, custom values as recorded)."""
    properties = ET.Element("properties")
    timings = ("query_ms", "connection_ms", "setup_ms", "body_ms", "cleanup_ms", "total_ms")
    values = [
        ("query_count", str(tm.query_count)),
        *((name, f"{getattr(tm, name):.3f}") for name in timings),
        ("memory_delta", str(tm.memory_delta)),
        *((f"custom:{c.name}", str(c.value)) for c in tm.custom),
    ]
    for name, value in values:
        ET.SubElement(properties, "property", name=_xml_text(name), value=_xml_text(value))
    return properties


def write_junit_xml(
    path: str,
    tests: Sequence[TestMetrics],
    summary: RunSummary,
    suite_name: str = "tddkit",
    details: Mapping[str, str] | None = None,
) -> None:
    """Write the tests as a JUnit XML report; ``details`` maps test ids to traceback or skip text."""
    details = details or {}
    counts = {"tests": len(tests), "failures": 0, "errors": 0, "skipped": 0}
    cases = []
    for tm in tests:
        classname, name = _split_id(tm.test_id, suite_name)
        case = ET.Element("testcase", classname=_xml_text(classname), name=_xml_text(name),
                          time=f"{tm.total_ms / 1000:.6f}")
        case.append(_properties(tm))
        outcome = _outcome_element(tm, details.get(tm.test_id, ""))
        if outcome is not None:
            case.append(outcome)
            counts[_TAG_COUNTERS[outcome.tag]] += 1
        cases.append(case)
    attributes = {key: str(value) for key, value in counts.items()}
    attributes["time"] = f"{summary.wall_seconds:.3f}"
    root = ET.Element("testsuites", {"name": _xml_text(suite_name), **attributes})
    suite = ET.SubElement(root, "testsuite", {
        "name": _xml_text(suite_name), **attributes,
        "timestamp": datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="seconds"),
        "hostname": socket.gethostname(),
    })
    suite.extend(cases)
    ET.indent(root)
    ET.ElementTree(root).write(output_path(path), encoding="utf-8", xml_declaration=True)
