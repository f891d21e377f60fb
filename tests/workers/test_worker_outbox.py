"""The worker process's outbox sender runs at `outbox_interval_seconds` (COMPLAINTS_OUTBOX_INTERVAL_SECONDS),
closes its gateway connection when the worker stops, and tells a case when its result was delivered."""

from __future__ import annotations

import asyncio
import gc
import random
import uuid
import warnings
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import asyncpg
from aiohttp import web
from helpers.cases import CASEWORKER, CST, DISPATCHER, HANDLING_UNIT, INTAKE, registration
from helpers.client import task_queue
from helpers.gateway import gateway
from temporalio.testing import WorkflowEnvironment

from activities.case_activities import CaseActivities
from activities.contracts import NotificationRequest
from calendars import get_calendar
from cases.models import AcceptDecision, CompleteInvestigationDecision, SendFeedbackDecision, WithdrawDecision
from common.codec import KeyRing
from common.connect import connect
from common.settings import Settings
from workers.main import run_worker
from workflows import ComplaintCase
from workflows.client import start_case


async def _queue(pool: asyncpg.Pool, keyring: KeyRing) -> str:
    case_no = "SX" + uuid.uuid4().hex[:10].upper()
    key = f"{case_no}:n1"
    await CaseActivities(pool, keyring).enqueue_notification(NotificationRequest(
        key=key, case_no=case_no, audience="complainant", channel="sms", recipient_ref="complainant",
        recipient_contact="13912345678", template="feedback_sent", params={"case_no": case_no},
        at=datetime(2026, 3, 2, 9, 30, tzinfo=UTC)))
    return key


async def _status(pool: asyncpg.Pool, key: str) -> str:
    return str(await pool.fetchval("SELECT status FROM notifications WHERE key = $1", key))


async def test_the_worker_sender_waits_the_configured_interval(
    dev_env: WorkflowEnvironment, pg_dsn: str, pg_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    settings = Settings(
        temporal_address=dev_env.client.service_client.config.target_host, task_queue=task_queue(),
        database_url=pg_dsn, data_dir=tmp_path, outbox_transport="file", outbox_interval_seconds=3600,
        worker_ops_port=0,
    )
    keyring = KeyRing.from_settings(settings)  # the worker reads the same key file under tmp_path
    first = await _queue(pg_pool, keyring)
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(settings, stop))
    try:
        for _ in range(300):  # the sender's first pass, at start
            if await _status(pg_pool, first) == "sent" or worker.done():
                break
            await asyncio.sleep(0.1)
        assert await _status(pg_pool, first) == "sent"
        second = await _queue(pg_pool, keyring)
        # the next pass is an hour away; a sender on the 2 s default would have sent it by now
        await asyncio.sleep(5)
        assert await _status(pg_pool, second) == "queued"
        assert not worker.done()
    finally:
        stop.set()
        await asyncio.wait_for(worker, 60)
    assert await _status(pg_pool, second) == "queued"  # stopping does not flush: the next worker sends it
    delivered = (tmp_path / "outbox" / "delivered.jsonl").read_text(encoding="utf-8")
    assert first in delivered and second not in delivered


async def test_the_worker_closes_the_gateway_session_when_it_stops(
    dev_env: WorkflowEnvironment, pg_dsn: str, pg_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    received: list[str] = []

    async def answer(request: web.Request) -> web.Response:
        received.append(request.headers["Idempotency-Key"])
        return web.json_response({"ok": True})

    async with gateway(answer) as url:
        settings = Settings(
            temporal_address=dev_env.client.service_client.config.target_host, task_queue=task_queue(),
            database_url=pg_dsn, data_dir=tmp_path, outbox_transport="http", outbox_gateway_url=url,
            outbox_interval_seconds=0.2, worker_ops_port=0,
        )
        keyring = KeyRing.from_settings(settings)
        key = await _queue(pg_pool, keyring)
        stop = asyncio.Event()
        worker = asyncio.create_task(run_worker(settings, stop))
        for _ in range(300):
            if key in received or worker.done():
                break
            await asyncio.sleep(0.1)
        assert received == [key]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            stop.set()
            await asyncio.wait_for(worker, 60)
            del worker
            gc.collect()  # an HTTP session left open says so when it is collected
        assert not [w for w in caught if "Unclosed client session" in str(w.message)]


async def test_the_sender_tells_the_case_when_its_result_was_delivered(
    dev_env: WorkflowEnvironment, pg_dsn: str, pg_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    """The worker's sender delivers the feedback SMS and signals the case: the review window then counts from the
    day of that delivery (the row's `sent_at`), no longer provisional, and ends at 24:00 of its 30th day."""
    settings = Settings(
        temporal_address=dev_env.client.service_client.config.target_host, task_queue=task_queue(),
        database_url=pg_dsn, data_dir=tmp_path, outbox_transport="file", outbox_interval_seconds=0.2,
    )
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(settings, stop))
    try:
        client = await connect(settings)
        now = datetime.now(CST)
        reg = registration(case_no=f"SX{now:%Y%m%d}{random.randint(60000, 99999)}", received_at=now.isoformat())
        h = await start_case(client, reg, task_queue=settings.task_queue)
        await h.execute_update(ComplaintCase.accept, AcceptDecision(actor=DISPATCHER, unit_id=HANDLING_UNIT))
        await h.execute_update(
            ComplaintCase.complete_investigation, CompleteInvestigationDecision(actor=CASEWORKER, findings="已核实")
        )
        await h.execute_update(ComplaintCase.send_feedback, SendFeedbackDecision(actor=CASEWORKER, message="结果", basis="《医疗保障基金使用监督管理条例》", reasons="核查属实"))
        s = await h.query(ComplaintCase.summary)
        for _ in range(300):
            if s.feedback_received_on is not None or worker.done():
                break
            await asyncio.sleep(0.1)
            s = await h.query(ComplaintCase.summary)
        # a hotline case is answered by call-back and SMS: the first delivery reported is the one that counts
        row = await pg_pool.fetchrow(
            "SELECT sent_at, delivery_reported_at FROM notifications"
            " WHERE case_no = $1 AND template = 'case_feedback' AND audience = 'complainant'"
            " AND delivery_reported_at IS NOT NULL ORDER BY delivery_reported_at LIMIT 1",
            reg.case_no,
        )
        assert row is not None and row["sent_at"] is not None
        delivered_on = row["sent_at"].astimezone(CST).date()
        assert s.feedback_received_on == delivered_on
        cal = get_calendar("CN-SX")
        last_day = cal.natural_deadline(delivered_on, 30)
        assert s.review_window_ends_at == datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=CST)
        # receipt is known now; the window stays provisional only when its last day is in a provisional year
        assert s.review_window_provisional == cal.is_provisional(last_day)
        [event] = [e for e in s.events if e.kind == "feedback_delivered"]
        assert datetime.fromisoformat(event.details["delivered_at"]) == row["sent_at"]
        await h.execute_update(ComplaintCase.withdraw, WithdrawDecision(actor=INTAKE))
    finally:
        stop.set()
        await asyncio.wait_for(worker, 60)
