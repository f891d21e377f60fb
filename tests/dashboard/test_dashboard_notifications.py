"""Notifications the outbox gave up on are on the dashboard's overview: left behind by the real sender against a
real HTTP gateway that fails (attempts exhausted) or refuses (never retried), plus one without a contact."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio
from aiohttp import web
from helpers.dashboard_seed import NOW, seed_dashboard
from helpers.gateway import gateway
from streamlit.testing.v1 import AppTest

from activities.case_activities import CaseActivities
from activities.contracts import NotificationRequest
from activities.outbox import DEFAULT_MAX_ATTEMPTS, HttpTransport, deliver_pending
from common.codec import KeyRing
from dashboard import queries as q

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")
TY_CASE = "SX2026021200001"  # R1, handled in SX-TY-XD
DT_CASE = "SX2026021200002"  # R2, handled in SX-DT-PC


@dataclass(frozen=True)
class Outcome:
    exhausted: str  # the gateway kept failing (503) until the attempts ran out, case in Taiyuan
    refused: str  # the gateway refused it (400): never retried, case in Datong
    no_contact: str  # stored undeliverable, case in Taiyuan
    retrying: str  # failed once, still has attempts left: not shown
    sent: str  # delivered: not shown


async def _queue(activities: CaseActivities, case_no: str, name: str, contact: str | None = "13912345678") -> str:
    key = f"{case_no}:{name}:{uuid.uuid4().hex[:6]}"
    await activities.enqueue_notification(NotificationRequest(
        key=key, case_no=case_no, audience="complainant", channel="sms", recipient_ref="complainant",
        recipient_contact=contact, template="feedback_sent", params={"case_no": case_no},
        at=datetime(2026, 3, 2, 9, 30, tzinfo=UTC)))
    return key


@pytest_asyncio.fixture(scope="module")
async def outcome(pg_dsn: str, pg_pool: asyncpg.Pool) -> AsyncIterator[Outcome]:
    await seed_dashboard(pg_dsn)
    keyring = KeyRing.from_settings()
    activities = CaseActivities(pg_pool, keyring)
    failing: set[str] = set()

    async def answer(request: web.Request) -> web.Response:
        key = request.headers["Idempotency-Key"]
        if ":refused:" in key:
            return web.json_response({"error": "number blocked"}, status=400)
        if key in failing:
            return web.json_response({"error": "upstream down"}, status=503)
        return web.json_response({"ok": True})

    async with gateway(answer) as url:
        transport = HttpTransport(url)
        try:
            exhausted = await _queue(activities, TY_CASE, "exhausted")
            refused = await _queue(activities, DT_CASE, "refused")
            no_contact = await _queue(activities, TY_CASE, "nocontact", contact=None)
            failing.add(exhausted)
            for _ in range(DEFAULT_MAX_ATTEMPTS + 2):  # backoff 0: every failure is due again at once
                await deliver_pending(pg_pool, transport, keyring=keyring, backoff_base=0.0)
            retrying = await _queue(activities, TY_CASE, "retrying")
            sent = await _queue(activities, TY_CASE, "sent")
            failing.add(retrying)
            await deliver_pending(pg_pool, transport, keyring=keyring, backoff_base=3600.0)  # next try in an hour
        finally:
            await transport.close()
    rows = dict(await pg_pool.fetch("SELECT key, status || '/' || attempts FROM notifications"))
    assert rows[exhausted] == f"failed/{DEFAULT_MAX_ATTEMPTS}" and rows[refused] == "failed/1"
    assert rows[retrying] == "failed/1" and rows[sent] == "sent/1" and rows[no_contact] == "undeliverable/0"
    yield Outcome(exhausted, refused, no_contact, retrying, sent)


async def test_the_query_lists_what_was_given_up_in_scope(pg_pool: asyncpg.Pool, outcome: Outcome) -> None:
    total, rows = await q.undelivered_notifications(pg_pool, None)
    assert total == 3
    assert set(rows["case_no"]) == {TY_CASE, DT_CASE}
    by_status = rows.groupby("status")["attempts"].apply(sorted).to_dict()
    assert by_status == {"failed": [1, DEFAULT_MAX_ATTEMPTS], "undeliverable": [0]}
    assert any("503" in str(e) for e in rows["last_error"]) and any("400" in str(e) for e in rows["last_error"])
    assert "13912345678" not in rows.to_string()  # the masked contact only

    ty = await q.subtree_ids(pg_pool, "SX-TY")
    total, rows = await q.undelivered_notifications(pg_pool, ty)
    assert total == 2 and set(rows["case_no"]) == {TY_CASE}
    total, rows = await q.undelivered_notifications(pg_pool, ty, limit=1)
    assert total == 2 and len(rows) == 1  # the count is of all of them, the table is capped


@pytest.fixture
def app_env(pg_dsn: str, outcome: Outcome, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("COMPLAINTS_DATABASE_URL", pg_dsn)
    monkeypatch.setenv("COMPLAINTS_MODE", "embedded")
    monkeypatch.setenv("COMPLAINTS_DASHBOARD_NOW", NOW.isoformat())
    monkeypatch.setenv("COMPLAINTS_DASHBOARD_REFRESH_SECONDS", "0")
    yield


def _overview(scope_root: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    if scope_root is not None:
        at.selectbox(key="scope_root").set_value(scope_root)
        at.run()
    assert not at.exception, at.exception
    return at


def test_the_overview_shows_the_undelivered_notifications(app_env: None) -> None:
    at = _overview()
    assert any(h.value.startswith("未能送达的通知") and h.value.endswith(": 3") for h in at.subheader), \
        [h.value for h in at.subheader]
    table = at.dataframe[-1].value
    assert sorted(table["case_no"]) == sorted([TY_CASE, TY_CASE, DT_CASE])
    assert set(table["status"]) == {"failed", "undeliverable"}

    scoped = _overview("SX-TY")
    assert any(h.value.endswith(": 2") for h in scoped.subheader if h.value.startswith("未能送达的通知"))
    assert set(scoped.dataframe[-1].value["case_no"]) == {TY_CASE}
