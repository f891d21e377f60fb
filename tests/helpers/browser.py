"""Headless Debian Chromium driven over the DevTools protocol (websockets; no Playwright or driver downloads)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


def require_chromium() -> str:
    if CHROMIUM is None:
        pytest.fail("Chromium is required (Debian package chromium; `make test` installs it)")
    return CHROMIUM


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310 - localhost only
                if r.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer within {timeout}s")
        time.sleep(0.3)


class Cdp:
    """A minimal Chrome DevTools Protocol client for one page."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.next_id = 0

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        my_id = self.next_id
        await self.ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        while True:
            msg = json.loads(await self.ws.recv())
            if msg.get("id") == my_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return dict(msg.get("result", {}))

    async def eval(self, expr: str) -> Any:
        r = await self.call("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        return r.get("result", {}).get("value")


# Text of the page including the data grid's accessible table (st.dataframe draws on a canvas).
PAGE_TEXT_JS = """
(() => {
  const parts = [document.body.innerText];
  document.querySelectorAll('[role=gridcell], td, th').forEach(e => parts.push(e.textContent));
  return parts.join('\\n');
})()
"""


@contextlib.contextmanager
def chromium_page(chromium: str) -> Iterator[str]:
    """Start headless Chromium with a throw-away profile; yields the DevTools websocket URL of its page."""
    profile = tempfile.mkdtemp(prefix="dash-chromium-")
    proc = subprocess.Popen(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
         "--remote-debugging-port=0", "--window-size=1600,1000", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        port_file = Path(profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text().strip():
            if time.monotonic() > deadline:
                raise TimeoutError("Chromium did not open its DevTools port")
            time.sleep(0.2)
        port = int(port_file.read_text().split()[0])
        wait_http(f"http://127.0.0.1:{port}/json/version", 10)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as r:  # noqa: S310
            targets = json.loads(r.read())
        yield next(tg["webSocketDebuggerUrl"] for tg in targets if tg.get("type") == "page")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(profile, ignore_errors=True)


@contextlib.contextmanager
def streamlit_app(script: Path, env: dict[str, str]) -> Iterator[str]:
    """`streamlit run script` on a free localhost port with `env` added to the environment, the toolbar as
    `make up` and docker-compose set it; yields its URL."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(script), "--server.address", "127.0.0.1",
         "--server.port", str(port), "--server.headless", "true", "--client.toolbarMode", "viewer"],
        cwd=script.parents[1], env={**os.environ, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false", **env},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,  # a full unread pipe would block it
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/_stcore/health", 60)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


CLICK_JS = """
(() => {
  const b = [...document.querySelectorAll('button')].find(e => e.innerText.includes(%s));
  if (!b) return false;
  b.click();
  return true;
})()
"""


async def download(cdp: Cdp, folder: Path, label: str, wait_seconds: float = 60) -> Path:
    """Press the first button labelled `label` on the open page; return the file Chromium saved into `folder`
    (its download behaviour must already point there)."""
    assert await cdp.eval(CLICK_JS % json.dumps(label)), f"no button {label!r}"
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:  # the file is built on the server when pressed, then saved
        done = [folder / n for n in os.listdir(folder) if not n.endswith(".crdownload")]
        if done:
            return done[0]
        await asyncio.sleep(0.3)
    raise TimeoutError(f"nothing downloaded into {folder}")
