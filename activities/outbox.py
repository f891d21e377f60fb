"""The notification outbox sender: delivers queued `notifications` rows through a `Transport`.

Activities only *queue* messages (idempotent on their key); this sender, running in every worker as a
background loop (`run_outbox_sender`), claims due rows with `FOR UPDATE SKIP LOCKED` (so any number of
senders never pick the same row), marks them `sending` with a lease, sends them and marks them `sent`, or
`failed` with `attempts + 1` and an exponential backoff before the next try. A sender that dies mid-send
leaves a `sending` row whose lease expires and is picked up again: delivery is at-least-once, and every
message carries its key as an idempotency key for the gateway.

Some deliveries matter to the case itself: the review window counts from the day the complainant received the
result. After each round the sender signals `notice_delivered` to the case of every delivered notice of those
templates (`common.contract.DELIVERY_REPORTED_TEMPLATES`) and marks the row reported (`report_deliveries`); a
row whose signal failed stays unreported and is signalled again next round (the case ignores repeats).

Transports:
* `LocalFileTransport` (embedded mode): appends each delivered message as a JSON line, with the recipient
  *masked*, to `<data_dir>/outbox/delivered.jsonl`.
* `HttpTransport`: POSTs JSON to an SMS/letter/WeChat gateway URL (`COMPLAINTS_OUTBOX_GATEWAY_URL`) with
  `Idempotency-Key: <key>`; 4xx answers (other than 408/429) are permanent failures.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import asyncpg
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from activities.case_activities import notification_aad
from activities.contracts import NoticeDelivered
from common.codec import CodecKeyError, KeyRing
from common.contract import DELIVERY_REPORTED_TEMPLATES, NOTICE_DELIVERED_SIGNAL, workflow_id
from common.metrics import OUTBOX_DELIVERIES
from common.settings import get_settings

log = logging.getLogger(__name__)

DEFAULT_MAX_ATTEMPTS = 8
DEFAULT_LEASE = timedelta(minutes=5)
DEFAULT_BACKOFF_BASE = 10.0  # seconds; doubled per attempt
MAX_BACKOFF = 3600.0


@dataclass(frozen=True)
class OutboundMessage:
    """One message to deliver. `recipient_contact` is the clear contact (decrypted just for sending)."""

    key: str
    case_no: str
    audience: str
    channel: str
    recipient_ref: str
    recipient_masked: str | None
    template: str
    params: dict[str, Any]
    requested_at: datetime
    attempt: int
    recipient_contact: str | None = field(default=None, repr=False)


class PermanentDeliveryError(Exception):
    """The message can never be delivered as is (bad address, rejected by the gateway): no retries."""


class Transport(Protocol):
    """Delivers one message; raises on failure (`PermanentDeliveryError` = do not retry)."""

    async def send(self, message: OutboundMessage) -> None:
        """Deliver `message` or raise."""
        ...

    async def close(self) -> None:
        """Release what the transport holds (connections); called once when the sender stops."""
        ...


class LocalFileTransport:
    """Embedded-mode delivery: one JSON line per message (recipient masked) in a file."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = asyncio.Lock()

    async def send(self, message: OutboundMessage) -> None:
        """Append the message (without the clear contact) to the file."""
        record = asdict(message)
        record.pop("recipient_contact", None)
        record["requested_at"] = message.requested_at.isoformat()
        record["delivered_at"] = datetime.now().astimezone().isoformat()
        line = json.dumps(record, ensure_ascii=False) + "\n"
        async with self._lock:
            await asyncio.to_thread(self._append, line)

    async def close(self) -> None:
        """Nothing to release: every append opens and closes the file."""

    def _append(self, line: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(line)
            f.flush()


class HttpTransport:
    """Delivery through an HTTP gateway: POST JSON, `Idempotency-Key` header, bearer token optional."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        timeout: float = 10.0,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.url = url
        self.token = token
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session = session
        self._own_session = session is None

    async def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
            self._own_session = True
        return self._session

    async def send(self, message: OutboundMessage) -> None:
        """POST the message; 2xx = delivered, 4xx (not 408/429) = permanent failure, else retry later."""
        body = {
            "key": message.key,
            "case_no": message.case_no,
            "audience": message.audience,
            "channel": message.channel,
            "recipient_ref": message.recipient_ref,
            "to": message.recipient_contact,
            "template": message.template,
            "params": message.params,
            "requested_at": message.requested_at.isoformat(),
        }
        headers = {"Idempotency-Key": message.key}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        session = await self._get_session()
        async with session.post(self.url, json=body, headers=headers) as resp:
            if 200 <= resp.status < 300:
                return
            text = (await resp.text())[:500]
            if 400 <= resp.status < 500 and resp.status not in (408, 429):
                raise PermanentDeliveryError(f"gateway refused {message.key}: HTTP {resp.status} {text}")
            raise RuntimeError(f"gateway error for {message.key}: HTTP {resp.status} {text}")

    async def close(self) -> None:
        """Close the HTTP session if this transport opened it."""
        if self._own_session and self._session is not None:
            await self._session.close()


def make_transport(settings: Any = None) -> Transport:
    """The transport the settings ask for: 'file' (default, under the data folder) or 'http'."""
    if settings is None:
        settings = get_settings()
    if settings.outbox_transport == "http":
        if not settings.outbox_gateway_url:
            raise ValueError(
                "COMPLAINTS_OUTBOX_GATEWAY_URL is required with COMPLAINTS_OUTBOX_TRANSPORT=http"
            )
        return HttpTransport(settings.outbox_gateway_url, settings.outbox_gateway_token)
    if settings.outbox_transport != "file":
        raise ValueError(
            f"COMPLAINTS_OUTBOX_TRANSPORT must be 'file' or 'http', not {settings.outbox_transport!r}"
        )
    return LocalFileTransport(Path(settings.data_dir) / "outbox" / "delivered.jsonl")


_CLAIM_SQL = """
WITH due AS MATERIALIZED (
    SELECT id FROM notifications
    WHERE (status IN ('queued', 'failed') AND next_attempt_at <= now() AND attempts < $2)
       OR (status = 'sending' AND locked_until < now())
    ORDER BY next_attempt_at, id
    LIMIT $1
    FOR UPDATE SKIP LOCKED
)
UPDATE notifications n
SET status = 'sending', attempts = n.attempts + 1, locked_until = now() + $3::interval
FROM due
WHERE n.id = due.id
RETURNING n.id, n.key, n.case_no, n.audience, n.channel, n.recipient_ref, n.recipient_masked,
          n.recipient_contact, n.contact_key_id, n.template, n.params, n.requested_at, n.attempts
"""


async def deliver_pending(
    pool: asyncpg.Pool,
    transport: Transport,
    batch: int = 100,
    *,
    keyring: KeyRing | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    lease: timedelta = DEFAULT_LEASE,
    backoff_base: float = DEFAULT_BACKOFF_BASE,
) -> int:
    """Claim up to `batch` due messages, send them, record the outcome; returns how many were sent."""
    rows = await pool.fetch(_CLAIM_SQL, batch, max_attempts, lease)
    if not rows:
        return 0
    sent = 0
    for row in rows:
        try:
            contact = None
            if row["recipient_contact"] is not None:
                if keyring is None:
                    keyring = KeyRing.from_settings()
                contact = keyring.decrypt(
                    row["contact_key_id"], row["recipient_contact"], aad=notification_aad(row["key"])
                ).decode()
            message = OutboundMessage(
                key=row["key"],
                case_no=row["case_no"],
                audience=row["audience"],
                channel=row["channel"],
                recipient_ref=row["recipient_ref"],
                recipient_masked=row["recipient_masked"],
                template=row["template"],
                params=dict(row["params"] or {}),
                requested_at=row["requested_at"],
                attempt=row["attempts"],
                recipient_contact=contact,
            )
            await transport.send(message)
        except (PermanentDeliveryError, CodecKeyError) as exc:
            await _mark_failed(pool, row["id"], f"{type(exc).__name__}: {exc}", None)
            OUTBOX_DELIVERIES.labels(result="permanent").inc()
            log.warning(
                "notification %s failed permanently: %s", row["key"], exc, extra={"case_no": row["case_no"]}
            )
            continue
        except Exception as exc:  # any transport problem: retry later
            delay = min(MAX_BACKOFF, backoff_base * (2 ** (row["attempts"] - 1)))
            await _mark_failed(pool, row["id"], f"{type(exc).__name__}: {exc}", delay)
            OUTBOX_DELIVERIES.labels(result="retry").inc()
            log.warning(
                "notification %s attempt %d failed, retry in %.0fs: %s",
                row["key"],
                row["attempts"],
                delay,
                exc,
                extra={"case_no": row["case_no"]},
            )
            continue
        await pool.execute(
            "UPDATE notifications SET status = 'sent', sent_at = now(), locked_until = NULL, last_error = NULL "
            "WHERE id = $1 AND status = 'sending'",
            row["id"],
        )
        OUTBOX_DELIVERIES.labels(result="sent").inc()
        sent += 1
    return sent


async def _mark_failed(pool: asyncpg.Pool, row_id: int, error: str, delay: float | None) -> None:
    """`failed` with a next attempt after `delay` seconds; `delay=None` = never again."""
    if delay is None:
        await pool.execute(
            "UPDATE notifications SET status = 'failed', locked_until = NULL, last_error = $2, "
            "next_attempt_at = 'infinity' WHERE id = $1",
            row_id,
            error[:2000],
        )
    else:
        await pool.execute(
            "UPDATE notifications SET status = 'failed', locked_until = NULL, last_error = $2, "
            "next_attempt_at = now() + make_interval(secs => $3) WHERE id = $1",
            row_id,
            error[:2000],
            delay,
        )


_UNREPORTED_SQL = """
SELECT id, key, case_no, template, sent_at FROM notifications
WHERE status = 'sent' AND delivery_reported_at IS NULL AND audience = 'complainant'
  AND template = ANY($1::text[])
ORDER BY sent_at, id
LIMIT $2
"""


async def report_deliveries(pool: asyncpg.Pool, client: Client, batch: int = 100) -> int:
    """Signal each case whose result notice was delivered (when: the row's `sent_at`) and mark the row
    reported; returns how many rows were reported. A case that has closed or does not exist has nobody left to
    tell (reported too); any other failure leaves the row for the next round."""
    rows = await pool.fetch(_UNREPORTED_SQL, list(DELIVERY_REPORTED_TEMPLATES), batch)
    reported = 0
    for row in rows:
        report = NoticeDelivered(key=row["key"], template=row["template"], delivered_at=row["sent_at"])
        try:
            await client.get_workflow_handle(workflow_id(row["case_no"])).signal(NOTICE_DELIVERED_SIGNAL, report)
        except RPCError as exc:
            if exc.status is not RPCStatusCode.NOT_FOUND:
                log.warning("delivery of %s not reported yet: %s", row["key"], exc)
                continue
        await pool.execute("UPDATE notifications SET delivery_reported_at = now() WHERE id = $1", row["id"])
        reported += 1
    return reported


async def run_outbox_sender(
    pool: asyncpg.Pool,
    transport: Transport,
    interval: float = 2.0,
    stop_event: asyncio.Event | None = None,
    *,
    batch: int = 100,
    keyring: KeyRing | None = None,
    client: Client | None = None,
) -> None:
    """Deliver in a loop until `stop_event` is set (or the task is cancelled), reporting deliveries to their
    cases through `client`. Errors are logged and the loop goes on (the database may be briefly unreachable);
    a full batch is followed at once by the next."""
    stop_event = stop_event or asyncio.Event()
    while not stop_event.is_set():
        sent = 0
        try:
            sent = await deliver_pending(pool, transport, batch, keyring=keyring)
            if client is not None:
                await report_deliveries(pool, client, batch)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, RPCError) as exc:
            log.warning("outbox sender: %s", exc)
        if sent >= batch:
            continue
        try:
            await asyncio.wait_for(stop_event.wait(), timeout=interval)
        except TimeoutError:
            pass
