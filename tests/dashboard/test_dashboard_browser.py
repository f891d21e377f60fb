"""Browser test: the real app (`streamlit run` subprocess) on the seeded database, driven in headless Debian
Chromium over the DevTools protocol (websockets, no Playwright/driver downloads). Checks that the SLA board lists
the seeded red cases and saves a screenshot under `test-artifacts/`, and that its Excel download works.

Skips only when Chromium is absent and `CI` is not set; in CI a missing Chromium fails the test.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import openpyxl
import pytest
import pytest_asyncio
import websockets
from helpers.browser import PAGE_TEXT_JS, Cdp, chromium_page, download, require_chromium, streamlit_app
from helpers.dashboard_seed import NOW, RED_CASES, seed_dashboard

from dashboard import queries as q
from dashboard.reports import BOARD_HEADERS

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
@pytest_asyncio.fixture(scope="module")
async def seeded_dsn(pg_dsn: str) -> str:
    await seed_dashboard(pg_dsn)
    return pg_dsn


@pytest.fixture
def app_url(seeded_dsn: str) -> Iterator[str]:
    require_chromium()
    with streamlit_app(ROOT / "dashboard" / "app.py", {
        "COMPLAINTS_DATABASE_URL": seeded_dsn,
        "COMPLAINTS_MODE": "embedded",
        "COMPLAINTS_DASHBOARD_NOW": NOW.isoformat(),
        "COMPLAINTS_DASHBOARD_REFRESH_SECONDS": "0",
    }) as url:
        yield url


async def _drive(ws_url: str, url: str) -> tuple[str, bytes]:
    """Open the SLA board, wait until the red cases show, return the page text and a PNG screenshot."""
    async with websockets.connect(ws_url, max_size=50_000_000) as ws:
        cdp = Cdp(ws)
        await cdp.call("Page.enable")
        await cdp.call("Runtime.enable")
        await cdp.call("Page.navigate", url=f"{url}/?page=board")
        text = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            text = await cdp.eval(PAGE_TEXT_JS) or ""
            if all(no in text for no in RED_CASES) and "Running" not in text:
                break
            await asyncio.sleep(0.5)
        await asyncio.sleep(1.0)  # let the grid paint before the screenshot
        png = await cdp.call("Page.captureScreenshot", format="png")
        return text, base64.b64decode(png["data"])


def test_sla_board_in_chromium_lists_red_cases(app_url: str) -> None:
    chromium = require_chromium()
    shot = ARTIFACTS / "dashboard-sla-board.png"
    with chromium_page(chromium) as ws_url:
        text, png = asyncio.run(_drive(ws_url, app_url))
    shot.parent.mkdir(parents=True, exist_ok=True)
    shot.write_bytes(png)
    assert "时限督办" in text  # the SLA board page is shown
    missing = [no for no in RED_CASES if no not in text]
    assert not missing, f"red cases not listed on the board: {missing}\n---\n{text[:3000]}"
    assert "数据源不可用" not in text and "Traceback" not in text
    assert shot.stat().st_size > 10_000


async def _download(ws_url: str, url: str, folder: Path, label: str) -> Path:
    """Open the SLA board, press the download button labelled `label`, return the file Chromium saved."""
    async with websockets.connect(ws_url, max_size=50_000_000) as ws:
        cdp = Cdp(ws)
        await cdp.call("Page.enable")
        await cdp.call("Runtime.enable")
        await cdp.call("Browser.setDownloadBehavior", behavior="allow", downloadPath=str(folder))
        await cdp.call("Page.navigate", url=f"{url}/?page=board")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            text = await cdp.eval(PAGE_TEXT_JS) or ""
            if all(no in text for no in RED_CASES) and label in text and "Running" not in text:
                break
            await asyncio.sleep(0.5)
        return await download(cdp, folder, label)


def test_sla_board_download_in_chromium(app_url: str, seeded_dsn: str, tmp_path: Path) -> None:
    """The board's Excel button delivers a workbook (built when pressed) holding the board's rows as the SQL
    returns them, with Chinese headers and the header row frozen."""
    chromium = require_chromium()
    with chromium_page(chromium) as ws_url:
        saved = asyncio.run(_download(ws_url, app_url, tmp_path, "下载 Excel"))
    assert saved.name.startswith("时限督办_20260318_1000") and saved.suffix == ".xlsx"
    ws = openpyxl.load_workbook(saved).active
    assert ws is not None and ws.freeze_panes == "A2"
    values = list(ws.iter_rows(values_only=True))
    assert list(values[0]) == list(BOARD_HEADERS.values())

    async def board() -> list[str]:
        conn = await asyncpg.connect(seeded_dsn)
        try:
            return list((await q.sla_board(conn, None, q.BoardFilters(), NOW, limit=None))["case_no"])
        finally:
            await conn.close()

    assert [r[0] for r in values[1:]] == asyncio.run(board())
