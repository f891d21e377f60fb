"""Browser test of the caseworkers' workbench (`streamlit run dashboard/workbench.py`) on a real API process,
a worker and PostgreSQL, in headless Chromium over the DevTools protocol: the dispatcher (a local demo
identity) finds the new case on 待办, opens it, accepts and assigns it with the only form offered for that
stage, sees the new stage, and the case leaves the list. A screenshot is kept under `test-artifacts/`."""

from __future__ import annotations

import asyncio
import base64
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import websockets
from helpers.api import DATA_DIR, DISPATCHER, INTAKE, ROOT, ApiProcess, api_process, eventually, free_port
from helpers.browser import PAGE_TEXT_JS, Cdp, chromium_page, require_chromium, wait_http
from helpers.client import registration, running_worker, task_queue
from temporalio.testing import WorkflowEnvironment

pytestmark = [pytest.mark.browser, pytest.mark.devserver]
ARTIFACTS = ROOT / "test-artifacts"


def _start_workbench(port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard" / "workbench.py"), "--server.address",
             "127.0.0.1", "--server.port", str(port), "--server.headless", "true"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest_asyncio.fixture(scope="module")
async def stack(dev_env: WorkflowEnvironment, pg_dsn: str, pg_pool: Any) -> AsyncIterator[tuple[ApiProcess, str]]:
    require_chromium()
    q = task_queue()
    async with running_worker(dev_env.client, pg_pool, q), api_process(dev_env, pg_dsn, q) as api:
        port = free_port()
        env = {**api.env, "COMPLAINTS_MODE": "embedded", "COMPLAINTS_DATA_DIR": str(DATA_DIR),
               "COMPLAINTS_WORKBENCH_API_URL": api.base_url, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
        proc = _start_workbench(port, env, DATA_DIR / f"workbench-{port}.log")
        try:
            await asyncio.to_thread(wait_http, f"http://127.0.0.1:{port}/_stcore/health", 60)
            yield api, f"http://127.0.0.1:{port}"
        finally:
            _stop(proc)


async def _text(cdp: Cdp) -> str:
    return str(await cdp.eval(PAGE_TEXT_JS) or "")


async def _wait_text(cdp: Cdp, *wanted: str, absent: str | None = None, within: float = 60) -> str:
    deadline = time.monotonic() + within
    text = ""
    while time.monotonic() < deadline:
        text = await _text(cdp)
        if all(w in text for w in wanted) and (absent is None or absent not in text) and "Running..." not in text:
            return text
        await asyncio.sleep(0.4)
    raise AssertionError(f"page never showed {wanted} (absent {absent!r}):\n{text[:3000]}")


async def _click_when_there(cdp: Cdp, find_js: str, what: str, within: float = 30) -> None:
    """Click the element `find_js` returns once Streamlit has drawn it (a page is drawn element by element)."""
    deadline = time.monotonic() + within
    while not await cdp.eval(f"(() => {{ const b = {find_js}; if (!b) return false; b.click(); return true; }})()"):
        assert time.monotonic() < deadline, f"nothing to click: {what}"
        await asyncio.sleep(0.3)


async def _click(cdp: Cdp, selector: str) -> None:
    await _click_when_there(cdp, f"document.querySelector({selector!r})", selector)


async def _type(cdp: Cdp, selector: str, text: str, within: float = 30) -> None:
    """Type into an input the way a person does (focus, keystrokes, leave the field) and wait until the page
    holds the value: a form submitted before the widget took it would send an empty field."""
    deadline = time.monotonic() + within
    while not await cdp.eval(f"(() => {{ const e = document.querySelector({selector!r}); if (!e) return false; "
                             "e.focus(); return document.activeElement === e; })()"):
        assert time.monotonic() < deadline, f"no input at {selector}"
        await asyncio.sleep(0.3)
    await cdp.call("Input.insertText", text=text)
    while await cdp.eval(f"document.querySelector({selector!r}).value") != text:
        assert time.monotonic() < deadline, f"{selector} never held {text!r}"
        await asyncio.sleep(0.2)
    await cdp.call("Input.dispatchKeyEvent", type="keyDown", key="Tab", code="Tab", windowsVirtualKeyCode=9)
    await cdp.call("Input.dispatchKeyEvent", type="keyUp", key="Tab", code="Tab", windowsVirtualKeyCode=9)
    await asyncio.sleep(0.5)


async def _click_button_with_text(cdp: Cdp, text: str) -> None:
    await _click_when_there(
        cdp, f"[...document.querySelectorAll('button')].find(b => b.innerText.includes({text!r}))", text)


async def test_dispatcher_accepts_and_assigns_from_the_work_list(stack: tuple[ApiProcess, str]) -> None:
    api, url = stack
    reg = registration()
    case = reg["case_no"]
    async with api.http() as http:
        assert (await http.post("/v1/cases", json=reg, headers=api.headers(INTAKE))).status_code == 201

        async def on_the_list() -> bool:
            r = await http.get("/v1/me/work", headers=api.headers(DISPATCHER))
            return any(i["case_no"] == case for i in r.json()["items"])

        await eventually(on_the_list)

    with chromium_page(require_chromium()) as ws_url:
        async with websockets.connect(ws_url, max_size=50_000_000) as ws:
            cdp = Cdp(ws)
            await cdp.call("Page.enable")
            await cdp.call("Runtime.enable")
            await cdp.call("Page.navigate", url=f"{url}/?user=disp-01")
            text = await _wait_text(cdp, "待办", "待受理", case)
            assert "本地演示身份" in text  # the local identity is labelled as such

            await _click(cdp, f".st-key-open-to_accept-{case} button")
            text = await _wait_text(cdp, "您现在可以办理的事项", "提交: 受理")
            # only the decisions a dispatcher may take in acceptance are offered
            assert "提交: 不予受理" in text or "不予受理" in text
            assert "办结调查" not in text and "登记回访" not in text

            await _type(cdp, f".st-key-{case}-accept-unit_id input", "SX-TY-XD")
            await _click_button_with_text(cdp, "提交: 受理")
            text = await _wait_text(cdp, "已办理，当前环节: 调查核实")
            await asyncio.sleep(1.0)  # let the page paint before the screenshot
            png = await cdp.call("Page.captureScreenshot", format="png")
            shot = ARTIFACTS / "workbench-accepted.png"
            shot.parent.mkdir(parents=True, exist_ok=True)
            shot.write_bytes(base64.b64decode(png["data"]))

            # the case leaves the dispatcher's list once the read model has caught up
            deadline = time.monotonic() + 60
            while True:
                await cdp.call("Page.navigate", url=f"{url}/?user=disp-01")
                await asyncio.sleep(2.0)
                text = await _wait_text(cdp, "待办")
                if case not in text:
                    break
                assert time.monotonic() < deadline, f"{case} is still on the list:\n{text[:2000]}"
    assert "Traceback" not in text
    async with api.http() as http:
        view = (await http.get(f"/v1/cases/{case}", headers=api.headers(DISPATCHER))).json()
    assert view["summary"]["stage"] == "investigation" and view["summary"]["handling_unit"] == "SX-TY-XD"
    assert [e["actor_id"] for e in view["summary"]["events"] if e["kind"] == "accepted"] == ["disp-01"]
    assert shot.stat().st_size > 10_000

