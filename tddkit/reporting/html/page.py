"""Writing the HTML report: one file with its script, styles and data inline, loading nothing from anywhere.

The run's JSON document (the ``--json`` file, byte for byte, with a ``history``
list added as its last key) is embedded in ``<script type="application/json"
id="tddkit-data" data-encoding="gzip+base64">`` as a JSON string: the
document gzipped, then base64. Compressed, 10,000 tests take well under 1 MB
(plain, their JSON alone is over 4 MB); the page unpacks it with the
browser's ``DecompressionStream``, and ``read_embedded`` reads it back in
Python. The baseline comparison and the gate's result, when the run had them,
go in ``tddkit-checks`` the same way. The document is streamed from the JSON
file through the compressor, so memory does not grow with the tests.

The charts are SVG drawn by the page's own script (``report.js``) from the
embedded data: no plotting library to ship or trust, nothing fetched, and
each figure is computed from the same numbers tools read. A Content-Security-
Policy allows only the page's own script and styles (by their SHA-256) and
data: images: a page that tried to load anything would be refused.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
import zlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from ...output import write_atomically

ASSETS = Path(__file__).resolve().parent
DATA_ID, CHECKS_ID = "tddkit-data", "tddkit-checks"
_CHUNK = 1 << 20
_ELEMENT = re.compile(r'<script type="application/json" id="([\w-]+)" data-encoding="gzip\+base64">(.*?)</script>',
                      re.DOTALL)


def _asset(name: str) -> str:
    return (ASSETS / name).read_text(encoding="utf-8")


def _digest(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def _write_packed(fh: IO[str], chunks: Iterable[bytes]) -> None:
    """``chunks`` gzipped and base64-encoded into ``fh``, as they come."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)  # wbits 31: the gzip format
    pending = b""
    for chunk in chunks:
        pending += compressor.compress(chunk)
        whole = len(pending) - len(pending) % 3  # base64 of whole 3-byte groups: no padding midway
        fh.write(base64.b64encode(pending[:whole]).decode("ascii"))
        pending = pending[whole:]
    fh.write(base64.b64encode(pending + compressor.flush()).decode("ascii"))


def _document(json_file: Path, history: Sequence[Mapping[str, Any]]) -> Iterable[bytes]:
    """The JSON file's bytes with ``"history": [...]`` added before its closing brace."""
    size = os.path.getsize(json_file)
    with open(json_file, "rb") as fh:
        fh.seek(max(0, size - 64))
        tail = fh.read()
        end = size - len(tail) + tail.rindex(b"}")
        fh.seek(0)
        left = end
        while left > 0:
            chunk = fh.read(min(_CHUNK, left))
            if not chunk:
                break
            left -= len(chunk)
            yield chunk
    yield b',\n  "history": ' + json.dumps(list(history), allow_nan=False).encode() + b"\n}\n"


def _element(fh: IO[str], element_id: str, chunks: Iterable[bytes]) -> None:
    fh.write(f'<script type="application/json" id="{element_id}" data-encoding="gzip+base64">"')
    _write_packed(fh, chunks)
    fh.write('"</script>\n')


def write_html(path: str | Path, json_file: Path, history: Sequence[Mapping[str, Any]] = (),
               checks: Mapping[str, Any] | None = None, title: str = "tddkit report") -> None:
    """Write the report page to ``path`` (atomically) from the run's JSON document in ``json_file``."""
    script, style = _asset("report.js"), _asset("report.css")
    policy = (f"default-src 'none'; script-src {_digest(script)}; style-src {_digest(style)}; img-src data:; "
              "base-uri 'none'; form-action 'none'")
    head = (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta http-equiv="Content-Security-Policy" content="{policy}">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{html.escape(title)}</title>\n<style>{style}</style>\n</head>\n"
            f'<body data-rendered="no">\n<main id="report"><h1>{html.escape(title)}</h1>'
            f'<p id="loading">Drawing the report&hellip; (this needs JavaScript)</p></main>\n')

    def write(fh: IO[str]) -> None:
        fh.write(head)
        _element(fh, DATA_ID, _document(json_file, history))
        if checks:
            _element(fh, CHECKS_ID, [json.dumps(checks, allow_nan=False, separators=(",", ":")).encode()])
        fh.write(f"<script>{script}</script>\n</body>\n</html>\n")

    write_atomically(path, write)


def read_embedded(path: str | Path, element_id: str = DATA_ID) -> Any:
    """The data of one element of a report page (``tddkit-data``: the run's document; ``tddkit-checks``: the
    comparison and the gate), or None when the page has no such element."""
    import gzip

    for found in _ELEMENT.finditer(Path(path).read_text(encoding="utf-8")):
        if found.group(1) == element_id:
            return json.loads(gzip.decompress(base64.b64decode(json.loads(found.group(2)))))
    return None
