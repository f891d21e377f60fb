"""The read model activities against a real PostgreSQL: audit trail exactly once under real Temporal
retries, stale projections ignored, append-only events, encrypted personal data, org directory lookups."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import asyncpg
import pytest
from helpers.persistence import ID_NUMBER, PHONE, T0, projection, record_case_no, timeline
from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities import all_activities
from activities.case_activities import CaseActivities, load_complainant_pii
from activities.contracts import (
    CaseContextRequest,
    CaseEventRecord,
    CaseProjection,
    ComplainantPiiRecord,
    MaskedPerson,
    NotificationRequest,
    ResolveUnitRequest,
    SlaClockRecord,
)
from common.codec import KeyRing, new_key

CAL_TZ = timezone(timedelta(hours=8))

K1 = new_key()


@pytest.fixture(scope="module")
def keyring() -> KeyRing:
    return KeyRing({"k1": K1}, "k1")


@pytest.fixture
def acts(pg_pool: asyncpg.Pool, keyring: KeyRing) -> CaseActivities:
    return CaseActivities(pg_pool, keyring)


# ------------------------------------------------------------------------ exactly once under real retries


@workflow.defn(sandboxed=False)
class WriteTimeline:
    """Writes a case's timeline and projections through activities, like ComplaintCase does."""

    @workflow.run
    async def run(self, events: list[CaseEventRecord], projections: list[CaseProjection]) -> list[bool]:
        opts = dict(start_to_close_timeout=timedelta(seconds=30),
                    retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=100), maximum_attempts=5))
        results = []
        for e in events:
            results.append(await workflow.execute_activity("record_case_event", e, result_type=bool, **opts))
        for p in projections:
            results.append(await workflow.execute_activity("project_case", p, result_type=bool, **opts))
        return results


def crash_after_write(acts: CaseActivities, attempts: dict[str, list[bool]]) -> list:
    """Activity wrappers that do the real write, then fail the first attempt (a worker dying after the
    commit but before reporting completion), so Temporal retries an activity whose write already happened."""

    @activity.defn(name="record_case_event")
    async def record_case_event(event: CaseEventRecord) -> bool:
        wrote = await acts.record_case_event(event)
        attempts.setdefault(event.event_key, []).append(wrote)
        if activity.info().attempt == 1:
            raise RuntimeError("simulated crash after the database write")
        return wrote

    @activity.defn(name="project_case")
    async def project_case(p: CaseProjection) -> bool:
        applied = await acts.project_case(p)
        attempts.setdefault(f"projection:{p.version}", []).append(applied)
        if activity.info().attempt == 1:
            raise RuntimeError("simulated crash after the projection")
        return applied

    return [record_case_event, project_case]


async def test_timeline_written_exactly_once_through_temporal_retries(
    dev_env: WorkflowEnvironment, acts: CaseActivities, pg_pool: asyncpg.Pool
) -> None:
    case_no = record_case_no()
    events = timeline(case_no)
    projections = [projection(case_no, 3, "investigation"), projection(case_no, 11, "closed", open=False)]
    attempts: dict[str, list[bool]] = {}
    queue = f"persist-{uuid.uuid4()}"
    async with Worker(dev_env.client, task_queue=queue, workflows=[WriteTimeline],
                      activities=crash_after_write(acts, attempts),
                      workflow_runner=UnsandboxedWorkflowRunner()):
        results = await dev_env.client.execute_workflow(
            WriteTimeline.run, args=[events, projections], id=f"wt-{case_no}", task_queue=queue
        )
    # every activity ran twice: the first attempt wrote and "crashed", the retry found the write done
    assert all(v == [True, False] for k, v in attempts.items() if not k.startswith("projection")), attempts
    assert attempts["projection:3"] == [True, True]  # same version re-applies harmlessly
    assert results[: len(events)] == [False] * len(events)
    rows = await pg_pool.fetch("SELECT seq, kind, event_key, details FROM case_events WHERE case_no = $1 ORDER BY id",
                               case_no)
    assert [(r["seq"], r["kind"]) for r in rows] == [(e.seq, e.kind) for e in events]
    assert len({r["event_key"] for r in rows}) == len(events)
    assert rows[0]["details"]["n"] == 1 and rows[0]["details"]["deadline"].startswith("2026-03-22")
    case = await pg_pool.fetchrow("SELECT version, stage, open FROM cases WHERE case_no = $1", case_no)
    assert (case["version"], case["stage"], case["open"]) == (11, "closed", False)


async def test_record_case_event_twice_writes_once(acts: CaseActivities, pg_pool: asyncpg.Pool) -> None:
    e = timeline(record_case_no())[0]
    assert await acts.record_case_event(e) is True
    assert await acts.record_case_event(e) is False
    assert await pg_pool.fetchval("SELECT count(*) FROM case_events WHERE event_key = $1", e.event_key) == 1


async def test_case_events_are_append_only(acts: CaseActivities, pg_pool: asyncpg.Pool) -> None:
    e = timeline(record_case_no())[0]
    await acts.record_case_event(e)
    async with pg_pool.acquire() as conn:
        with pytest.raises(asyncpg.PostgresError, match="append-only"):
            await conn.execute("UPDATE case_events SET kind = 'tampered' WHERE event_key = $1", e.event_key)
        with pytest.raises(asyncpg.PostgresError, match="append-only"):
            await conn.execute("DELETE FROM case_events WHERE event_key = $1", e.event_key)
        with pytest.raises(asyncpg.PostgresError, match="append-only"):
            await conn.execute("TRUNCATE case_events")
        assert await conn.fetchval("SELECT kind FROM case_events WHERE event_key = $1", e.event_key) == "registered"


async def test_event_details_with_clear_personal_data_are_masked(acts: CaseActivities, pg_pool: asyncpg.Pool) -> None:
    e = timeline(record_case_no())[0].model_copy(update={"details": {"note": f"called {PHONE}, id {ID_NUMBER}"}})
    await acts.record_case_event(e)
    note = await pg_pool.fetchval("SELECT details->>'note' FROM case_events WHERE event_key = $1", e.event_key)
    assert PHONE not in note and ID_NUMBER not in note
    assert "138****5678" in note and "1401**********" in note


async def test_naive_datetime_is_a_non_retryable_error(acts: CaseActivities) -> None:
    e = timeline(record_case_no())[0].model_copy(update={"at": datetime(2026, 3, 2, 9, 0)})
    with pytest.raises(ApplicationError) as info:
        await acts.record_case_event(e)
    assert info.value.non_retryable and "timezone-aware" in str(info.value)


# ---------------------------------------------------------------------------------------- projections


async def test_stale_projection_is_ignored(acts: CaseActivities, pg_pool: asyncpg.Pool) -> None:
    case_no = record_case_no()
    newer = projection(case_no, 5, "investigation", sla_level="blue", clocks=[
        SlaClockRecord(clock="acceptance", started_at=T0, original_due_at=T0 + timedelta(days=2),
                       due_at=T0 + timedelta(days=2), stopped_at=T0 + timedelta(days=1)),
        SlaClockRecord(clock="investigation", started_at=T0 + timedelta(days=1),
                       original_due_at=T0 + timedelta(days=21), due_at=T0 + timedelta(days=42), extended=True,
                       level="blue", unit="SX-TY-XD"),
    ])
    older = projection(case_no, 2, "dispatch")
    assert await acts.project_case(newer) is True
    assert await acts.project_case(older) is False
    row = await pg_pool.fetchrow("SELECT * FROM cases WHERE case_no = $1", case_no)
    assert (row["version"], row["stage"], row["sla_level"]) == (5, "investigation", "blue")
    assert row["complainant_id_number"] == "1401**********123X" and row["complainant_phone"] == "138****5678"
    clocks = await pg_pool.fetch("SELECT clock, extended, stopped_at, level FROM sla_clocks WHERE case_no = $1 "
                                 "ORDER BY clock", case_no)
    assert [(c["clock"], c["extended"], c["level"]) for c in clocks] == [
        ("acceptance", False, "on_track"), ("investigation", True, "blue")]
    assert clocks[0]["stopped_at"] is not None  # the stale projection did not reset the clock
    assert await acts.project_case(newer) is True  # same version: idempotent re-apply


async def test_projection_masks_clear_values_and_hides_confidential_reporter(
    acts: CaseActivities, pg_pool: asyncpg.Pool
) -> None:
    case_no = record_case_no()
    await acts.project_case(projection(case_no, 1, "registration",
                                       complainant=MaskedPerson(name="张三", id_number=ID_NUMBER, phone=PHONE)))
    row = await pg_pool.fetchrow("SELECT * FROM cases WHERE case_no = $1", case_no)
    assert (row["complainant_name"], row["complainant_id_number"], row["complainant_phone"]) == (
        "张*", "1401**********" + ID_NUMBER[-4:], "138****5678")
    fraud = record_case_no()
    await acts.project_case(projection(fraud, 1, "registration", kind="fund_fraud", confidential_reporter=True,
                                       complainant=MaskedPerson(name="李**", phone="139****0000")))
    row = await pg_pool.fetchrow("SELECT * FROM cases WHERE case_no = $1", fraud)
    assert row["confidential_reporter"] and row["complainant_name"] == "" and row["complainant_phone"] == ""


# ------------------------------------------------------------------------------------- personal data


async def test_personal_data_is_stored_encrypted(acts: CaseActivities, pg_pool: asyncpg.Pool,
                                                  keyring: KeyRing) -> None:
    case_no = record_case_no()
    rec = ComplainantPiiRecord(case_no=case_no, name="张三", id_number=ID_NUMBER, phone=PHONE,
                               card_number="SX0012345678", address="太原市小店区某街1号")
    assert await acts.store_complainant_pii(rec) is True
    assert await acts.store_complainant_pii(rec) is True  # retry: same row rewritten
    row = await pg_pool.fetchrow("SELECT key_id, ciphertext FROM case_pii WHERE case_no = $1", case_no)
    assert row["key_id"] == "k1"
    assert ID_NUMBER.encode() not in row["ciphertext"] and PHONE.encode() not in row["ciphertext"]
    assert await load_complainant_pii(pg_pool, case_no, keyring) == rec
    # rotation: a new active key; the old row still decrypts
    rotated = KeyRing({"k1": K1, "k2": new_key()}, "k2")
    assert await load_complainant_pii(pg_pool, case_no, rotated) == rec


async def test_confidential_reporter_personal_data_is_never_stored(acts: CaseActivities,
                                                                    pg_pool: asyncpg.Pool) -> None:
    case_no = record_case_no()
    rec = ComplainantPiiRecord(case_no=case_no, name="王五", id_number=ID_NUMBER, phone=PHONE,
                               confidential_reporter=True)
    assert await acts.store_complainant_pii(rec) is False
    assert await pg_pool.fetchval("SELECT count(*) FROM case_pii WHERE case_no = $1", case_no) == 0


async def test_bad_id_number_is_rejected(acts: CaseActivities) -> None:
    with pytest.raises(ApplicationError, match="id_number") as info:
        await acts.store_complainant_pii(ComplainantPiiRecord(case_no=record_case_no(), id_number="140105199003071230"))
    assert info.value.non_retryable


# ------------------------------------------------------------------------------------------ outbox queue


async def test_enqueue_notification_is_idempotent_and_encrypts_contact(
    acts: CaseActivities, pg_pool: asyncpg.Pool
) -> None:
    case_no = record_case_no()
    n = NotificationRequest(key=f"{case_no}:feedback", case_no=case_no, audience="complainant", channel="sms",
                            recipient_ref="complainant", recipient_contact=PHONE, template="feedback_sent",
                            params={"case_no": case_no, "note": f"回电 {PHONE}"}, at=T0)
    assert await acts.enqueue_notification(n) is True
    assert await acts.enqueue_notification(n) is False
    row = await pg_pool.fetchrow("SELECT * FROM notifications WHERE key = $1", n.key)
    assert row["status"] == "queued" and row["recipient_masked"] == "138****5678"
    assert PHONE.encode() not in row["recipient_contact"] and row["contact_key_id"] == "k1"
    assert PHONE not in row["params"]["note"]
    # a complainant message with no contact is kept, visibly undeliverable
    m = n.model_copy(update={"key": f"{case_no}:nocontact", "recipient_contact": None, "channel": "letter"})
    assert await acts.enqueue_notification(m) is True
    assert await pg_pool.fetchval("SELECT status FROM notifications WHERE key = $1", m.key) == "undeliverable"


# --------------------------------------------------------------------------------------- org directory


async def test_seeded_shanxi_directory(pg_pool: asyncpg.Pool) -> None:
    levels = {r["level"]: r["n"] for r in await pg_pool.fetch(
        "SELECT level, count(*) AS n FROM org_units WHERE jurisdiction = 'CN-SX' GROUP BY level")}
    assert levels["province"] == 1 and levels["city"] == 11 and levels["county"] >= 3
    assert await pg_pool.fetchval("SELECT parent_id FROM org_units WHERE unit_id = 'SX'") == "NHSA"
    assert await pg_pool.fetchval("SELECT parent_id FROM org_units WHERE unit_id = 'SX-TY-XD'") == "SX-TY"


@pytest.mark.parametrize(
    ("jurisdiction", "area", "category", "expected"),
    [
        ("CN-SX", "SX-TY-XD", "reimbursement", "SX-TY-XD"),  # the county's own rule
        ("SX-TY-XD", None, "reimbursement", "SX-TY-XD"),  # area given as the jurisdiction
        ("CN-SX", "SX-TY-XD", "designated_institution", "SX-TY"),  # falls back to the city
        ("CN-SX", "SX-TY-XD", "staff_conduct", "SX"),  # falls back to the province-wide rule
        ("CN-SX", None, "reimbursement", "SX"),
    ],
)
async def test_resolve_handling_unit(acts: CaseActivities, jurisdiction: str, area: str | None, category: str,
                                     expected: str) -> None:
    unit = await acts.resolve_handling_unit(
        ResolveUnitRequest(jurisdiction=jurisdiction, area_unit_id=area, category=category))
    assert unit.unit_id == expected and unit.jurisdiction == "CN-SX" and unit.name.endswith("医疗保障局")


@pytest.mark.parametrize(
    ("req", "message"),
    [
        (ResolveUnitRequest(jurisdiction="CN-SX", category="astrology"), "unknown category 'astrology'"),
        (ResolveUnitRequest(jurisdiction="CN-XX", category="reimbursement"), "unknown jurisdiction 'CN-XX'"),
        (ResolveUnitRequest(jurisdiction="CN-SX", area_unit_id="SX-NOPE", category="reimbursement"),
         "unknown area unit 'SX-NOPE'"),
    ],
)
async def test_resolve_handling_unit_errors_are_clear_and_final(acts: CaseActivities, req: ResolveUnitRequest,
                                                                message: str) -> None:
    with pytest.raises(ApplicationError, match=message) as info:
        await acts.resolve_handling_unit(req)
    assert info.value.non_retryable


async def test_load_case_context_is_the_jurisdiction_slice(acts: CaseActivities) -> None:
    from cases.org import OrgDirectory, chain, default_unit

    ctx = await acts.load_case_context(CaseContextRequest(case_no="SX0001", jurisdiction="CN-SX",
                                                          category="reimbursement"))
    ids = [u.unit_id for u in ctx.units]
    assert ids[-1] == "NHSA" and "SX" in ids and "SX-TY-XD" in ids and ctx.provincial_centre == "SX"
    assert ctx.units[0].level == "county" and ctx.dispatch
    directory = OrgDirectory.model_validate(ctx.model_dump())
    assert [u.unit_id for u in chain(directory, "SX-TY-XD")] == ["SX-TY-XD", "SX-TY", "SX", "NHSA"]
    assert default_unit(directory, "designated_institution", "SX-TY-XD") == "SX-TY"
    with pytest.raises(ApplicationError, match="unknown jurisdiction") as info:
        await acts.load_case_context(CaseContextRequest(case_no="XX1", jurisdiction="CN-XX", category="other"))
    assert info.value.non_retryable


def test_all_activities_lists_every_activity(pg_pool: asyncpg.Pool) -> None:
    names = {activity._Definition.must_from_callable(a).name for a in all_activities(pg_pool)}
    assert names == {"record_case_event", "project_case", "enqueue_notification", "persist_case_changes",
                     "resolve_handling_unit", "load_case_context", "store_complainant_pii",
                     "load_calendar_snapshot", "publish_report", "load_merge_target"}


# ------------------------------------------------------------------------------------------- calendar


async def test_load_calendar_snapshot(pg_pool: asyncpg.Pool) -> None:
    from datetime import date

    from activities.calendar_activities import CalendarActivities
    from activities.contracts import CalendarSnapshotRequest

    load_calendar_snapshot = CalendarActivities(pg_pool).load_calendar_snapshot
    snap = await load_calendar_snapshot(CalendarSnapshotRequest(jurisdiction="CN-SX", start=date(2026, 2, 1),
                                                                end=date(2026, 3, 1)))
    assert date(2026, 2, 14) in snap.working_weekends and date(2026, 2, 17) in snap.off_weekdays
    far = await load_calendar_snapshot(CalendarSnapshotRequest(jurisdiction="CN-SX", start=date(2026, 9, 1),
                                                               end=date(2099, 1, 1)))
    assert date(2026, 9, 1) <= far.end < date(2099, 1, 1)  # clipped to the published data
    for bad, message in [
        (CalendarSnapshotRequest(jurisdiction="CN-SX", start=date(1900, 1, 1), end=date(1900, 2, 1)), "1900"),
        (CalendarSnapshotRequest(jurisdiction="CN-ZZ", start=date(2026, 1, 1), end=date(2026, 2, 1)), "CN-ZZ"),
        (CalendarSnapshotRequest(jurisdiction="CN-SX", start=date(2026, 2, 1), end=date(2026, 1, 1)), "before"),
    ]:
        with pytest.raises(ApplicationError, match=message) as info:
            await load_calendar_snapshot(bad)
        assert info.value.non_retryable


async def test_calendar_snapshot_carries_the_bureau_rows(pg_pool: asyncpg.Pool) -> None:
    """Bureau closures, openings and service close from PostgreSQL: the most specific code wins, other
    jurisdictions are untouched, and clearing a row brings the published calendar back."""
    from datetime import date, time

    from activities import bureau_calendar as bc
    from activities.calendar_activities import CalendarActivities
    from activities.contracts import CalendarSnapshotRequest

    load = CalendarActivities(pg_pool).load_calendar_snapshot
    city = CalendarSnapshotRequest(jurisdiction="CN-SX-0100", start=date(2026, 11, 1), end=date(2026, 12, 31))
    published = (await load(city)).calendar()
    try:
        # province: closed Thu 12/3, open Sat 12/5, closes 17:30; the city overrides 12/3 (open) and closes 18:00
        await bc.record_day(pg_pool, "CN-SX", date(2026, 12, 3), working=False, note="系统割接闭馆", recorded_by="adm-sx")
        await bc.record_day(pg_pool, "cn-sx", date(2026, 12, 5), working=True, note="周六服务日", recorded_by="adm-sx")
        await bc.set_close_time(pg_pool, "CN-SX", time(17, 30), note="夏季作息", recorded_by="adm-sx")
        province = (await load(city.model_copy(update={"jurisdiction": "CN-SX"}))).calendar()
        assert not province.is_working_day(date(2026, 12, 3)) and province.is_working_day(date(2026, 12, 5))
        assert province.close_time == time(17, 30)
        # Thu 12/3 closed, Sat 12/5 open: 2 WD after Wed 12/2 is Sat 12/5 (published: Fri 12/4), at 17:30
        assert published.add_working_days(date(2026, 12, 2), 2) == date(2026, 12, 4)
        assert province.deadline_at(datetime(2026, 12, 2, 10, tzinfo=CAL_TZ), 2) == datetime(
            2026, 12, 5, 17, 30, tzinfo=CAL_TZ)

        await bc.record_day(pg_pool, "CN-SX-0100", date(2026, 12, 3), working=True, note="市局照常", recorded_by="adm-ty")
        await bc.set_close_time(pg_pool, "CN-SX-0100", time(18, 0), note="延时服务", recorded_by="adm-ty")
        snap = await load(city)
        assert snap.calendar().is_working_day(date(2026, 12, 3)) and snap.calendar().is_working_day(date(2026, 12, 5))
        assert snap.close_time == time(18, 0) and snap.version != published.version
        # another province is untouched
        other = await load(city.model_copy(update={"jurisdiction": "CN-SN"}))
        assert other.close_time == time(17, 0) and not other.calendar().is_working_day(date(2026, 12, 5))

        days, hours = await bc.list_rows(pg_pool, "CN-SX")
        assert [(r.jurisdiction, r.day, r.working) for r in days] == [
            ("CN-SX", date(2026, 12, 3), False), ("CN-SX-0100", date(2026, 12, 3), True),
            ("CN-SX", date(2026, 12, 5), True),
        ]
        assert [(h.jurisdiction, h.close_time) for h in hours] == [("CN-SX", time(17, 30)), ("CN-SX-0100", time(18, 0))]
    finally:
        for code in ("CN-SX", "CN-SX-0100"):
            for d in (date(2026, 12, 3), date(2026, 12, 5)):
                await bc.clear_day(pg_pool, code, d)
            await bc.set_close_time(pg_pool, code, None)
    assert (await load(city)).version == published.version


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda bc, pool, d: bc.record_day(pool, "CN-ZZ", d, working=False, note="x", recorded_by="a"), "jurisdiction"),
        (lambda bc, pool, d: bc.record_day(pool, "CN-SX'; DROP TABLE cases; --", d, working=False, note="x",
                                           recorded_by="a"), "jurisdiction"),
        (lambda bc, pool, d: bc.record_day(pool, "CN-SX", d, working=False, note="  ", recorded_by="a"), "note"),
        (lambda bc, pool, d: bc.record_day(pool, "CN-SX", d, working=True, note="x", recorded_by=""), "recorded_by"),
        (lambda bc, pool, d: bc.record_day(pool, "CN-SX", d.replace(year=1999), working=True, note="x",
                                           recorded_by="a"), "day"),
        (lambda bc, pool, d: bc.set_close_time(pool, "CN-SX", bc.parse_close_time("25:00"), note="x",
                                               recorded_by="a"), "close_time"),
    ],
)
async def test_bad_bureau_rows_are_refused_naming_the_field(pg_pool: asyncpg.Pool, call: Any, field: str) -> None:
    from datetime import date

    from activities import bureau_calendar as bc

    with pytest.raises(bc.BureauCalendarError, match=f"^{field}:"):
        await call(bc, pg_pool, date(2026, 12, 3))
    assert await pg_pool.fetchval("SELECT count(*) FROM bureau_calendar_days") == 0
    assert await pg_pool.fetchval("SELECT count(*) FROM bureau_service_hours") == 0


# ------------------------------------------------------- sandboxed workflows calling these activities


@workflow.defn
class SandboxedRecorder:
    """Sandboxed (the default), calling the activity by method reference as ComplaintCase does."""

    @workflow.run
    async def run(self, event: CaseEventRecord) -> bool:
        return await workflow.execute_activity_method(
            CaseActivities.record_case_event, event, start_to_close_timeout=timedelta(seconds=30)
        )


async def test_sandboxed_workflow_with_passthrough_then_new_connections(
    dev_env: WorkflowEnvironment, acts: CaseActivities, pg_dsn: str
) -> None:
    from workers.sandbox import workflow_runner

    runner = workflow_runner()
    event = timeline(record_case_no())[0]
    queue = f"sandbox-{uuid.uuid4()}"
    async with Worker(dev_env.client, task_queue=queue, workflows=[SandboxedRecorder],
                      activities=[acts.record_case_event], workflow_runner=runner):
        assert await dev_env.client.execute_workflow(
            SandboxedRecorder.run, event, id=f"sb-{event.case_no}", task_queue=queue) is True
    # asyncpg was not re-imported inside the sandbox: new connections still work (no segfault)
    conn = await asyncpg.connect(pg_dsn)
    try:
        assert await conn.fetchval("SELECT count(*) FROM case_events WHERE event_key = $1", event.event_key) == 1
    finally:
        await conn.close()
