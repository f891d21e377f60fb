"""The outbox's metrics on a real PostgreSQL and a real HTTP gateway: the delivery counters count each result,
and the read-model gauges tell pending from exhausted from undeliverable, with the oldest pending age."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from aiohttp import web
from helpers.gateway import gateway
from prometheus_client import REGISTRY

from activities.case_activities import CaseActivities
from activities.contracts import NotificationRequest
from activities.outbox import DEFAULT_MAX_ATTEMPTS, HttpTransport, LocalFileTransport, deliver_pending
from common.codec import KeyRing
from common.metrics import ReadModelCollector


async def _queue(pool: asyncpg.Pool, keyring: KeyRing, at: datetime, contact: str | None = "13912345678") -> str:
    case_no = "SX" + uuid.uuid4().hex[:10].upper()
    key = f"{case_no}:n1"
    await CaseActivities(pool, keyring).enqueue_notification(NotificationRequest(
        key=key, case_no=case_no, audience="complainant", channel="sms", recipient_ref="complainant",
        recipient_contact=contact, template="feedback_sent", params={"case_no": case_no}, at=at))
    return key


def _deliveries(result: str) -> float:
    value = REGISTRY.get_sample_value("complaints_outbox_deliveries_total", {"result": result})
    return value or 0.0


async def test_outbox_counters_and_gauges(pg_pool: asyncpg.Pool, tmp_path: Path) -> None:
    keyring = KeyRing.from_settings()
    collector = ReadModelCollector(pg_pool, max_attempts=DEFAULT_MAX_ATTEMPTS)
    empty = await collector.refresh()
    assert (empty.up, empty.notifications_pending, empty.oldest_pending_age_seconds) == (True, 0, 0.0)

    before = {r: _deliveries(r) for r in ("sent", "retry", "permanent")}
    sent_ok = await _queue(pg_pool, keyring, datetime(2026, 3, 1, 9, tzinfo=UTC))
    assert await deliver_pending(pg_pool, LocalFileTransport(tmp_path / "delivered.jsonl"), keyring=keyring) == 1

    oldest = datetime.now(UTC) - timedelta(hours=3)
    retried = await _queue(pg_pool, keyring, oldest)
    refused = await _queue(pg_pool, keyring, datetime.now(UTC) - timedelta(hours=5))
    verdicts = {retried: 503, refused: 400}  # the gateway is down for one, rejects the other for good

    async def answer(request: web.Request) -> web.Response:
        return web.Response(status=verdicts[request.headers["Idempotency-Key"]], text="gateway says no")

    async with gateway(answer) as url:
        transport = HttpTransport(url)
        try:
            assert await deliver_pending(pg_pool, transport, keyring=keyring) == 0
        finally:
            await transport.close()

    await _queue(pg_pool, keyring, datetime.now(UTC) - timedelta(hours=1))  # waits for the next pass
    await _queue(pg_pool, keyring, datetime.now(UTC), contact=None)  # an SMS without a number: undeliverable

    assert {r: _deliveries(r) - before[r] for r in before} == {"sent": 1, "retry": 1, "permanent": 1}
    snap = await collector.refresh()
    assert snap.up
    assert (snap.notifications_pending, snap.notifications_exhausted, snap.notifications_undeliverable) == (2, 1, 1)
    # the refused one is older, but it is not pending: the retried one is the oldest still to be sent
    expected_age = (datetime.now(UTC) - oldest).total_seconds()
    assert expected_age - 60 < snap.oldest_pending_age_seconds <= expected_age + 1
    assert sent_ok and await pg_pool.fetchval("SELECT status FROM notifications WHERE key = $1", sent_ok) == "sent"

    # a retried notification at its last attempt (seven more failing passes, shortened) is exhausted, not pending
    await pg_pool.execute("UPDATE notifications SET attempts = $2 WHERE key = $1", retried, DEFAULT_MAX_ATTEMPTS)
    snap = await collector.refresh()
    assert (snap.notifications_pending, snap.notifications_exhausted) == (1, 2)
