"""The run's JSON document written as the run goes: each test's record when it ends, the rest at the end.

Each test's record is serialised when its test ends, field by field, as
``json.dump(..., indent=2)`` writes ``TestMetrics.as_dict`` at its place in
the document, into an unnamed temporary file beside the target. At the end
the document is written around it (a temporary file, then ``os.replace``), so
memory does not grow with the tests and the file is the one ``write_json``
writes from ``report_to_dict``, byte for byte. If the run stops first,
nothing is left behind.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import tempfile
from json.encoder import encode_basestring_ascii  # json's own (C when built)
from pathlib import Path
from typing import IO, Any

from ..measure.metrics import TestMetrics
from ..measure.records import SPARSE, RunRecords
from ..output import json_safe, output_path, write_atomically
from .report import Report, document

#: The fields of ``TestMetrics.as_dict`` in its order, ``memory_delta`` (computed) last.
FIELDS = ("test_id", "connection_ms", "setup_ms", "body_ms", "cleanup_ms", "total_ms", "query_count", "query_ms",
          "rss_before", "rss_after", "resource_wait_ms", "resources", "outcome", "custom", "memory_snapshots",
          "allocations", "repeated_statements")
#: The indentation of a test's fields: inside the document's object, its "tests" list, the test's object.
_INDENT = "      "
_KEYS = tuple(f"{_INDENT}{encode_basestring_ascii(name)}: " for name in (*FIELDS, "memory_delta"))
_PLACEHOLDER = "\x00tddkit tests\x00"


def _plain(value: Any) -> Any:
    """``value`` with dataclasses (custom metrics) as dicts, as ``dataclasses.asdict`` gives them."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: _plain(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    return value


def _value(value: Any) -> str:
    """``value`` as ``json.dump(..., indent=2)`` writes it at a test field's depth, after ``json_safe``."""
    kind = type(value)
    if kind is float:
        return float.__repr__(value) if math.isfinite(value) else "null"
    if kind is int:
        return int.__repr__(value)
    if kind is str:
        return str(encode_basestring_ascii(value))
    if (kind is tuple or kind is list) and not value:
        return "[]"
    text = json.dumps(json_safe(_plain(value)), indent=2, allow_nan=False)
    return text.replace("\n", "\n" + _INDENT)


def _template() -> str:
    """The text of a test with float timings, int counts and nothing in its list fields, to fill with ``%``."""
    formats = {"test_id": "%s", "outcome": "%s", "query_count": "%d", "rss_before": "%d", "rss_after": "%d",
               "memory_delta": "%d", **{name: "[]" for name in SPARSE}}
    return "    {\n" + ",\n".join(key + formats.get(name, "%r") for key, name in
                                  zip(_KEYS, (*FIELDS, "memory_delta"), strict=True)) + "\n    }"


_TEMPLATE = _template()
_TYPES = (str, float, float, float, float, float, int, float, int, int, float, str)


def test_json(tm: TestMetrics) -> str:
    """``tm.as_dict()`` as the document's "tests" list holds it."""
    values = (tm.test_id, tm.connection_ms, tm.setup_ms, tm.body_ms, tm.cleanup_ms, tm.total_ms, tm.query_count,
              tm.query_ms, tm.rss_before, tm.rss_after, tm.resource_wait_ms, tm.outcome)
    if tuple(map(type, values)) == _TYPES and math.isfinite(sum(values[1:6]) + values[7] + values[10]) and not (
            tm.resources or tm.custom or tm.memory_snapshots or tm.allocations or tm.repeated_statements):
        return _TEMPLATE % (encode_basestring_ascii(values[0]), *values[1:11], encode_basestring_ascii(values[11]),
                            values[9] - values[8])
    fields = [getattr(tm, name) for name in FIELDS]
    fields.append(tm.rss_after - tm.rss_before)
    return "    {\n" + ",\n".join([key + _value(value) for key, value in zip(_KEYS, fields, strict=True)]) + \
        "\n    }"


class JsonStream:
    """The JSON document of a run at ``path``: ``add`` each test as it ends, ``finish`` with the report."""

    def __init__(self, path: str | Path) -> None:
        self.path = output_path(path)
        self._spool: IO[str] | None = tempfile.TemporaryFile("w+", encoding="utf-8", dir=self.path.parent)
        self._count = 0

    def add(self, tm: TestMetrics, text: str = "") -> None:
        """Write the record of a test that ended (``text``, its traceback, is not part of it)."""
        if self._spool is not None:
            self._spool.write(test_json(tm) if not self._count else ",\n" + test_json(tm))
            self._count += 1

    def finish(self, report: Report, records: RunRecords) -> None:
        """Write the document around the tests' records (``records`` gives the classes)."""
        spool, self._spool = self._spool, None
        if spool is None:
            return
        with spool:
            text = json.dumps(document(report, [_PLACEHOLDER], records.classes), indent=2, allow_nan=False)
            head, tail = text.split(f"[\n    {encode_basestring_ascii(_PLACEHOLDER)}\n  ]")
            spool.seek(0)

            def write(fh: IO[str]) -> None:
                fh.write(head)
                if self._count:
                    fh.write("[\n")
                    shutil.copyfileobj(spool, fh, 1 << 20)
                    fh.write("\n  ]")
                else:
                    fh.write("[]")
                fh.write(tail + "\n")

            write_atomically(self.path, write)

    def close(self) -> None:
        """Stop without writing the document."""
        if self._spool is not None:
            self._spool.close()
            self._spool = None
