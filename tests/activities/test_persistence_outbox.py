"""The notification outbox sender: queued -> sent through the local file transport, failures retried later
with backoff, permanent failures stop, and two senders at once never deliver a message twice."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from aiohttp import web
from helpers.gateway import gateway

from activities.case_activities import CaseActivities
from activities.contracts import NotificationRequest
from activities.db import create_pool
from activities.outbox import (
    HttpTransport,
    LocalFileTransport,
    OutboundMessage,
    PermanentDeliveryError,
    deliver_pending,
    run_outbox_sender,
)
from common.codec import KeyRing, new_key

PHONE = "13912345678"
T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def keyring() -> KeyRing:
    return KeyRing({"k1": new_key()}, "k1")


@pytest.fixture
async def clean_outbox(pg_pool: asyncpg.Pool) -> None:
    # the outbox is not append-only; each test starts with an empty queue
    await pg_pool.execute("DELETE FROM notifications")


async def _queue(pg_pool: asyncpg.Pool, keyring: KeyRing, n: int, channel: str = "sms") -> list[str]:
    acts = CaseActivities(pg_pool, keyring)
    case_no = "SX" + uuid.uuid4().hex[:10].upper()
    keys = []
    for i in range(n):
        key = f"{case_no}:n{i}"
        await acts.enqueue_notification(NotificationRequest(
            key=key, case_no=case_no, audience="complainant", channel=channel, recipient_ref="complainant",
            recipient_contact=PHONE, template="feedback_sent", params={"case_no": case_no}, at=T0))
        keys.append(key)
    return keys


class Recording:
    """A transport that records what it sent (optionally slowly, optionally failing)."""

    def __init__(self, fail_with: Exception | None = None, delay: float = 0.0) -> None:
        self.sent: list[OutboundMessage] = []
        self.fail_with = fail_with
        self.delay = delay

    async def send(self, message: OutboundMessage) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail_with is not None:
            raise self.fail_with
        self.sent.append(message)


async def test_queued_to_sent_through_the_local_file_transport(
    clean_outbox: None, pg_pool: asyncpg.Pool, keyring: KeyRing, tmp_path: Path
) -> None:
    keys = await _queue(pg_pool, keyring, 3)
    transport = LocalFileTransport(tmp_path / "outbox" / "delivered.jsonl")
    assert await deliver_pending(pg_pool, transport, keyring=keyring) == 3
    assert await deliver_pending(pg_pool, transport, keyring=keyring) == 0
    rows = await pg_pool.fetch("SELECT key, status, attempts, sent_at FROM notifications ORDER BY key")
    assert [(r["key"], r["status"], r["attempts"]) for r in rows] == [(k, "sent", 1) for k in keys]
    assert all(r["sent_at"] is not None for r in rows)
    text = (tmp_path / "outbox" / "delivered.jsonl").read_text(encoding="utf-8")
    lines = [json.loads(line) for line in text.splitlines()]
    assert [x["key"] for x in lines] == keys
    assert lines[0]["recipient_masked"] == "139****5678" and PHONE not in text


async def test_the_transport_gets_the_decrypted_contact(
    clean_outbox: None, pg_pool: asyncpg.Pool, keyring: KeyRing
) -> None:
    await _queue(pg_pool, keyring, 1)
    transport = Recording()
    assert await deliver_pending(pg_pool, transport, keyring=keyring) == 1
    assert transport.sent[0].recipient_contact == PHONE and transport.sent[0].attempt == 1


async def test_failing_transport_marks_failed_and_retries_later(
    clean_outbox: None, pg_pool: asyncpg.Pool, keyring: KeyRing
) -> None:
    [key] = await _queue(pg_pool, keyring, 1)
    broken = Recording(fail_with=ConnectionError("gateway down"))
    assert await deliver_pending(pg_pool, broken, keyring=keyring) == 0
    row = await pg_pool.fetchrow("SELECT status, attempts, last_error, next_attempt_at > now() AS later "
                                 "FROM notifications WHERE key = $1", key)
    assert (row["status"], row["attempts"], row["later"]) == ("failed", 1, True)
    assert "gateway down" in row["last_error"]
    # backoff: not retried immediately, even by a working transport
    ok = Recording()
    assert await deliver_pending(pg_pool, ok, keyring=keyring) == 0 and not ok.sent
    # ... but once the backoff has passed it is
    await pg_pool.execute("UPDATE notifications SET next_attempt_at = now() WHERE key = $1", key)
    assert await deliver_pending(pg_pool, ok, keyring=keyring) == 1
    row = await pg_pool.fetchrow("SELECT status, attempts, last_error FROM notifications WHERE key = $1", key)
    assert (row["status"], row["attempts"], row["last_error"]) == ("sent", 2, None)


async def test_backoff_grows_and_attempts_are_capped(
    clean_outbox: None, pg_pool: asyncpg.Pool, keyring: KeyRing
) -> None:
    [key] = await _queue(pg_pool, keyring, 1)
    broken = Recording(fail_with=TimeoutError("slow gateway"))
    for _ in range(5):  # backoff_base=0: every failure is due again at once
        await deliver_pending(pg_pool, broken, keyring=keyring, backoff_base=0.0, max_attempts=3)
    row = await pg_pool.fetchrow("SELECT status, attempts FROM notifications WHERE key = $1", key)
    assert (row["status"], row["attempts"]) == ("failed", 3)  # gave up after max_attempts


async def test_permanent_failure_is_not_retried(
    clean_outbox: None, pg_pool: asyncpg.Pool, keyring: KeyRing
) -> None:
    [key] = await _queue(pg_pool, keyring, 1)
    await deliver_pending(pg_pool, Recording(fail_with=PermanentDeliveryError("no such number")), keyring=keyring)
    row = await pg_pool.fetchrow("SELECT status, next_attempt_at = 'infinity' AS never FROM notifications "
                                 "WHERE key = $1", key)
    assert row["status"] == "failed" and row["never"]
    assert await deliver_pending(pg_pool, Recording(), keyring=keyring, backoff_base=0.0) == 0


async def test_two_senders_at_once_never_send_twice(
    clean_outbox: None, pg_pool: asyncpg.Pool, pg_dsn: str, keyring: KeyRing
) -> None:
    keys = await _queue(pg_pool, keyring, 60)
    a, b = Recording(delay=0.002), Recording(delay=0.002)
    other_worker_pool = await create_pool(pg_dsn, min_size=1, max_size=2)  # as a second worker process
    try:
        for _ in range(10):
            await asyncio.gather(
                deliver_pending(pg_pool, a, batch=7, keyring=keyring),
                deliver_pending(other_worker_pool, b, batch=7, keyring=keyring),
            )
    finally:
        await other_worker_pool.close()
    counts = Counter(m.key for m in a.sent + b.sent)
    assert set(counts) == set(keys) and max(counts.values()) == 1
    assert a.sent and b.sent  # both really worked concurrently
    assert await pg_pool.fetchval("SELECT count(*) FROM notifications WHERE status = 'sent'") == len(keys)


async def test_run_outbox_sender_loop_delivers_and_stops(
    clean_outbox: None, pg_pool: asyncpg.Pool, keyring: KeyRing
) -> None:
    stop = asyncio.Event()
    transport = Recording()
    task = asyncio.create_task(run_outbox_sender(pg_pool, transport, interval=0.05, stop_event=stop,
                                                 keyring=keyring))
    keys = await _queue(pg_pool, keyring, 3)
    for _ in range(100):
        if len(transport.sent) == 3:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert sorted(m.key for m in transport.sent) == sorted(keys)


async def test_http_transport_posts_to_the_gateway(
    clean_outbox: None, pg_pool: asyncpg.Pool, keyring: KeyRing
) -> None:
    received: list[tuple[str, dict]] = []
    fail_first = {"n": 0}

    async def answer(request: web.Request) -> web.Response:
        body = await request.json()
        if fail_first["n"] == 0:
            fail_first["n"] += 1
            return web.Response(status=503, text="busy")
        received.append((request.headers["Idempotency-Key"], body))
        return web.json_response({"ok": True})

    async with gateway(answer) as url:
        transport = HttpTransport(url, token="t0ken")
        try:
            [key] = await _queue(pg_pool, keyring, 1)
            assert await deliver_pending(pg_pool, transport, keyring=keyring, backoff_base=0.0) == 0  # 503
            assert await deliver_pending(pg_pool, transport, keyring=keyring, backoff_base=0.0) == 1
        finally:
            await transport.close()
    assert received[0][0] == key and received[0][1]["to"] == PHONE and received[0][1]["channel"] == "sms"
