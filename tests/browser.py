"""Headless Chromium for the tests, in one place: the system's binary (never a downloaded build), a screenshot
with ``--screenshot``, and ``Page``: a small DevTools-protocol client over ``--remote-debugging-pipe`` (the
protocol's JSON messages, each ending in a NUL byte, on file descriptors 3 and 4), so no websocket package is
needed. Skips the calling test, with the reason, when no Chromium is installed.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no chromium binary on PATH (install it with: apt-get install -y chromium)")


def screenshot(html_file: Path, png: Path, size: str = "1280,2000") -> None:
    with tempfile.TemporaryDirectory() as profile:
        cmd = [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--screenshot={png}",
               f"--window-size={size}", html_file.as_uri()]  # fmt: skip
        subprocess.run(cmd, check=True, capture_output=True, timeout=120, env={**os.environ, "HOME": profile})


class Page:
    """One tab of a headless Chromium, driven through the DevTools protocol: ``with Page(url) as page: ...``."""

    def __init__(self, url: str, width: int = 1400, height: int = 1000, timeout: float = 30.0) -> None:
        self.url, self.size, self.timeout = url, (width, height), timeout
        self.next_id, self.buffer, self.session = 0, b"", ""

    def __enter__(self) -> Page:
        exe = chromium()
        self.profile = tempfile.TemporaryDirectory(ignore_cleanup_errors=True)
        cmd_r, cmd_w = os.pipe()  # we write commands, Chromium reads them on fd 3
        out_r, out_w = os.pipe()  # Chromium writes replies and events on fd 4
        # Chromium's ends above fd 10, so that moving them to 3 and 4 in the child cannot overwrite one another
        high_r, high_w = (fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (cmd_r, out_w))
        os.close(cmd_r)
        os.close(out_w)

        def remap() -> None:  # in the child, before exec: dup2 clears close-on-exec on 3 and 4 only
            os.dup2(high_r, 3)
            os.dup2(high_w, 4)

        home = self.profile.name
        argv = [exe, *CHROMIUM_FLAGS, "--remote-debugging-pipe", f"--user-data-dir={home}", "about:blank"]
        self.proc = subprocess.Popen(  # preexec_fn: the one way to put the pipes on fds 3 and 4
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            close_fds=False, preexec_fn=remap, env={**os.environ, "HOME": home},
        )  # fmt: skip
        os.close(high_r)
        os.close(high_w)
        self.write_fd, self.read_fd = cmd_w, out_r
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        w, h = self.size
        self.call("Emulation.setDeviceMetricsOverride", width=w, height=h, deviceScaleFactor=1, mobile=False)
        self.goto(self.url)
        return self

    def goto(self, url: str) -> None:
        self.call("Page.navigate", url=url)
        self.wait_for(f"document.readyState === 'complete' && location.href === {json.dumps(url)}")

    def __exit__(self, *exc: object) -> None:
        try:  # Browser.close lets Chromium end its own helper processes, which write to the profile until then
            self.session = ""
            self.call("Browser.close")
        except (OSError, RuntimeError, TimeoutError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        os.close(self.write_fd)
        os.close(self.read_fd)
        self.profile.cleanup()

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command (to the tab, once attached) and return its result; events in between are dropped."""
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params}
        if self.session:
            message["sessionId"] = self.session
        os.write(self.write_fd, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            while b"\0" in self.buffer:
                raw, self.buffer = self.buffer.split(b"\0", 1)
                reply = json.loads(raw)
                if reply.get("id") == self.next_id:
                    if "error" in reply:
                        raise RuntimeError(f"{method}: {reply['error']}")
                    return dict(reply["result"])
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.read_fd], [], [], left)[0]:
                raise TimeoutError(f"Chromium did not answer {method} within {self.timeout} s")
            chunk = os.read(self.read_fd, 1 << 16)
            if not chunk:
                raise RuntimeError(f"Chromium closed the pipe during {method}")
            self.buffer += chunk

    def eval(self, expression: str) -> Any:
        """A JavaScript expression's value (JSON-serialisable values only)."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, condition: str) -> None:
        deadline = time.monotonic() + self.timeout
        while not self.eval(condition):
            if time.monotonic() > deadline:
                raise TimeoutError(f"not true within {self.timeout} s: {condition}")
            time.sleep(0.05)

    def click(self, x: float, y: float) -> None:
        """A real left click at viewport coordinates: the pointer moves there, presses and releases."""
        self.call("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y)
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    def move(self, x: float, y: float) -> None:
        self.call("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y)

    def screenshot(self, png: Path) -> None:
        png.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"]))
