"""`complaints db rebuild`: the read model re-created from Temporal when PostgreSQL is lost without a backup.

Every row a case has in the read model was written by one of its activities, and each activity's input is in
the case's history: the audit-trail events, the projection (case row and SLA clocks, with its version) and the
complainant's personal data (encrypted by the payload codec in history, re-encrypted at rest here). The
rebuild lists the `ComplaintCase` workflows in visibility (open, and closed within the namespace's retention),
reads the inputs of every write activity that COMPLETED in each history (of a local `persist_case_changes`,
its result, which returns the batch), folds them into one `CaseChanges` per case and writes it with `CaseActivities.write_case_changes` - the activity's own code, rules and
idempotency - in one transaction per case. Writes still in flight are left to the worker that retries them.

Not rebuilt: the outbox's delivery state lives only in PostgreSQL, so notifications are re-queued only when
asked (`requeue_since`: those requested at or after that instant; older ones would be sent a second time).
The org directory, bureau calendar, API keys and registrations are not derived from workflows (seed or
restore them). Only a database whose case tables are empty is written to, unless `replace`: then the
rows there meet the activities' own rules, as a retried activity would - an event or notification already
there (same key) stays, a projection with a newer version stays (a worker that kept running may have
landed a decision the histories listed earlier did not show yet), everything else is written. Nothing is
deleted: the audit trail is append-only for the rebuild too.

The case summary (the workflow's query) is not read: it is computed from the same state as the projection
whose exact copy is in history, and a query would need a worker to replay every case.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg
from pydantic import BaseModel
from temporalio.api.common.v1 import Payloads
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus
from temporalio.converter import DataConverter
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from activities.case_activities import CaseActivities
from activities.contracts import (
    CaseChanges,
    CaseEventRecord,
    CaseProjection,
    ComplainantPiiRecord,
    NotificationRequest,
    PersistResult,
)
from activities.db import MigrationChecksumError, apply_migrations, create_pool
from clients.case_client import CaseFilters, build_query
from common.codec import CodecKeyError, KeyRing

# What each write activity of a case takes; the names are the activities' (method) names.
WRITE_ACTIVITIES: dict[str, type[BaseModel]] = {
    CaseActivities.persist_case_changes.__name__: CaseChanges,
    CaseActivities.record_case_event.__name__: CaseEventRecord,
    CaseActivities.project_case.__name__: CaseProjection,
    CaseActivities.enqueue_notification.__name__: NotificationRequest,
    CaseActivities.store_complainant_pii.__name__: ComplainantPiiRecord,
}
# the marker a completed local activity leaves in the history (the SDK core's name)
LOCAL_ACTIVITY_MARKER = "core_local_activity"
# the tables the rebuild writes; all must be empty unless `replace`
CASE_TABLES = ("cases", "sla_clocks", "case_events", "case_pii", "notifications")


class RebuildError(Exception):
    """The rebuild cannot start or cannot go on; the message says why and what to do."""


@dataclass
class CaseRebuilt:
    """What the rebuild wrote for one case (progress output)."""

    case_no: str
    version: int | None
    events: int
    clocks: int
    pii: bool
    notifications: int
    in_flight: int = 0  # write activities scheduled but not completed: the retrying worker finishes them


@dataclass
class RebuildReport:
    cases: list[CaseRebuilt] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # workflow ids with no completed write (e.g. invalid input)
    notifications_not_requeued: int = 0


def fold(writes: Sequence[BaseModel]) -> CaseChanges:
    """One case's completed writes, in history order, as the single `CaseChanges` that leaves the same rows:
    every event and notification (once per key), the projection with the highest version (the activity's
    version guard kept exactly that one), the personal data."""
    events: dict[str, CaseEventRecord] = {}
    notifications: dict[str, NotificationRequest] = {}
    projection: CaseProjection | None = None
    pii: ComplainantPiiRecord | None = None

    def add(
        evs: Sequence[CaseEventRecord],
        notes: Sequence[NotificationRequest],
        proj: CaseProjection | None,
        person: ComplainantPiiRecord | None,
    ) -> None:
        nonlocal projection, pii
        for e in evs:
            events.setdefault(e.event_key, e)
        for n in notes:
            notifications.setdefault(n.key, n)
        if proj is not None and (projection is None or proj.version >= projection.version):
            projection = proj
        if person is not None:
            pii = person

    for w in writes:
        if isinstance(w, CaseChanges):
            add(w.events, w.notifications, w.projection, w.pii)
        elif isinstance(w, CaseEventRecord):
            add([w], [], None, None)
        elif isinstance(w, NotificationRequest):
            add([], [w], None, None)
        elif isinstance(w, CaseProjection):
            add([], [], w, None)
        elif isinstance(w, ComplainantPiiRecord):
            add([], [], None, w)
        else:
            raise TypeError(f"not a case write: {type(w).__name__}")
    return CaseChanges(
        events=sorted(events.values(), key=lambda e: e.seq),
        notifications=list(notifications.values()),
        projection=projection,
        pii=pii,
    )


async def completed_writes(client: Client, execution: WorkflowExecution) -> tuple[list[BaseModel], int]:
    """`writes_in_history` of one run, fetched from Temporal."""
    handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
    events = [event async for event in handle.fetch_history_events()]
    return await writes_in_history(events, client.data_converter, execution.id)


def _local_write(event: HistoryEvent) -> bool:
    """A completed local `persist_case_changes` (its marker carries the batch in its result: `CaseChanges.echo`)."""
    attrs = event.marker_recorded_event_attributes
    if attrs.marker_name != LOCAL_ACTIVITY_MARKER or "result" not in attrs.details or "data" not in attrs.details:
        return False
    data = json.loads(attrs.details["data"].payloads[0].data)
    return bool(data.get("activity_type") == CaseActivities.persist_case_changes.__name__)


async def writes_in_history(
    events: Iterable[HistoryEvent], data_converter: DataConverter, workflow_id: str
) -> tuple[list[BaseModel], int]:
    """The decoded inputs of the write activities that completed in a history, in order, and the number of
    write activities scheduled but not (yet) completed. A local `persist_case_changes` is in the history only
    once it completed, as a marker whose result holds the batch."""
    scheduled: dict[int, HistoryEvent] = {}
    done: list[tuple[int, str, Payloads, type[BaseModel]]] = []
    for event in events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            if event.activity_task_scheduled_event_attributes.activity_type.name in WRITE_ACTIVITIES:
                scheduled[event.event_id] = event
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            scheduled_id = event.activity_task_completed_event_attributes.scheduled_event_id
            if scheduled_id in scheduled:
                attrs = scheduled.pop(scheduled_id).activity_task_scheduled_event_attributes
                done.append((scheduled_id, f"the input of {attrs.activity_type.name}", attrs.input,
                             WRITE_ACTIVITIES[attrs.activity_type.name]))
        elif event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED and _local_write(event):
            result = event.marker_recorded_event_attributes.details["result"]
            done.append((event.event_id, "the result of the local persist_case_changes", result, PersistResult))
    writes: list[BaseModel] = []
    for event_id, what, payloads, model in sorted(done, key=lambda d: d[0]):
        try:
            [value] = await data_converter.decode(list(payloads.payloads), [model])
        except CodecKeyError as e:
            raise RebuildError(
                f"workflow {workflow_id}: cannot decrypt {what} (history event {event_id}): {e}; the rebuild "
                "needs every codec key the history was written with (COMPLAINTS_CODEC_KEYS / the key file, "
                "docs/operations.md)"
            ) from None
        if isinstance(value, PersistResult):
            if value.changes is None:
                raise RebuildError(f"workflow {workflow_id}: the local persist_case_changes of history event "
                                   f"{event_id} did not return its batch")
            value = value.changes
        writes.append(value)
    return writes, len(scheduled)


async def list_cases(client: Client, task_queues: list[str] | None) -> AsyncIterator[WorkflowExecution]:
    """Every `ComplaintCase` run visibility knows (open and closed), optionally on these task queues only."""
    query = build_query(CaseFilters(task_queue=task_queues))
    async for execution in client.list_workflows(query):
        yield execution


async def _occupied(conn: asyncpg.Connection) -> dict[str, int]:
    counts = {}
    for table in CASE_TABLES:
        counts[table] = await conn.fetchval(f"SELECT count(*) FROM {table}")  # noqa: S608 - fixed names
    return {t: n for t, n in counts.items() if n}


async def rebuild(
    client: Client,
    dsn: str,
    *,
    task_queues: list[str] | None = None,
    replace: bool = False,
    requeue_since: datetime | None = None,
    keyring: KeyRing | None = None,
    concurrency: int = 4,
    on_case: Callable[[int, CaseRebuilt], None] | None = None,
) -> RebuildReport:
    """Re-create the case tables of the database at `dsn` from the workflows' histories (module docstring).

    Migrates the database first (a new, empty one is fine). Refuses, before writing anything, a database
    whose case tables hold rows unless `replace`. Up to `concurrency` cases are read and written at once (each
    in its own transaction, so the order between cases does not matter). `on_case(n, case)` is called after
    each case is written."""
    if concurrency < 1:
        raise RebuildError(f"--concurrency must be at least 1, got {concurrency}")
    if requeue_since is not None and requeue_since.utcoffset() is None:
        raise RebuildError("--requeue-notifications-since must carry a UTC offset (e.g. 2026-12-01T08:00:00+08:00)")
    try:
        await apply_migrations(dsn)
        pool = await create_pool(dsn, min_size=1, max_size=concurrency + 1)
    except (OSError, asyncpg.PostgresError, MigrationChecksumError) as e:
        raise RebuildError(f"database {dsn.split('@')[-1]}: {e}") from None
    try:
        async with pool.acquire() as conn:
            occupied = await _occupied(conn)
        if occupied and not replace:
            rows = ", ".join(f"{t}: {n} rows" for t, n in occupied.items())
            raise RebuildError(
                f"the database is not empty ({rows}); pass --replace to rebuild into it (rows already there "
                "stay where they are as new or newer; nothing is deleted)"
            )
        acts = CaseActivities(pool, keyring)
        report = RebuildReport()

        async def one(execution: WorkflowExecution) -> None:
            writes, in_flight = await completed_writes(client, execution)
            if execution.status != WorkflowExecutionStatus.RUNNING:
                in_flight = 0  # a closed case's unfinished activity never runs again
            if not writes:
                report.skipped.append(execution.id)
                return
            changes = fold(writes)
            requeued = [n for n in changes.notifications if requeue_since is not None and n.at >= requeue_since]
            report.notifications_not_requeued += len(changes.notifications) - len(requeued)
            changes = changes.model_copy(update={"notifications": requeued})
            try:
                async with pool.acquire() as conn:
                    result = await acts.write_case_changes(conn, changes)
            except ApplicationError as e:
                raise RebuildError(
                    f"workflow {execution.id}: {e} (nothing of this case written; the cases written before it "
                    "stay: run again with --replace once it is fixed)"
                ) from None
            case = _rebuilt(changes, result, execution, in_flight)
            report.cases.append(case)
            if on_case is not None:
                on_case(len(report.cases), case)

        slots = asyncio.Semaphore(concurrency)

        async def in_slot(execution: WorkflowExecution) -> None:
            try:
                await one(execution)
            finally:
                slots.release()

        try:
            async with asyncio.TaskGroup() as cases:
                async for execution in list_cases(client, task_queues):
                    await slots.acquire()
                    cases.create_task(in_slot(execution))
        except* RPCError as group:
            raise RebuildError(f"Temporal: {group.exceptions[0]}") from None
        except* RebuildError as group:
            raise group.exceptions[0] from None
        except* (OSError, asyncpg.PostgresError) as group:
            raise RebuildError(f"database {dsn.split('@')[-1]}: {group.exceptions[0]}") from None
        return report
    finally:
        await pool.close()


def _case_no(changes: CaseChanges, execution: WorkflowExecution) -> str:
    if changes.projection is not None:
        return changes.projection.case_no
    if changes.events:
        return changes.events[0].case_no
    raise RebuildError(f"workflow {execution.id}: its completed writes name no case")


def _rebuilt(changes: CaseChanges, result: PersistResult, execution: WorkflowExecution, in_flight: int) -> CaseRebuilt:
    p = changes.projection
    return CaseRebuilt(
        case_no=_case_no(changes, execution),
        version=p.version if p is not None else None,
        events=len(changes.events),
        clocks=len(p.clocks) if p is not None else 0,
        pii=result.pii_stored,
        notifications=result.notifications_queued,
        in_flight=in_flight,
    )
