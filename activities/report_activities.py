"""The daily and monthly reports' activity: `publish_report` makes one report of a bureau and tells its supervisors.

It computes the figures of one report (`ReportRequest`: a bureau, the day it is published, the period and the
period beside it, from `calendars.reporting`), writes the workbook and the chart (`activities.report_book`) and in
ONE transaction stores the report (`reports`, keyed by `calendars.reporting.report_id`) and queues one internal
notice per supervisor of the bureau's units. A second call for the same id writes nothing and queues nothing: the
report is made once per bureau and day however often the Schedule's action or the activity runs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from temporalio import activity

from activities.case_activities import bad_data
from activities.contracts import ReportOutcome, ReportRequest
from calendars.reporting import REPORT_KINDS, report_id

if TYPE_CHECKING:
    import asyncpg

REPORT_NOTICE_TEMPLATE = "report_published"


def check_request(req: ReportRequest) -> None:
    """A request that cannot describe a report fails naming its field (non-retryable)."""
    if req.kind not in REPORT_KINDS:
        raise bad_data(f"report kind: {req.kind!r} is not one of {', '.join(REPORT_KINDS)}", "BadReportRequest")
    if req.period_end < req.period_start:
        raise bad_data(f"report period_end: {req.period_end} is before period_start {req.period_start}",
                       "BadReportRequest")
    if req.previous_end < req.previous_start:
        raise bad_data(f"report previous_end: {req.previous_end} is before previous_start {req.previous_start}",
                       "BadReportRequest")
    if req.requested_at.tzinfo is None:
        raise bad_data("report requested_at: must carry a time zone", "BadReportRequest")


class ReportActivities:
    """The report activity, bound to the worker's asyncpg pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @activity.defn(name="publish_report")
    async def publish_report(self, req: ReportRequest) -> ReportOutcome:
        """Build, store and announce one report, once per `report_id` (see the module docstring)."""
        check_request(req)
        rid = report_id(req.jurisdiction, req.published_on, req.kind)
        async with self.pool.acquire() as conn:
            if await conn.fetchval("SELECT 1 FROM reports WHERE report_id = $1", rid):
                return ReportOutcome(report_id=rid, stored=False)
            if not await conn.fetchval("SELECT 1 FROM org_directories WHERE jurisdiction = $1", req.jurisdiction):
                raise bad_data(f"report jurisdiction: {req.jurisdiction!r} has no org directory", "BadReportRequest")
            # the report's libraries (pandas, Altair, openpyxl, vl-convert) load with the first report, not with
            # every worker: most of a worker's life is case work
            from activities import report_book

            tables = await report_book.gather(conn, req)
        xlsx = report_book.workbook(tables)
        png = report_book.render_png(tables.chart)
        supervisors = await self._supervisors(req.jurisdiction)
        async with self.pool.acquire() as conn, conn.transaction():
            stored = await conn.fetchval(
                """
                INSERT INTO reports (report_id, kind, jurisdiction, published_on, period_start, period_end,
                                     previous_start, previous_end, xlsx, chart_png, summary)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb)
                ON CONFLICT (report_id) DO NOTHING RETURNING 1
                """,
                rid, req.kind, req.jurisdiction, req.published_on, req.period_start, req.period_end,
                req.previous_start, req.previous_end, xlsx, png, json.dumps(tables.summary, ensure_ascii=False),
            )
            if not stored:  # another run stored it between the check and here: its notices are queued too
                return ReportOutcome(report_id=rid, stored=False)
            queued = 0
            for supervisor_id in supervisors:
                queued += await _queue_notice(conn, rid, supervisor_id, req, tables.summary["title"])
        return ReportOutcome(report_id=rid, stored=True, notices_queued=queued)

    async def _supervisors(self, jurisdiction: str) -> Sequence[str]:
        rows = await self.pool.fetch(
            "SELECT DISTINCT supervisor_id FROM org_units WHERE jurisdiction = $1 ORDER BY supervisor_id",
            jurisdiction,
        )
        return [r["supervisor_id"] for r in rows]


async def _queue_notice(conn: Any, rid: str, supervisor_id: str, req: ReportRequest, title: str) -> int:
    """One internal outbox notice to a supervisor (idempotent on its key); the subject is the report id."""
    row = await conn.fetchrow(
        """
        INSERT INTO notifications (key, case_no, audience, channel, recipient_ref, template, params, requested_at)
        VALUES ($1, $2, 'supervisor', 'internal', $3, $4, $5::jsonb, $6)
        ON CONFLICT (key) DO NOTHING RETURNING id
        """,
        f"{rid}:{supervisor_id}",
        rid,
        supervisor_id,
        REPORT_NOTICE_TEMPLATE,
        json.dumps({"report_id": rid, "title": title, "kind": req.kind,
                    "period": f"{req.period_start}..{req.period_end}"}, ensure_ascii=False),
        req.requested_at,
    )
    return 0 if row is None else 1

