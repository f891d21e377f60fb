"""The case activities: every side effect of a `ComplaintCase` on PostgreSQL, idempotent under retries.

One `CaseActivities(pool)` per worker process; register `CaseActivities(pool).<method>` (or
`activities.all_activities(pool)`). Each method is an `@activity.defn` whose name is the method name:

* `record_case_event(CaseEventRecord) -> bool` - append to the audit trail; True if written now, False if
  the event key was already there (a retry).
* `project_case(CaseProjection) -> bool` - upsert the case row and its SLA clocks in one transaction;
  False if a projection with a higher version is already stored (stale write ignored).
* `enqueue_notification(NotificationRequest) -> bool` - queue a message in the outbox (contact encrypted);
  False if the key was already queued.
* `persist_case_changes(CaseChanges) -> PersistResult` - the events, notifications and projection of one
  decision (and, at registration, the encrypted personal data) in ONE transaction, same rules and
  idempotency as the single-record activities above (which stay registered for running cases' histories).
  `write_case_changes(conn, changes)` is the same on a connection the caller holds (`complaints db rebuild`).
* `resolve_handling_unit(ResolveUnitRequest) -> ResolvedUnit` - dispatch catalogue lookup, falling back
  from the area up the tree to the jurisdiction-wide rule.
* `load_case_context(CaseContextRequest) -> CaseContext` - the org directory slice of a jurisdiction.
* `store_complainant_pii(ComplainantPiiRecord) -> bool` - encrypted personal data; never stored for a
  confidential reporter (returns False).

Errors: bad data (unknown unit/category/jurisdiction, constraint violations, naive datetimes) raise
`ApplicationError(non_retryable=True)`; connection problems propagate so Temporal retries the activity.
As a safety net, clear phone and ID numbers found in event details or notification params are masked.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, get_args

import asyncpg
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.contracts import (
    CaseChanges,
    CaseContext,
    CaseContextRequest,
    CaseEventRecord,
    CaseProjection,
    ComplainantPiiRecord,
    DispatchRuleRecord,
    MaskedPerson,
    MergeTarget,
    NotificationRequest,
    OrgUnitRecord,
    PersistResult,
    ResolvedUnit,
    ResolveUnitRequest,
)
from cases.pii import id_number_problem, mask_card_number, mask_id_number, mask_name, mask_phone
from cases.policy import ReplyChannel
from common.codec import KeyRing

log = logging.getLogger(__name__)

_LEVEL_RANK = {"county": 0, "city": 1, "province": 2, "national": 3}
_CONTACT_CHANNELS = set(get_args(ReplyChannel))
_MOBILE_IN_TEXT = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
_ID_IN_TEXT = re.compile(r"(?<![\dA-Za-z])\d{17}[\dXx](?![\dA-Za-z])")


def bad_data(message: str, type_: str = "BadCaseData") -> ApplicationError:
    """A non-retryable error: retrying cannot fix the input."""
    return ApplicationError(message, type=type_, non_retryable=True)


@asynccontextmanager
async def _data_errors(what: str) -> AsyncIterator[None]:
    """Turn PostgreSQL data/constraint errors into non-retryable errors; let connection errors through."""
    try:
        yield
    except (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError) as exc:
        raise bad_data(f"{what}: {type(exc).__name__}: {exc}") from exc


def _aware(value: datetime | None, field: str) -> datetime | None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise bad_data(f"{field} must be timezone-aware, got naive {value.isoformat()}")
    return value


def _scrub_text(text: str) -> str:
    def id_sub(m: re.Match[str]) -> str:
        return mask_id_number(m.group(0)) if id_number_problem(m.group(0)) is None else m.group(0)

    return _MOBILE_IN_TEXT.sub(lambda m: mask_phone(m.group(0)), _ID_IN_TEXT.sub(id_sub, text))


def scrub_pii(value: Any) -> Any:
    """Mask clear mobile numbers and valid ID numbers in any string inside `value` (dicts/lists recursed)."""
    if isinstance(value, str):
        return _scrub_text(value)
    if isinstance(value, dict):
        return {k: scrub_pii(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_pii(v) for v in value]
    return value


def _json_ready(value: Any) -> Any:
    """Plain JSON types only (datetimes, dates, enums -> strings)."""
    return json.loads(json.dumps(value, ensure_ascii=False, default=str))


def _ensure_masked(value: str, mask: Callable[[str], str]) -> str:
    """Masked forms pass unchanged; anything that looks clear (no '*') is masked here."""
    if not value or "*" in value:
        return value
    return mask(value)


def mask_contact(channel: str, contact: str | None) -> str | None:
    """The masked form of a recipient contact, per channel (phone, WeChat id, postal address)."""
    if not contact:
        return None
    if channel in ("sms", "callback", "app", "web"):  # a phone, or the phone a platform account is bound to
        return mask_phone(contact)
    if channel == "letter":
        keep = contact.strip()[:6]
        return keep + "****"
    return mask_card_number(contact)  # WeChat open id and other ids: last four kept


class CaseActivities:
    """Activities over one asyncpg pool (one per worker process) and the codec key ring."""

    def __init__(self, pool: asyncpg.Pool, keyring: KeyRing | None = None) -> None:
        self.pool = pool
        self._keyring = keyring

    @property
    def keyring(self) -> KeyRing:
        """The key ring for data at rest (default: the codec keys from the settings)."""
        if self._keyring is None:
            self._keyring = KeyRing.from_settings()
        return self._keyring

    # ---------------------------------------------------------------------------------- audit trail
    @activity.defn
    async def record_case_event(self, event: CaseEventRecord) -> bool:
        """Append one event; idempotent on `event_key`. True if written by this call."""
        details = _event_details(event)
        async with self.pool.acquire() as conn:
            return await _insert_event(conn, event, details)

    # ----------------------------------------------------------------------------------- read model
    @activity.defn
    async def project_case(self, p: CaseProjection) -> bool:
        """Upsert the case and its clocks in one transaction; False if a newer version is stored."""
        _check_projection(p)
        async with (
            _data_errors(f"projection of case {p.case_no} v{p.version}"),
            self.pool.acquire() as conn,
            conn.transaction(),
        ):
            return await _upsert_projection(conn, p)

    # --------------------------------------------------------------------------------------- outbox
    @activity.defn
    async def enqueue_notification(self, n: NotificationRequest) -> bool:
        """Queue a message (contact encrypted, masked form kept); idempotent on `key`. True if queued now.

        A complainant message by SMS/WeChat/letter without a contact is stored as `undeliverable`
        (visible to supervisors) rather than failing the case.
        """
        row = self._notification_row(n)
        async with self.pool.acquire() as conn:
            return await _insert_notification(conn, n.key, row)

    def _notification_row(self, n: NotificationRequest) -> tuple[Any, ...]:
        """Validate a notification and build its row: contact encrypted and masked, params scrubbed."""
        _aware(n.at, "notification.at")
        if n.audience == "complainant" and n.channel == "internal":
            raise bad_data(f"notification {n.key}: a complainant cannot be reached on the 'internal' channel")
        contact = (n.recipient_contact or "").strip() or None
        key_id: str | None = None
        sealed: bytes | None = None
        if contact:
            key_id, sealed = self.keyring.encrypt(contact.encode(), aad=notification_aad(n.key))
        status, error = "queued", None
        if contact is None and n.channel in _CONTACT_CHANNELS:
            status, error = "undeliverable", f"no recipient contact for channel {n.channel}"
        params = {k: scrub_pii(str(v)) for k, v in n.params.items()}
        return (
            n.key,
            n.case_no,
            n.audience,
            n.channel,
            n.recipient_ref,
            mask_contact(n.channel, contact),
            sealed,
            key_id,
            n.template,
            params,
            n.at,
            status,
            error,
        )

    # --------------------------------------------------------------------------- batched persistence
    @activity.defn
    async def persist_case_changes(self, changes: CaseChanges) -> PersistResult:
        """Everything one decision of a case writes, in ONE transaction: the audit-trail events, the outbox
        notifications and the projection (plus, at registration, the encrypted personal data). Same rules as
        `record_case_event`, `enqueue_notification`, `project_case` and `store_complainant_pii`; idempotent
        under retry (event and notification keys are written once, the projection's version guard ignores
        stale writes and re-applies the same version harmlessly). Bad data anywhere fails the whole batch
        (non-retryable) before anything is written."""
        async with self.pool.acquire() as conn:
            result = await self.write_case_changes(conn, changes)
        activity.logger.info(
            "persisted %d new event(s), %d new notification(s), projection %s",
            result.events_written, result.notifications_queued,
            "applied" if result.projection_applied else "unchanged",
        )
        if changes.echo:
            result.changes = changes.model_copy(update={"echo": False})
        return result

    async def write_case_changes(self, conn: asyncpg.Connection, changes: CaseChanges) -> PersistResult:
        """`persist_case_changes` on a connection the caller holds (a savepoint inside the caller's
        transaction, if any): `complaints db rebuild` writes a case through the very same rows and rules."""
        events = [(e, _event_details(e)) for e in changes.events]
        notes = [(n.key, self._notification_row(n)) for n in changes.notifications]
        if changes.projection is not None:
            _check_projection(changes.projection)
        pii = self._pii_row(changes.pii) if changes.pii is not None else None
        result = PersistResult()
        case_nos = sorted({e.case_no for e in changes.events} | {n.case_no for n in changes.notifications})
        async with _data_errors(f"changes of case {', '.join(case_nos)}"), conn.transaction():
            if pii is not None:
                await _upsert_pii(conn, *pii)
                result.pii_stored = True
            for e, details in events:
                result.events_written += await _insert_event(conn, e, details)
            for key, row in notes:
                result.notifications_queued += await _insert_notification(conn, key, row)
            if changes.projection is not None:
                result.projection_applied = await _upsert_projection(conn, changes.projection)
        return result

    # ------------------------------------------------------------------------------- org directory
    @activity.defn
    async def resolve_handling_unit(self, req: ResolveUnitRequest) -> ResolvedUnit:
        """The dispatch catalogue's default unit for a category: the area and its ancestors, then the
        jurisdiction-wide rule. Unknown category/jurisdiction/area: non-retryable error."""
        async with self.pool.acquire() as conn:
            area = req.area_unit_id
            as_unit = await conn.fetchrow(
                "SELECT jurisdiction FROM org_units WHERE unit_id = $1", req.jurisdiction
            )
            if as_unit is not None:
                jurisdiction = as_unit["jurisdiction"]
                area = area or req.jurisdiction
            else:
                jurisdiction = req.jurisdiction
                if (
                    await conn.fetchval("SELECT 1 FROM org_directories WHERE jurisdiction = $1", jurisdiction)
                    is None
                ):
                    raise bad_data(
                        await _unknown_jurisdiction_message(conn, jurisdiction), "UnknownJurisdiction"
                    )
            chain: list[str] = []
            if area:
                chain = [r["unit_id"] for r in await conn.fetch(_CHAIN_SQL, area)]
                if not chain:
                    raise bad_data(f"unknown area unit {area!r}: not in the org directory", "UnknownUnit")
            rules = await conn.fetch(
                "SELECT area_unit_id, unit_id FROM dispatch_catalogue WHERE jurisdiction = $1 AND category = $2",
                jurisdiction,
                req.category,
            )
            if not rules:
                known = [
                    r["category"]
                    for r in await conn.fetch(
                        "SELECT DISTINCT category FROM dispatch_catalogue WHERE jurisdiction = $1 ORDER BY 1",
                        jurisdiction,
                    )
                ]
                raise bad_data(
                    f"unknown category {req.category!r} for jurisdiction {jurisdiction}: "
                    f"the dispatch catalogue knows {known}",
                    "UnknownCategory",
                )
            by_area = {r["area_unit_id"]: r["unit_id"] for r in rules}
            unit_id = next((by_area[a] for a in [*chain, None] if a in by_area), None)
            if unit_id is None:
                raise bad_data(
                    f"no dispatch rule for category {req.category!r} in {area or jurisdiction} "
                    "or any unit above it",
                    "NoDispatchRule",
                )
            unit = await conn.fetchrow(
                "SELECT unit_id, name, jurisdiction FROM org_units WHERE unit_id = $1", unit_id
            )
        return ResolvedUnit(unit_id=unit["unit_id"], name=unit["name"], jurisdiction=unit["jurisdiction"])

    @activity.defn
    async def load_case_context(self, req: CaseContextRequest) -> CaseContext:
        """The directory slice a case needs: units of its jurisdiction plus their ancestors (up to NHSA),
        nearest-level first, and the jurisdiction's dispatch catalogue."""
        async with self.pool.acquire() as conn:
            jurisdiction = req.jurisdiction
            meta = await conn.fetchrow(
                "SELECT provincial_centre, version FROM org_directories WHERE jurisdiction = $1", jurisdiction
            )
            if meta is None:
                unit_jur = await conn.fetchval(
                    "SELECT jurisdiction FROM org_units WHERE unit_id = $1", jurisdiction
                )
                if unit_jur is not None:
                    jurisdiction = unit_jur
                    meta = await conn.fetchrow(
                        "SELECT provincial_centre, version FROM org_directories WHERE jurisdiction = $1",
                        jurisdiction,
                    )
            if meta is None:
                msg = await _unknown_jurisdiction_message(conn, req.jurisdiction)
                raise bad_data(f"{msg} (case {req.case_no})" if req.case_no else msg, "UnknownJurisdiction")
            units = await conn.fetch(
                """
                WITH RECURSIVE slice AS (
                    SELECT unit_id, parent_id FROM org_units WHERE jurisdiction = $1
                    UNION
                    SELECT u.unit_id, u.parent_id FROM org_units u JOIN slice s ON u.unit_id = s.parent_id
                )
                SELECT u.unit_id, u.name, u.level, u.parent_id, u.jurisdiction, u.supervisor_id
                FROM org_units u JOIN slice USING (unit_id)
                """,
                jurisdiction,
            )
            rules = await conn.fetch(
                "SELECT category, area_unit_id, unit_id FROM dispatch_catalogue WHERE jurisdiction = $1 "
                "ORDER BY category, area_unit_id NULLS LAST",
                jurisdiction,
            )
        ordered = sorted(units, key=lambda r: (_LEVEL_RANK[r["level"]], r["unit_id"]))
        return CaseContext(
            jurisdiction=jurisdiction,
            provincial_centre=meta["provincial_centre"],
            version=meta["version"],
            units=[OrgUnitRecord(**dict(r)) for r in ordered],
            dispatch=[DispatchRuleRecord(**dict(r)) for r in rules],
        )

    @activity.defn
    async def load_merge_target(self, case_no: str) -> MergeTarget:
        """Whether the case `case_no` is open and which unit handles it (the read model): a handling unit may
        merge a duplicate only into a case it handles too."""
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow("SELECT open, handling_unit FROM cases WHERE case_no = $1", case_no)
        if row is None:
            return MergeTarget(case_no=case_no, found=False)
        return MergeTarget(case_no=case_no, found=True, open=row["open"], handling_unit=row["handling_unit"])

    # -------------------------------------------------------------------------------- personal data
    @activity.defn
    async def store_complainant_pii(self, rec: ComplainantPiiRecord) -> bool:
        """Store the complainant's personal data AES-GCM encrypted; False (nothing stored) for a
        confidential reporter. Idempotent: a retry rewrites the same row."""
        row = self._pii_row(rec)
        if row is None:
            return False
        async with self.pool.acquire() as conn:
            await _upsert_pii(conn, *row)
        return True

    def _pii_row(self, rec: ComplainantPiiRecord) -> tuple[str, str, bytes] | None:
        """(case_no, key_id, ciphertext) of a complainant's personal data; None for a confidential reporter."""
        if rec.confidential_reporter:
            return None
        if rec.id_number and (problem := id_number_problem(rec.id_number)):
            raise bad_data(f"complainant id_number: {problem}")
        clear = rec.model_dump_json(exclude={"case_no", "confidential_reporter"}).encode()
        key_id, sealed = self.keyring.encrypt(clear, aad=pii_aad(rec.case_no))
        return rec.case_no, key_id, sealed


# ------------------------------------------------------------------ SQL shared by the single and batched writes
# Each helper runs on a connection the caller holds (and, for several writes, inside the caller's transaction).


def _event_details(event: CaseEventRecord) -> Any:
    """Validate an event and return its details as plain JSON with clear personal data masked."""
    _aware(event.at, "event.at")
    return scrub_pii(_json_ready(event.details))


async def _insert_event(conn: asyncpg.Connection, event: CaseEventRecord, details: Any) -> bool:
    """Append one event unless its key is there; True if written now."""
    async with _data_errors(f"case event {event.event_key}"):
        row = await conn.fetchrow(
            """
            INSERT INTO case_events
                (event_key, case_no, seq, kind, stage, at, actor_id, actor_role, actor_unit, details)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
            ON CONFLICT (event_key) DO NOTHING
            RETURNING id
            """,
            event.event_key,
            event.case_no,
            event.seq,
            event.kind,
            event.stage,
            event.at,
            event.actor_id,
            event.actor_role,
            event.actor_unit,
            details,
        )
    return row is not None


async def _insert_notification(conn: asyncpg.Connection, key: str, row: tuple[Any, ...]) -> bool:
    """Queue one outbox row (built by `CaseActivities._notification_row`) unless its key is there."""
    async with _data_errors(f"notification {key}"):
        written = await conn.fetchrow(
            """
            INSERT INTO notifications (key, case_no, audience, channel, recipient_ref, recipient_masked,
                                       recipient_contact, contact_key_id, template, params, requested_at,
                                       status, last_error)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
            ON CONFLICT (key) DO NOTHING
            RETURNING id
            """,
            *row,
        )
    return written is not None


def _check_projection(p: CaseProjection) -> None:
    for name in (
        "due_at",
        "registered_at",
        "accepted_at",
        "investigation_completed_at",
        "feedback_sent_at",
        "closed_at",
        "updated_at",
    ):
        _aware(getattr(p, name), f"projection.{name}")
    for c in p.clocks:
        for name in ("started_at", "original_due_at", "due_at", "stopped_at"):
            _aware(getattr(c, name), f"clock {c.clock}/{c.cycle}.{name}")


async def _upsert_projection(conn: asyncpg.Connection, p: CaseProjection) -> bool:
    """Upsert the case row and its clocks (inside the caller's transaction); False if a newer version is
    stored (nothing written)."""
    person = MaskedPerson() if p.confidential_reporter else p.complainant
    async with _data_errors(f"projection of case {p.case_no} v{p.version}"):
        applied = await conn.fetchval(
            _PROJECT_SQL,
            p.case_no,
            p.version,
            p.kind,
            p.channel,
            p.category,
            p.jurisdiction,
            p.handling_unit,
            p.stage,
            p.open,
            p.sla_level,
            p.due_at,
            p.provisional,
            p.extension_status,
            p.returns,
            p.rehandlings,
            p.satisfaction,
            p.review_outcome,
            p.close_reason,
            p.registered_at,
            p.accepted_at,
            p.investigation_completed_at,
            p.feedback_sent_at,
            p.closed_at,
            p.updated_at,
            _ensure_masked(person.name, mask_name),
            _ensure_masked(person.id_number, mask_id_number),
            _ensure_masked(person.phone, mask_phone),
            _ensure_masked(person.card_number, mask_card_number),
            p.confidential_reporter,
        )
        if applied is None:
            return False
        await conn.execute(
            "DELETE FROM sla_clocks WHERE case_no = $1 AND NOT ((clock || ':' || cycle) = ANY($2::text[]))",
            p.case_no,
            [f"{c.clock}:{c.cycle}" for c in p.clocks],
        )
        if p.clocks:
            await conn.executemany(
                _CLOCK_SQL,
                [
                    (
                        p.case_no,
                        c.clock,
                        c.cycle,
                        c.unit,
                        c.started_at,
                        c.original_due_at,
                        c.due_at,
                        c.extended,
                        c.stopped_at,
                        c.level,
                        c.breached,
                        c.provisional,
                    )
                    for c in p.clocks
                ],
            )
    return True


async def _upsert_pii(conn: asyncpg.Connection, case_no: str, key_id: str, sealed: bytes) -> None:
    async with _data_errors(f"personal data of case {case_no}"):
        await conn.execute(
            """
            INSERT INTO case_pii (case_no, key_id, ciphertext) VALUES ($1, $2, $3)
            ON CONFLICT (case_no) DO UPDATE SET key_id = EXCLUDED.key_id, ciphertext = EXCLUDED.ciphertext,
                                                updated_at = now()
            """,
            case_no,
            key_id,
            sealed,
        )


_PROJECT_SQL = """
INSERT INTO cases AS c (
    case_no, version, kind, channel, category, jurisdiction, handling_unit, stage, open,
    sla_level, due_at, provisional, extension_status, returns, rehandlings, satisfaction,
    review_outcome, close_reason, registered_at, accepted_at, investigation_completed_at,
    feedback_sent_at, closed_at, updated_at, complainant_name, complainant_id_number,
    complainant_phone, complainant_card_number, confidential_reporter)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
        $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29)
ON CONFLICT (case_no) DO UPDATE SET
    version = EXCLUDED.version, kind = EXCLUDED.kind, channel = EXCLUDED.channel,
    category = EXCLUDED.category, jurisdiction = EXCLUDED.jurisdiction,
    handling_unit = EXCLUDED.handling_unit, stage = EXCLUDED.stage, open = EXCLUDED.open,
    sla_level = EXCLUDED.sla_level, due_at = EXCLUDED.due_at,
    provisional = EXCLUDED.provisional, extension_status = EXCLUDED.extension_status,
    returns = EXCLUDED.returns, rehandlings = EXCLUDED.rehandlings,
    satisfaction = EXCLUDED.satisfaction, review_outcome = EXCLUDED.review_outcome,
    close_reason = EXCLUDED.close_reason, registered_at = EXCLUDED.registered_at,
    accepted_at = EXCLUDED.accepted_at,
    investigation_completed_at = EXCLUDED.investigation_completed_at,
    feedback_sent_at = EXCLUDED.feedback_sent_at, closed_at = EXCLUDED.closed_at,
    updated_at = EXCLUDED.updated_at, complainant_name = EXCLUDED.complainant_name,
    complainant_id_number = EXCLUDED.complainant_id_number,
    complainant_phone = EXCLUDED.complainant_phone,
    complainant_card_number = EXCLUDED.complainant_card_number,
    confidential_reporter = EXCLUDED.confidential_reporter,
    projected_at = now()
WHERE c.version <= EXCLUDED.version
RETURNING version
"""

_CLOCK_SQL = """
INSERT INTO sla_clocks (case_no, clock, cycle, unit, started_at, original_due_at, due_at,
                        extended, stopped_at, level, breached, provisional)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
ON CONFLICT (case_no, clock, cycle) DO UPDATE SET
    unit = EXCLUDED.unit, started_at = EXCLUDED.started_at,
    original_due_at = EXCLUDED.original_due_at, due_at = EXCLUDED.due_at,
    extended = EXCLUDED.extended, stopped_at = EXCLUDED.stopped_at,
    level = EXCLUDED.level, breached = EXCLUDED.breached,
    provisional = EXCLUDED.provisional, updated_at = now()
"""

_CHAIN_SQL = """
WITH RECURSIVE chain AS (
    SELECT unit_id, parent_id, 0 AS depth FROM org_units WHERE unit_id = $1
    UNION ALL
    SELECT u.unit_id, u.parent_id, c.depth + 1 FROM org_units u JOIN chain c ON u.unit_id = c.parent_id
    WHERE c.depth < 16
)
SELECT unit_id FROM chain ORDER BY depth
"""


async def _unknown_jurisdiction_message(conn: asyncpg.Connection, jurisdiction: str) -> str:
    known = [
        r["jurisdiction"] for r in await conn.fetch("SELECT jurisdiction FROM org_directories ORDER BY 1")
    ]
    return f"unknown jurisdiction {jurisdiction!r}: the org directory has {known or 'nothing (not seeded)'}"


def pii_aad(case_no: str) -> bytes:
    """Associated data binding a `case_pii` ciphertext to its case (a row copied to another case fails)."""
    return b"case_pii:" + case_no.encode()


def notification_aad(key: str) -> bytes:
    """Associated data binding an encrypted recipient contact to its notification."""
    return b"notification:" + key.encode()


async def load_complainant_pii(
    pool: asyncpg.Pool, case_no: str, keyring: KeyRing
) -> ComplainantPiiRecord | None:
    """Decrypt a case's stored personal data (for authorised back-office use; never for the dashboard)."""
    row = await pool.fetchrow("SELECT key_id, ciphertext FROM case_pii WHERE case_no = $1", case_no)
    if row is None:
        return None
    clear = keyring.decrypt(row["key_id"], row["ciphertext"], aad=pii_aad(case_no))
    return ComplainantPiiRecord(case_no=case_no, **json.loads(clear))
