"""A page rendered in headless Chromium (Debian's ``chromium``), driven over the DevTools protocol on a pipe.

``render(page)`` opens the file, waits for its script to finish drawing, and
returns what a person would see and what went wrong: the charts drawn (each
``svg.chart`` with its marks and its size on screen), the tables, console
errors and uncaught exceptions (a blocked load is one too), and every request
the page made beyond its own file. It can save a screenshot of the whole page.
Chromium runs in a process group of its own, killed when done, also on failure.

    python tests/browser.py REPORT.html SCREENSHOT.png [HEIGHT]   # a screenshot of a report, e.g. for the docs
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--mute-audio",
         "--hide-scrollbars", "--remote-debugging-pipe")
#: What the page's DOM says once drawn: the charts, the tables, and every src/href it holds.
DOM_CHECK = """JSON.stringify({
  rendered: String(document.body.dataset.rendered),
  charts: [...document.querySelectorAll("svg.chart")].map(c => ({name: c.dataset.chart,
    marks: c.querySelectorAll("rect, circle, polyline, line, path").length,
    points: c.querySelectorAll("circle.point").length, current: c.querySelectorAll("circle.current").length,
    width: c.getBoundingClientRect().width, height: c.getBoundingClientRect().height})),
  tables: Object.fromEntries([...document.querySelectorAll("table[data-table]")].map(t =>
    [t.dataset.table, t.tBodies[0].rows.length])),
  links: [...document.querySelectorAll("[src], [href]")].map(e => e.getAttribute("src") || e.getAttribute("href")),
  text: document.body.innerText.slice(0, 20000)})"""


def available() -> bool:
    return os.access(CHROMIUM, os.X_OK)


@dataclasses.dataclass
class Rendered:
    """What the page showed, and what went wrong while it did."""

    rendered: str
    charts: dict[str, dict[str, float]]
    tables: dict[str, int]
    links: list[str]
    text: str
    errors: list[str]
    requests: list[str]


class Chromium:
    """A headless Chromium and its DevTools connection (messages: JSON ended by a NUL byte)."""

    def __init__(self, timeout: float = 60) -> None:
        self.timeout = timeout
        self.profile = tempfile.TemporaryDirectory(prefix="tddkit-chromium-")
        _subreaper(True)  # Chromium's orphaned helpers become ours to reap, not zombies of a container's init
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # the protocol's pipes are the browser's fds 3 (commands in) and 4 (answers out): bash (dash has no fd > 9)
        self.process = subprocess.Popen(
            ["bash", "-c", f'exec "$0" "$@" 3<&{to_browser_r} 4>&{from_browser_w}', CHROMIUM, *FLAGS,
             f"--user-data-dir={self.profile.name}", "--window-size=1280,900", "about:blank"],
            pass_fds=(to_browser_r, from_browser_w), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        """Call ``method`` and return its result (events that come meanwhile are kept in ``events``)."""
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        try:
            os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        except BrokenPipeError:
            raise RuntimeError(f"Chromium stopped: {self._stderr()}") from None
        deadline = time.monotonic() + self.timeout
        while True:
            answer = self._receive(deadline)
            if answer.get("id") == self._next:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return dict(answer.get("result", {}))
            self.events.append(answer)

    def wait_for(self, method: str, deadline: float) -> None:
        """Wait until event ``method`` has come (or the deadline passed: the polling after it will tell)."""
        try:
            while not any(event.get("method") == method for event in self.events):
                self.events.append(self._receive(deadline))
        except TimeoutError:
            pass

    def _receive(self, deadline: float) -> dict[str, Any]:
        import select

        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_browser], [], [], left)[0]:
                raise TimeoutError(f"Chromium did not answer within {self.timeout} s")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError(f"Chromium closed the connection: {self._stderr()}")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return dict(json.loads(message))

    def _stderr(self) -> str:
        """The end of what Chromium printed, once it has stopped."""
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            return "(still running)"
        return self.process.stderr.read().decode(errors="replace")[-3000:]

    def close(self) -> None:
        """Stop Chromium and every process it started (its process group), and remove its profile: asked to close
        first (it then waits for its own children), killed if it does not."""
        try:
            self.timeout = min(self.timeout, 10)
            self.send("Browser.close")
            self.process.wait(timeout=10)
        except (OSError, RuntimeError, TimeoutError, subprocess.TimeoutExpired):
            pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            # the group's, and any process of this profile that left the group (killed: its browser is gone)
            left = set(group_members(self.process.pid, zombies=True)) | set(profile_processes(self.profile.name))
            if not left:
                break
            for pid in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:  # not (yet) ours: its parent is still alive and will reap it
                    pass
            time.sleep(0.02)
        _subreaper(False)
        self.process.stderr.close()
        for fd in (self._to_browser, self._from_browser):
            os.close(fd)
        self.profile.cleanup()


def _subreaper(on: bool) -> None:
    """Make this process the reaper of its orphaned descendants (Linux ``PR_SET_CHILD_SUBREAPER``), or stop."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(36, int(on), 0, 0, 0)


def profile_processes(profile: str) -> list[int]:
    """The running processes whose command line names the profile directory ``profile``."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if profile.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(int(pid))
        except OSError:
            continue
    return found


def group_members(group: int, zombies: bool = False) -> list[int]:
    """The processes of process group ``group`` (zombies too when ``zombies``)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group and (zombies or fields[0] != "Z"):
            found.append(int(pid))
    return found


def _problems(events: list[dict[str, Any]], page_url: str) -> tuple[list[str], list[str]]:
    """Console errors and exceptions, and the URLs requested beyond the page itself, from the events."""
    errors, requests = [], []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            errors.append(details.get("exception", {}).get("description") or details.get("text", "exception"))
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            errors.append(" ".join(str(arg.get("value", arg.get("description"))) for arg in params.get("args", [])))
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            errors.append(f"{params['entry'].get('source')}: {params['entry'].get('text')}")
        elif method == "Network.requestWillBeSent" and params["request"]["url"] != page_url:
            requests.append(params["request"]["url"])
    return errors, requests


def render(page: Path, screenshot: Path | None = None, timeout: float = 60, height: int = 16000) -> Rendered:
    """Open ``page`` in Chromium, wait up to ``timeout`` seconds until its script has drawn it, and say what it shows
    (and save a screenshot of its first ``height`` pixels to ``screenshot``). Chromium's own answers may take their
    time (a cold start on a busy machine): only the drawing is held to ``timeout``."""
    browser = Chromium()
    try:
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Runtime", "Log", "Network", "Page"):
            browser.send(f"{domain}.enable", session=session)
        url = page.resolve().as_uri()
        browser.send("Page.navigate", {"url": url}, session=session)
        deadline = time.monotonic() + timeout
        browser.wait_for("Page.loadEventFired", deadline)  # the page's scripts have run (drawing may go on)
        state = None
        while state not in ("ok", "error") and time.monotonic() < deadline:
            state = browser.send("Runtime.evaluate", {"expression": "document.body && document.body.dataset.rendered",
                                                      "returnByValue": True}, session=session)["result"].get("value")
            if state not in ("ok", "error"):
                time.sleep(0.05)
        dom = json.loads(browser.send("Runtime.evaluate", {"expression": DOM_CHECK, "returnByValue": True},
                                      session=session)["result"]["value"])
        if screenshot is not None:
            size = browser.send("Page.getLayoutMetrics", session=session)["cssContentSize"]
            shot = browser.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": {
                "x": 0, "y": 0, "width": 1280, "height": min(size["height"], height), "scale": 1}}, session=session)
            screenshot.write_bytes(base64.b64decode(shot["data"]))
        errors, requests = _problems(browser.events, url)
        return Rendered(rendered=str(dom["rendered"]), charts={c["name"]: c for c in dom["charts"]},
                        tables=dom["tables"], links=dom["links"], text=dom["text"], errors=errors, requests=requests)
    finally:
        browser.close()


if __name__ == "__main__":
    seen = render(Path(sys.argv[1]), Path(sys.argv[2]), height=int(sys.argv[3]) if len(sys.argv) > 3 else 16000)
    print(json.dumps({"rendered": seen.rendered, "charts": seen.charts, "errors": seen.errors,
                      "requests": seen.requests}, indent=2))
    sys.exit(0 if seen.rendered == "ok" and not seen.errors and not seen.requests else 1)
