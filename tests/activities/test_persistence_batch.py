"""`persist_case_changes` against a real PostgreSQL: one transaction per decision, exactly once under real
Temporal retries (the first attempt commits, then "crashes" before reporting), same rules as the single-record
activities (PII scrubbed, contact encrypted, stale projections ignored, bad data writes nothing)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import asyncpg
import pytest
from helpers.persistence import ID_NUMBER, PHONE, T0, projection, record_case_no, timeline
from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.case_activities import CaseActivities, load_complainant_pii, notification_aad
from activities.contracts import CaseChanges, ComplainantPiiRecord, NotificationRequest, PersistResult
from common.codec import KeyRing, new_key
from workers.sandbox import workflow_runner

K1 = new_key()


@pytest.fixture(scope="module")
def keyring() -> KeyRing:
    return KeyRing({"k1": K1}, "k1")


@pytest.fixture
def acts(pg_pool: asyncpg.Pool, keyring: KeyRing) -> CaseActivities:
    return CaseActivities(pg_pool, keyring)


def notices(case_no: str) -> list[NotificationRequest]:
    return [
        NotificationRequest(
            key=f"{case_no}:1:n0:complainant", case_no=case_no, audience="complainant", channel="sms",
            recipient_ref="complainant", recipient_contact=PHONE, template="case_registered",
            params={"note": f"回电 {PHONE}"}, at=T0,
        ),
        NotificationRequest(
            key=f"{case_no}:3:n0:handling_unit", case_no=case_no, audience="handling_unit", channel="internal",
            recipient_ref="SX-TY-XD", template="case_assigned", params={"case_no": case_no}, at=T0,
        ),
    ]


def changes(case_no: str) -> CaseChanges:
    return CaseChanges(
        events=timeline(case_no)[:3],
        notifications=notices(case_no),
        projection=projection(case_no, 3, "investigation"),
        pii=ComplainantPiiRecord(case_no=case_no, name="张三", id_number=ID_NUMBER, phone=PHONE),
    )


@workflow.defn(name="PersistBatch")
class PersistBatch:
    """Calls `persist_case_changes` once, like `ComplaintCase._publish` on the new path."""

    @workflow.run
    async def run(self, batch: CaseChanges) -> PersistResult:
        return await workflow.execute_activity(
            "persist_case_changes",
            batch,
            result_type=PersistResult,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=100), maximum_attempts=5),
        )


async def test_batch_written_exactly_once_through_temporal_retries(
    dev_env: WorkflowEnvironment, acts: CaseActivities, pg_pool: asyncpg.Pool, keyring: KeyRing
) -> None:
    case_no = record_case_no()
    batch = changes(case_no)
    attempts: list[PersistResult] = []

    @activity.defn(name="persist_case_changes")
    async def crash_after_commit(c: CaseChanges) -> PersistResult:
        result = await acts.persist_case_changes(c)
        attempts.append(result)
        if activity.info().attempt == 1:
            raise RuntimeError("simulated crash after the database commit")
        return result

    queue = f"persist-batch-{uuid.uuid4()}"
    async with Worker(dev_env.client, task_queue=queue, workflows=[PersistBatch], activities=[crash_after_commit],
                      workflow_runner=workflow_runner()):
        final = await dev_env.client.execute_workflow(
            PersistBatch.run, batch, id=f"pb-{case_no}", task_queue=queue, result_type=PersistResult
        )
    # the first attempt wrote everything and "crashed"; the retry found it all written
    assert len(attempts) == 2
    assert attempts[0] == PersistResult(events_written=3, notifications_queued=2, projection_applied=True,
                                        pii_stored=True)
    assert (final.events_written, final.notifications_queued, final.projection_applied) == (0, 0, True)
    assert final == attempts[1]

    rows = await pg_pool.fetch("SELECT seq, kind, event_key FROM case_events WHERE case_no = $1 ORDER BY id", case_no)
    assert [(r["seq"], r["kind"]) for r in rows] == [(e.seq, e.kind) for e in batch.events]
    notes = await pg_pool.fetch(
        "SELECT key, status, recipient_masked, recipient_contact, contact_key_id, params FROM notifications "
        "WHERE case_no = $1 ORDER BY key", case_no
    )
    assert [r["key"] for r in notes] == sorted(n.key for n in batch.notifications)
    sms = next(r for r in notes if r["key"].endswith("complainant"))
    assert sms["status"] == "queued" and sms["recipient_masked"] == "138****5678"
    assert PHONE not in sms["params"]["note"]
    key = f"{case_no}:1:n0:complainant"
    assert keyring.decrypt(sms["contact_key_id"], sms["recipient_contact"], aad=notification_aad(key)) == PHONE.encode()
    case = await pg_pool.fetch("SELECT version, stage FROM cases WHERE case_no = $1", case_no)
    assert [(r["version"], r["stage"]) for r in case] == [(3, "investigation")]
    assert await pg_pool.fetchval("SELECT count(*) FROM sla_clocks WHERE case_no = $1", case_no) == 1
    pii = await load_complainant_pii(pg_pool, case_no, keyring)
    assert pii is not None and pii.id_number == ID_NUMBER


async def test_batch_shares_keys_with_the_single_record_activities(acts: CaseActivities, pg_pool: asyncpg.Pool) -> None:
    """A case whose first records went through the old activities: the batch skips what is there."""
    case_no = record_case_no()
    batch = changes(case_no)
    assert await acts.record_case_event(batch.events[0]) is True
    assert await acts.enqueue_notification(batch.notifications[0]) is True
    result = await acts.persist_case_changes(batch)
    assert (result.events_written, result.notifications_queued) == (2, 1)
    assert await pg_pool.fetchval("SELECT count(*) FROM case_events WHERE case_no = $1", case_no) == 3
    assert await pg_pool.fetchval("SELECT count(*) FROM notifications WHERE case_no = $1", case_no) == 2


async def test_stale_projection_in_a_batch_is_ignored(acts: CaseActivities, pg_pool: asyncpg.Pool) -> None:
    case_no = record_case_no()
    assert await acts.project_case(projection(case_no, 5, "feedback")) is True
    result = await acts.persist_case_changes(
        CaseChanges(events=timeline(case_no)[:3], projection=projection(case_no, 3, "investigation"))
    )
    assert result.events_written == 3 and result.projection_applied is False
    assert await pg_pool.fetchval("SELECT stage FROM cases WHERE case_no = $1", case_no) == "feedback"


async def test_bad_data_in_a_batch_writes_nothing(acts: CaseActivities, pg_pool: asyncpg.Pool) -> None:
    case_no = record_case_no()
    bad = notices(case_no)[0].model_copy(update={"channel": "internal"})  # a complainant is never 'internal'
    with pytest.raises(ApplicationError) as info:
        await acts.persist_case_changes(
            CaseChanges(events=timeline(case_no)[:2], notifications=[bad], projection=projection(case_no, 2, "dispatch"))
        )
    assert info.value.non_retryable
    assert await pg_pool.fetchval("SELECT count(*) FROM case_events WHERE case_no = $1", case_no) == 0
    assert await pg_pool.fetchval("SELECT count(*) FROM cases WHERE case_no = $1", case_no) == 0
    # a database error after the events were inserted rolls the whole transaction back
    with pytest.raises(ApplicationError) as info:
        await acts.persist_case_changes(
            CaseChanges(events=timeline(case_no)[:2], projection=projection(case_no, 2, "dispatch", returns=2**31))
        )
    assert info.value.non_retryable and "DataError" in str(info.value)
    assert await pg_pool.fetchval("SELECT count(*) FROM case_events WHERE case_no = $1", case_no) == 0
    assert await pg_pool.fetchval("SELECT count(*) FROM cases WHERE case_no = $1", case_no) == 0
