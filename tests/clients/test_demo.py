"""`complaints demo` as a newcomer runs it: three months of a bureau, its past simulated on a clock-shifted
time-skipping server into the read model, its open cases live on the dev server.

Judged with the monitor's own queries (`dashboard.queries`): on-time rates in a believable band (neither the
1.7 % of decisions all taken at demo time nor a spotless 100 %), extensions, reviews and escalations in the audit
trail, and every case the read model shows open is a running workflow on the dev server that answers queries
and accepts the next decision.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime, timedelta

import asyncpg
import pytest
from helpers.cases import CST
from helpers.cli import invoke
from helpers.client import running_worker, task_queue
from temporalio.testing import WorkflowEnvironment

from cases.models import Actor
from clients.case_client import CaseClient, CaseFilters
from dashboard import queries as dq

CASES = 60


@pytest.mark.timeout(900)
async def test_demo_looks_like_a_bureau(dev_env: WorkflowEnvironment, pg_dsn: str, pg_pool: asyncpg.Pool) -> None:
    q = task_queue()
    today = datetime.now(CST).date()
    start = today - timedelta(days=90)
    async with running_worker(dev_env.client, pg_pool, q):
        res = await invoke(dev_env, q, "--database-url", pg_dsn, "demo", "--cases", str(CASES), "--seed", "7",
                           "--start", start.isoformat())
        print(res.stdout, res.stderr, file=sys.stderr)
        assert res.exit_code == 0, res.output
        assert "refused" not in res.stdout

        async with pg_pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM cases") == CASES
            m = await dq.period_metrics(conn, dq.Period(start, today), None)
            kinds = dict(await conn.fetch("SELECT kind, count(*) FROM case_events GROUP BY kind"))
            open_cases = {r["case_no"]: r["stage"] for r in await conn.fetch("SELECT case_no, stage FROM cases WHERE open")}
            closed_late = await conn.fetchval(
                "SELECT count(*) FROM cases WHERE NOT open AND closed_at < now() - interval '30 days'")
            taken_over = await conn.fetchval(
                "SELECT count(DISTINCT case_no) FROM case_events WHERE details ? 'taken_over_from' AND kind = 'accepted'"
                " AND at < now() - interval '5 days'")
        print(f"on-time acceptance {m.on_time_acceptance_pct:.1f}% of {m.acceptance_clocks}, completion "
              f"{m.on_time_completion_pct:.1f}% of {m.investigation_clocks}; open {len(open_cases)}; {kinds}",
              file=sys.stderr)
        assert m.acceptance_clocks >= 30 and m.investigation_clocks >= 15
        assert m.on_time_acceptance_pct is not None and 80 <= m.on_time_acceptance_pct <= 98
        assert m.on_time_completion_pct is not None and 80 <= m.on_time_completion_pct <= 98
        assert kinds.get("extension_approved", 0) >= 1 and kinds.get("review_decided", 0) >= 1
        assert kinds.get("sla_escalated", 0) >= 1
        assert closed_late >= 5  # the past really is in the past
        assert taken_over >= 5  # open cases carry their past decisions at their past instants

        # every open case of the read model is a running case on the dev server, on this test's queue
        cc = CaseClient(dev_env.client, task_queue=q)
        running: dict[str, str | None] = {}
        for _ in range(50):  # visibility lags the last search-attribute upsert a little
            listed = await cc.list_cases(CaseFilters(open_only=True, task_queue=[q]), limit=500)
            running = {i.case_no: i.stage for i in listed}
            if running == open_cases:
                break
            await asyncio.sleep(0.2)
        assert running == open_cases
        for case_no, stage in open_cases.items():
            assert (await cc.summary(case_no)).stage.value == stage

        # and the people can act on them: a dispatcher accepts a case waiting for acceptance
        waiting = sorted(no for no, stage in open_cases.items() if stage == "acceptance")
        assert waiting, open_cases
        dispatcher = Actor.model_validate({"id": "disp-01", "role": "dispatcher", "unit_id": "SX"})
        assert "accept" in await cc.allowed_decisions(waiting[0], dispatcher)
        after = await cc.decide(waiting[0], "accept", {"actor": dispatcher.model_dump(), "use_catalogue": True})
        assert after.stage.value != "acceptance"
