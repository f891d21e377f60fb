"""`complaints db rebuild`: the read model re-created from Temporal alone, compared row by row with the original.

Cases are driven through a real worker on the shared dev server (on a task queue of this test's own, which
also scopes the rebuild's visibility listing) into a database of their own: accepted, rejected, extended,
withdrawn, merged into another, under review, archived after a review, a confidential fraud report, and one
received days ago whose passed SLA thresholds are recorded at once. Then the database is dropped and created
empty (no tables) and rebuilt through the CLI; the tables are compared row by row, and the monitor's numbers
(once the org directory is seeded again, as a worker does at its start).

Columns that legitimately differ, and are left out of the comparison:
* `case_events.id` - an identity number handed out in insertion order, and the rebuild inserts case by case;
* `case_events.recorded_at`, `cases.projected_at`, `sla_clocks.updated_at`, `case_pii.created_at/updated_at`,
  `notifications.created_at/next_attempt_at` and `notifications.id` - when the row was written, not what
  happened to the case;
* `case_pii.ciphertext` and `notifications.recipient_contact` - AES-GCM with a fresh nonce: compared decrypted.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from click.testing import Result
from helpers.cases import TEST_CODEC_KEY_ID, fixed_key_data_converter
from helpers.client import decision, example, new_case_no, registration, running_worker, task_queue
from helpers.histories import HISTORIES
from helpers.reliability import fresh_database
from pydantic import BaseModel
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from activities.case_activities import CaseActivities, notification_aad, pii_aad
from activities.contracts import (
    CaseChanges,
    CaseEventRecord,
    CaseProjection,
    ComplainantPiiRecord,
    NotificationRequest,
)
from activities.db import apply_migrations, create_pool
from activities.seed import prepare_database
from clients.case_client import CaseClient
from clients.cli import app
from clients.rebuild import RebuildError, fold, writes_in_history
from common.codec import KeyRing
from common.converter import make_data_converter
from dashboard import queries as q
from devstack.pgserver import EmbeddedPostgres

pytestmark = pytest.mark.timeout(300)

CASE_HISTORIES = sorted(
    p for p in HISTORIES.glob("*.json")
    if json.loads(p.read_text())["events"][0]["workflowExecutionStartedEventAttributes"]["workflowType"]["name"]
    == "ComplaintCase"
)

# table -> (columns left out of the comparison, columns holding ciphertext and their associated-data function)
VOLATILE: dict[str, tuple[set[str], dict[str, Any]]] = {
    "cases": ({"projected_at"}, {}),
    "sla_clocks": ({"updated_at"}, {}),
    "case_events": ({"id", "recorded_at"}, {}),
    "case_pii": ({"created_at", "updated_at"}, {"ciphertext": lambda r: pii_aad(r["case_no"])}),
    "notifications": (
        {"id", "created_at", "next_attempt_at"},
        {"recipient_contact": lambda r: notification_aad(r["key"])},
    ),
}
ORDER = {"cases": "case_no", "sla_clocks": "case_no, clock, cycle", "case_events": "event_key",
         "case_pii": "case_no", "notifications": "key"}


async def cli(*args: str) -> Result:
    return await asyncio.to_thread(CliRunner().invoke, app, list(args))


async def _tables(dsn: str) -> dict[str, list[dict[str, Any]]]:
    """The rebuilt tables' rows, in key order, volatile columns dropped and ciphertexts decrypted."""
    keyring = KeyRing.from_settings()
    conn = await asyncpg.connect(dsn)
    try:
        out: dict[str, list[dict[str, Any]]] = {}
        for table, (volatile, sealed) in VOLATILE.items():
            rows = []
            for r in await conn.fetch(f"SELECT * FROM {table} ORDER BY {ORDER[table]}"):
                row = {k: v for k, v in dict(r).items() if k not in volatile}
                for column, aad in sealed.items():
                    key_column = "contact_key_id" if table == "notifications" else "key_id"
                    if row[column] is not None:
                        row[column] = keyring.decrypt(row[key_column], row[column], aad=aad(row)).decode()
                if "details" in row or "params" in row:
                    row = {k: json.loads(v) if k in ("details", "params") else v for k, v in row.items()}
                rows.append(row)
            out[table] = rows
        return out
    finally:
        await conn.close()


def _frame(df: Any) -> Any:
    return df.to_dict(orient="records")


async def _dashboard(dsn: str, case_nos: list[str], now: datetime) -> dict[str, Any]:
    """What the monitor shows of these cases, computed by its own queries at a fixed instant."""
    today = now.astimezone(q.shanghai_tz()).date()
    period = q.Period(today - timedelta(days=29), today)
    conn = await asyncpg.connect(dsn)
    try:
        ov = await q.overview(conn, period, None, now)
        details = [await q.case_detail(conn, no, None) for no in case_nos]
        return {
            "overview": (ov.open_by_level, ov.due_today, ov.due_tomorrow, ov.current, ov.previous),
            "board": _frame(await q.sla_board(conn, None, q.BoardFilters(levels=tuple(q.LEVELS)), now)),
            "units": _frame(await q.unit_league(conn, period, None)),
            "stages": _frame(await q.stage_durations(conn, period, None)),
            "breaches": _frame(await q.breach_trend(conn, None, now)),
            "extensions": _frame(await q.pending_extensions(conn, None)),
            "details": [(d.case, _frame(d.clocks), _frame(d.events)) for d in details if d is not None],
        }
    finally:
        await conn.close()


async def _caught_up(cc: CaseClient, pool: asyncpg.Pool, case_nos: list[str]) -> dict[str, str]:
    """{case_no: stage} once every case's projection holds its whole timeline."""
    stages = {}
    for no in case_nos:
        for _ in range(100):  # the late case records its passed thresholds on its first workflow tasks
            s = await cc.summary(no)
            if await pool.fetchval("SELECT version FROM cases WHERE case_no = $1", no) == len(s.events):
                break
            await asyncio.sleep(0.1)
        stages[no] = s.stage.value
    return stages


async def _drive(cc: CaseClient) -> dict[str, str]:
    """Cases along different paths; returns {path: case_no}."""
    now = datetime.now(UTC).astimezone().isoformat()
    cases: dict[str, str] = {"late": await cc.register(registration())}  # received 2026-11-20: runs late
    for path in ("accepted", "rejected", "extended", "withdrawn", "merged", "in_review", "archived"):
        cases[path] = await cc.register(registration(received_at=now))
    fraud = example("registration_fraud_report.json")
    cases["fraud_report"] = await cc.register({**fraud, "case_no": new_case_no(), "received_at": now})

    await cc.decide(cases["accepted"], "accept", decision("accept"))
    await cc.decide(cases["rejected"], "reject", decision("reject"))
    for name in ("accept", "request_extension", "decide_extension"):
        await cc.decide(cases["extended"], name, decision(name))
    await cc.decide(cases["withdrawn"], "withdraw", decision("withdraw"))
    await cc.decide(cases["merged"], "merge_into", decision("merge_into", target_case_no=cases["accepted"]))
    for name in ("accept", "complete_investigation", "send_feedback", "record_return_visit", "request_review"):
        await cc.decide(cases["in_review"], name, decision(name))
    for name in ("accept", "request_extension", "decide_extension", "complete_investigation",
                 "send_feedback", "record_return_visit", "request_review", "decide_review"):
        await cc.decide(cases["archived"], name, decision(name))
    return cases


async def _recreate_empty(pg_server: EmbeddedPostgres, dsn: str) -> None:
    """The disaster: the database is gone; an empty one (no tables at all) takes its name."""
    database = dsn.rsplit("/", 1)[1].split("?")[0]
    admin = await asyncpg.connect(pg_server.dsn("postgres"))
    try:
        await admin.execute(f'DROP DATABASE "{database}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{database}"')
    finally:
        await admin.close()


async def test_rebuild_from_temporal_gives_back_every_case_clock_event_and_personal_data_row(
    dev_env: WorkflowEnvironment, pg_server: EmbeddedPostgres
) -> None:
    dsn = await fresh_database(pg_server.dsn("postgres"), pg_server.dsn)
    queue = task_queue()
    cc = CaseClient(dev_env.client, task_queue=queue)
    pool = await create_pool(dsn)
    try:
        async with running_worker(dev_env.client, pool, queue):
            cases = await _drive(cc)
            stages = await _caught_up(cc, pool, sorted(cases.values()))
    finally:
        await pool.close()
    assert {path: stages[no] for path, no in cases.items()} == {
        "late": "acceptance", "accepted": "investigation", "rejected": "archived", "extended": "investigation",
        "withdrawn": "archived", "merged": "archived", "in_review": "under_review", "archived": "archived",
        "fraud_report": "acceptance",
    }
    original = await _tables(dsn)
    # rows worth comparing: every path left its mark
    assert {r["case_no"] for r in original["cases"]} == set(cases.values())
    assert {r["close_reason"] for r in original["cases"]} >= {"rejected", "withdrawn", "merged"}
    assert any(r["sla_level"] == "red" for r in original["cases"])
    assert any(r["extended"] for r in original["sla_clocks"])
    assert any(r["clock"] == "review" for r in original["sla_clocks"])
    assert len(original["case_pii"]) == len(cases) - 1  # the confidential reporter's data is never stored
    assert any(r["kind"] == "duplicate_merged" for r in original["case_events"])
    assert len(original["notifications"]) > 0
    now = datetime.now(UTC)
    board = await _dashboard(dsn, sorted(cases.values()), now)
    assert len(board["details"]) == len(cases) and board["overview"][0]["red"] >= 1 and len(board["units"]) > 0

    await _recreate_empty(pg_server, dsn)
    address = dev_env.client.service_client.config.target_host
    scope = ("--address", address, "--task-queue", queue, "--database-url", dsn)
    rebuilt = await cli(*scope, "db", "rebuild")
    assert rebuilt.exit_code == 0, rebuilt.output
    assert f"rebuilt {len(cases)} case(s)" in rebuilt.output
    assert "notification(s) not re-queued" in rebuilt.output
    for no in cases.values():
        assert f"] {no} v" in rebuilt.output  # a progress line per case

    after = await _tables(dsn)
    for table in ("cases", "sla_clocks", "case_events", "case_pii"):
        assert after[table] == original[table], table
    # the outbox's delivery state was only in PostgreSQL: nothing is queued (to be sent twice) unless asked
    assert after["notifications"] == []
    # with the org directory seeded again (what a worker does at its start), the monitor shows the same numbers
    await prepare_database(dsn)
    assert await _dashboard(dsn, sorted(cases.values()), now) == board

    # a database holding cases is refused, and left as it is
    refused = await cli(*scope, "db", "rebuild")
    assert refused.exit_code == 1
    assert "the database is not empty (cases: 9 rows" in refused.output and "--replace" in refused.output
    assert await _tables(dsn) == after

    # idempotent: rebuilding over itself gives the same rows; with the notifications requested since a
    # moment before the first case, the outbox comes back too (queued again)
    again = await cli(*scope, "db", "rebuild", "--replace", "--requeue-notifications-since", "2026-01-01T00:00:00+08:00")
    assert again.exit_code == 0, again.output
    assert "not re-queued" not in again.output
    replaced = await _tables(dsn)
    assert {t: rows for t, rows in replaced.items() if t != "notifications"} == {
        t: rows for t, rows in original.items() if t != "notifications"
    }
    assert replaced["notifications"] == original["notifications"]

    # the rebuilt read model is the live one: the next decision lands on it
    pool = await create_pool(dsn)
    try:
        async with running_worker(dev_env.client, pool, queue):
            summary = await cc.decide(cases["accepted"], "complete_investigation", decision("complete_investigation"))
            await _caught_up(cc, pool, [cases["accepted"]])
        row = await pool.fetchrow("SELECT version, stage FROM cases WHERE case_no = $1", cases["accepted"])
        assert (row["version"], row["stage"]) == (len(summary.events), summary.stage.value)
    finally:
        await pool.close()


async def test_rebuild_refuses_clearly_without_a_database_or_temporal_or_with_a_bad_instant(
    dev_env: WorkflowEnvironment, pg_server: EmbeddedPostgres
) -> None:
    address = dev_env.client.service_client.config.target_host
    missing = pg_server.dsn("no_such_database_here")
    unreachable = await cli("--address", address, "--task-queue", task_queue(), "--database-url", missing,
                            "db", "rebuild")
    assert unreachable.exit_code == 1
    assert "database" in unreachable.output and "no_such_database_here" in unreachable.output

    dsn = await fresh_database(pg_server.dsn("postgres"), pg_server.dsn)
    no_temporal = await cli("--address", "127.0.0.1:1", "--database-url", dsn, "db", "rebuild")
    assert no_temporal.exit_code == 1 and "Temporal at 127.0.0.1:1" in no_temporal.output

    bad = await cli("--address", address, "--database-url", dsn, "db", "rebuild",
                    "--requeue-notifications-since", "yesterday")
    assert bad.exit_code == 1 and "--requeue-notifications-since: 'yesterday'" in bad.output


def _recorded(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(f"recorded-{path.stem}", json.loads(path.read_text()))


async def test_one_folded_write_leaves_the_rows_the_activities_left_one_by_one(pg_server: EmbeddedPostgres) -> None:
    """Every recorded case history, on both write paths (one activity per record before
    PATCH_PUBLISH_IN_ONE_ACTIVITY, one batch per decision after): the rebuild's single folded write per case
    leaves the same rows as the case's completed activities replayed one after another, as the worker ran them.
    Histories recorded twice for the same case number (old and new path) go to different database pairs."""
    groups: list[dict[str, tuple[str, list[BaseModel]]]] = []  # [{case_no: (history, writes)}]
    for path in CASE_HISTORIES:
        history = _recorded(path)
        writes, in_flight = await writes_in_history(history.events, fixed_key_data_converter(), history.workflow_id)
        assert writes and in_flight == 0, path.stem
        case_no = fold(writes).events[0].case_no
        group = next((g for g in groups if case_no not in g), None)
        if group is None:
            groups.append(group := {})
        group[case_no] = (path.stem, writes)
    assert len(groups) > 1  # both write paths of one case are in the recordings

    for group in groups:
        dsns = [await fresh_database(pg_server.dsn("postgres"), pg_server.dsn, migrate=False) for _ in range(2)]
        for dsn in dsns:
            await apply_migrations(dsn)
        one_by_one, folded = [await create_pool(dsn, max_size=2) for dsn in dsns]
        try:
            acts = CaseActivities(one_by_one)
            activity_of: dict[type[BaseModel], Any] = {
                CaseChanges: acts.persist_case_changes,
                CaseEventRecord: acts.record_case_event,
                NotificationRequest: acts.enqueue_notification,
                CaseProjection: acts.project_case,
                ComplainantPiiRecord: acts.store_complainant_pii,
            }
            for _, writes in group.values():
                for write in writes:
                    await activity_of[type(write)](write)
                async with folded.acquire() as conn:
                    await CaseActivities(folded).write_case_changes(conn, fold(writes))
        finally:
            await one_by_one.close()
            await folded.close()
        expected, got = await _tables(dsns[0]), await _tables(dsns[1])
        assert {r["case_no"] for r in expected["cases"]} == set(group)
        assert got == expected, sorted(name for name, _ in group.values())


async def test_a_write_not_completed_is_left_to_the_worker_and_counted() -> None:
    """A history cut just before its last write activity completed: that write is not rebuilt (the worker
    retrying it will make it), the ones before it are."""
    history = _recorded(HISTORIES / "happy_path_batched.json")
    convert = fixed_key_data_converter()
    complete, in_flight = await writes_in_history(history.events, convert, history.workflow_id)
    assert in_flight == 0
    writes_scheduled = {e.event_id for e in history.events
                        if e.activity_task_scheduled_event_attributes.activity_type.name == "persist_case_changes"}
    last_done = max(i for i, e in enumerate(history.events)
                    if e.activity_task_completed_event_attributes.scheduled_event_id in writes_scheduled)
    cut, in_flight = await writes_in_history(history.events[:last_done], convert, history.workflow_id)
    assert in_flight == 1 and cut == complete[:-1]
    assert fold(cut).projection.version < fold(complete).projection.version  # type: ignore[union-attr]


async def test_a_history_written_with_a_key_the_rebuild_lacks_is_refused_naming_the_key() -> None:
    history = _recorded(HISTORIES / "happy_path_batched.json")
    without_the_test_key = make_data_converter()  # this process's own keys only
    with pytest.raises(RebuildError) as refused:
        await writes_in_history(history.events, without_the_test_key, history.workflow_id)
    assert TEST_CODEC_KEY_ID in str(refused.value) and "persist_case_changes" in str(refused.value)


async def test_a_local_write_is_read_from_its_marker() -> None:
    """Since PATCH_PERSIST_AS_LOCAL_ACTIVITY a case's writes are local activities: their input is not in the
    history, the batch comes back in the marker's result, and the rebuild reads it from there."""
    history = _recorded(HISTORIES / "decisions_persisted_locally.json")
    assert not any(e.activity_task_scheduled_event_attributes.activity_type.name for e in history.events)
    writes, in_flight = await writes_in_history(history.events, fixed_key_data_converter(), history.workflow_id)
    assert in_flight == 0
    assert len(writes) == 5 and all(isinstance(w, CaseChanges) for w in writes)  # registration + 4 decisions
    folded = fold(writes)
    assert folded.pii is not None and folded.projection is not None
    assert [e.seq for e in folded.events] == list(range(1, folded.projection.version + 1))
    assert folded.projection.stage == "review_window"
