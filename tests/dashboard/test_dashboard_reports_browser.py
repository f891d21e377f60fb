"""Browser test of the monitor's 报表 / Reports page: a report published by the real activity
(`activities.report_activities.publish_report`) into the seeded database is listed, its chart is shown, and its Excel
download in headless Chromium saves exactly the workbook stored in PostgreSQL, which opens with openpyxl. The
page shows no "Deploy" menu."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import asyncpg
import openpyxl
import pytest
import pytest_asyncio
import websockets
from helpers.browser import PAGE_TEXT_JS, Cdp, chromium_page, download, require_chromium, streamlit_app
from helpers.dashboard_seed import NOW, seed_dashboard
from temporalio.testing import ActivityEnvironment

from activities.contracts import ReportRequest
from activities.report_activities import ReportActivities

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
REPORT_ID = "daily-CN-SX-2026-03-18"


@pytest_asyncio.fixture(scope="module")
async def published_dsn(pg_dsn: str, pg_pool: asyncpg.Pool) -> str:
    await seed_dashboard(pg_dsn)
    outcome = await ActivityEnvironment().run(ReportActivities(pg_pool).publish_report, ReportRequest(
        jurisdiction="CN-SX", kind="daily", published_on=date(2026, 3, 18), period_start=date(2026, 3, 17),
        period_end=date(2026, 3, 17), previous_start=date(2026, 3, 16), previous_end=date(2026, 3, 16),
        requested_at=NOW,
    ))
    assert outcome.report_id == REPORT_ID and outcome.stored
    return pg_dsn


@pytest.fixture
def app_url(published_dsn: str) -> Iterator[str]:
    require_chromium()
    with streamlit_app(ROOT / "dashboard" / "app.py", {
        "COMPLAINTS_DATABASE_URL": published_dsn,
        "COMPLAINTS_MODE": "embedded",
        "COMPLAINTS_DASHBOARD_NOW": NOW.isoformat(),
        "COMPLAINTS_DASHBOARD_REFRESH_SECONDS": "0",
    }) as url:
        yield url


IMAGES_JS = "[...document.querySelectorAll('img')].filter(i => i.complete && i.naturalWidth > 300).length"


async def _open_and_download(ws_url: str, url: str, folder: Path) -> tuple[str, int, Path]:
    async with websockets.connect(ws_url, max_size=50_000_000) as ws:
        cdp = Cdp(ws)
        await cdp.call("Page.enable")
        await cdp.call("Runtime.enable")
        await cdp.call("Browser.setDownloadBehavior", behavior="allow", downloadPath=str(folder))
        await cdp.call("Page.navigate", url=f"{url}/?page=reports")
        text, images = "", 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            text = await cdp.eval(PAGE_TEXT_JS) or ""
            images = int(await cdp.eval(IMAGES_JS) or 0)
            if "2026-03-17 ~ 2026-03-17" in text and "下载 Excel" in text and images and "Running" not in text:
                break
            await asyncio.sleep(0.5)
        return text, images, await download(cdp, folder, "下载 Excel")


def test_reports_page_lists_the_report_and_downloads_its_workbook(
    app_url: str, published_dsn: str, tmp_path: Path
) -> None:
    with chromium_page(require_chromium()) as ws_url:
        text, images, saved = asyncio.run(_open_and_download(ws_url, app_url, tmp_path))
    assert "报表" in text and "日报" in text and "2026-03-18" in text, text[:2000]
    assert "2026-03-16 ~ 2026-03-16" in text  # the previous period beside it
    assert images >= 1  # the newest report's chart
    assert "Traceback" not in text and "数据源不可用" not in text
    assert "Deploy" not in text  # the viewer toolbar, as `make up` starts the monitor
    assert saved.name == "日报_CN-SX_20260318.xlsx"

    async def stored() -> bytes:
        conn = await asyncpg.connect(published_dsn)
        try:
            return bytes(await conn.fetchval("SELECT xlsx FROM reports WHERE report_id = $1", REPORT_ID))
        finally:
            await conn.close()

    assert saved.read_bytes() == asyncio.run(stored())
    book = openpyxl.load_workbook(io.BytesIO(saved.read_bytes()))
    assert book.sheetnames[:4] == ["概要", "按单位", "按渠道", "按类别"]
