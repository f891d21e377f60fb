"""The read model says what the workflow says: after every decision of a real case, the `cases` row and its
`sla_clocks` rows in PostgreSQL equal the workflow's `summary`, field by field (issue: projections match)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import asyncpg
from helpers.client import decision, registration, running_worker, task_queue
from temporalio.testing import WorkflowEnvironment

from cases.models import CaseSummary
from cases.sla import level_at
from clients.case_client import CaseClient


def _value(v: Any) -> Any:
    return getattr(v, "value", v)


async def _assert_projection_matches(pool: asyncpg.Pool, s: CaseSummary) -> None:
    # the projection is written before the update returns; `version` = the summary's timeline length
    row = await pool.fetchrow("SELECT * FROM cases WHERE case_no = $1", s.case_no)
    assert row is not None and row["version"] == len(s.events)
    expected = {
        "kind": _value(s.kind), "channel": _value(s.channel), "category": _value(s.category),
        "jurisdiction": s.jurisdiction, "handling_unit": s.handling_unit, "stage": _value(s.stage),
        "open": s.open, "sla_level": s.sla_level, "due_at": s.next_due_at, "provisional": s.any_provisional,
        "extension_status": s.extension_status, "returns": s.returns, "rehandlings": s.rehandlings,
        "satisfaction": _value(s.satisfaction), "review_outcome": _value(s.review_outcome),
        "close_reason": _value(s.close_reason), "registered_at": s.received_at, "accepted_at": s.accepted_at,
        "closed_at": s.closed_at, "confidential_reporter": s.confidential_reporter,
    }
    assert s.complainant is not None
    expected |= {
        "complainant_name": s.complainant.name, "complainant_id_number": s.complainant.id_number,
        "complainant_phone": s.complainant.phone, "complainant_card_number": s.complainant.card_number,
    }
    assert {k: row[k] for k in expected} == expected
    clocks = await pool.fetch(
        "SELECT clock, cycle, unit, started_at, original_due_at, due_at, extended, stopped_at, level, breached,"
        " provisional FROM sla_clocks WHERE case_no = $1 ORDER BY clock, cycle", s.case_no)
    from_summary = sorted(
        (c.clock, c.cycle, c.unit, c.started_at, c.original_due_at, c.due_at, c.extended, c.stopped_at, c.level,
         c.breached, c.provisional)
        for c in s.clocks
    )
    assert [tuple(r) for r in clocks] == from_summary


async def test_read_model_equals_summary_after_every_decision(
    dev_env: WorkflowEnvironment, pg_pool: asyncpg.Pool
) -> None:
    q = task_queue()
    cc = CaseClient(dev_env.client, task_queue=q)
    async with running_worker(dev_env.client, pg_pool, q):
        no = await cc.register(registration())
        # registration's projection lands with its first workflow task; a case received days ago (the example
        # payload's date) then also records its passed SLA thresholds, so ask again until both sides settle
        for _ in range(50):
            s = await cc.summary(no)
            settled = all(c.level == level_at(c, datetime.now(UTC)) for c in s.clocks if c.stopped_at is None)
            if settled and await pg_pool.fetchval("SELECT version FROM cases WHERE case_no = $1", no) == len(s.events):
                break
            await asyncio.sleep(0.1)
        await _assert_projection_matches(pg_pool, s)
        for name in ("accept", "request_extension", "decide_extension", "complete_investigation",
                     "send_feedback", "record_return_visit", "request_review", "decide_review"):
            s = await cc.decide(no, name, decision(name))
            await _assert_projection_matches(pg_pool, s)
        assert s.stage.value == "archived"
