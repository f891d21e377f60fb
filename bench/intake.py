"""Intake and decisions on the embedded stack: a Temporal dev server subprocess on a SQLite file, a real
in-process worker (the project's workflows, activities and sandbox runner) and a real embedded PostgreSQL.

N cases are registered by C concurrent clients; each client drives its cases through accept -> assign ->
complete investigation -> send feedback -> return visit (five Workflow Updates). Printed: cases/s, updates/s,
update round trip p50/p95/p99. Then N/4 more cases are registered and accepted in one call each
(update-with-start, `workflows.client.start_case_with_decision`): its round trip p50, against the no-op update
and against a separate start + accept. One case's history gives the events and workflow tasks of a decision.
Baselines in the same run, server and worker: `BenchNoop` (a workflow that does nothing: starts/s, start +
result) and `BenchUpdateNoop` (an update that does nothing: p50/p95).
Sizes stay well below the dev server's limits on SQLite (~1,000 concurrent workflows, ~40 trivial
workflows/s on a file).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from bench.common import (
    Report,
    connect_client,
    create_database,
    dev_server,
    machine_line,
    percentile,
    postgres,
    settings_for,
    temp_dir,
    wait_namespace_ready,
)
from workers.main import build_worker

DISPATCHER = {"id": "disp-01", "role": "dispatcher", "unit_id": "SX"}
INTAKE = {"id": "agent-12393-07", "role": "intake_agent", "unit_id": "SX"}


def registrations(n: int, *, seed: int = 7, received_at: datetime | None = None) -> list[Any]:
    """`n` realistic complaint registrations (from `clients.demo` when available), received now."""
    from cases.models import CaseKind

    at = (received_at or datetime.now(UTC)).isoformat()
    regs: list[Any] = []
    try:
        from clients.demo import generate

        plans = generate(n * 2 + 20, seed=seed)
        regs = [p.registration for p in plans if p.registration.kind is CaseKind.complaint][:n]
    except Exception:  # noqa: BLE001 - the demo generator is optional: fall back to a fixed template
        regs = []
    if len(regs) < n:
        regs = [_template_registration(i) for i in range(n)]
    out = []
    when = datetime.fromisoformat(at)
    day = when.astimezone(UTC).strftime("%Y%m%d")
    for i, r in enumerate(regs):
        out.append(r.model_copy(update={"received_at": when, "case_no": f"SX{day}{i + 1:05d}"}))
    return out


def _template_registration(i: int) -> Any:
    from cases.models import ComplaintRegistration
    from cases.pii import id_number_check_digit

    id17 = "14010519900307123"
    return ComplaintRegistration.model_validate({
        "case_no": f"SX20260101{i:05d}",
        "kind": "complaint",
        "channel": "hotline_12393",
        "received_at": datetime.now(UTC).isoformat(),
        "jurisdiction": "CN-SX",
        "category": "reimbursement",
        "complainant": {"name": "张三丰", "id_number": id17 + id_number_check_digit(id17), "phone": "13812345678",
                        "card_number": "SX1401000012345678", "address": None, "real_name": True},
        "matter": {"occurred_at": "2026-01-01T09:30:00+08:00", "place": "太原市小店区", "institution": "山西某医院",
                   "locality_unit": "SX-TY-XD", "description": "住院费用报销被拒，理由不明。"},
        "demand": "按规定报销住院费用",
        "evidence": [],
        "intake_actor": INTAKE,
    })


def unit_of(reg: Any) -> str:
    """The handling unit a case goes to: the unit where the matter happened (a city or county bureau)."""
    return str(reg.matter.locality_unit or "SX-TY-XD")


def decisions(reg: Any) -> list[tuple[str, Any]]:
    """accept -> assign -> complete investigation -> send feedback -> return visit, as (update name, input)."""
    from cases.models import (
        AcceptDecision,
        AssignDecision,
        CompleteInvestigationDecision,
        RecordReturnVisitDecision,
        SendFeedbackDecision,
    )

    unit = unit_of(reg)
    cw = {"id": f"cw-{unit.lower()}-1", "role": "caseworker", "unit_id": unit}
    return [
        ("accept", AcceptDecision.model_validate({"actor": DISPATCHER, "note": "待分派"})),
        ("assign", AssignDecision.model_validate({"actor": DISPATCHER, "unit_id": unit, "note": "转办"})),
        ("complete_investigation", CompleteInvestigationDecision.model_validate({
            "actor": cw, "findings": "经调取结算明细核实，机构结算符合政策规定。",
            "legal_basis": "《医疗保障基金使用监督管理条例》"})),
        ("send_feedback", SendFeedbackDecision.model_validate({"actor": cw, "message": "已将核查结果告知投诉人。", "basis": "《医疗保障基金使用监督管理条例》",
                                                  "reasons": "经调取结算明细核实"})),
        ("record_return_visit", RecordReturnVisitDecision.model_validate({"actor": INTAKE, "outcome": "satisfied"})),
    ]


async def _pool_run(items: list[Any], clients: int, fn: Callable[[Any], Awaitable[None]]) -> float:
    """Run `fn` over `items` with `clients` concurrent workers; returns the wall time."""
    queue: asyncio.Queue[Any] = asyncio.Queue()
    for it in items:
        queue.put_nowait(it)

    async def worker() -> None:
        while True:
            try:
                it = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            await fn(it)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return time.perf_counter() - t0


async def run(n_cases: int = 200, clients: int = 8, n_noop: int | None = None) -> Report:
    """Run the intake benchmark on a fresh embedded stack."""

    from activities.db import create_pool
    from bench.baseline_workflows import BASELINE_WORKFLOWS, BenchNoop, BenchUpdateNoop
    from workflows import ComplaintCase
    from workflows.client import start_case, start_case_with_decision

    n_noop = n_noop or n_cases
    rep = Report("intake")
    rep.params = {"cases": n_cases, "clients": clients, "noop_workflows": n_noop, "updates_per_case": 5,
                  "temporal": "dev server (temporal server start-dev) on a SQLite file",
                  "worker": "in-process Worker, project sandbox runner, real activities on embedded PostgreSQL"}
    print(machine_line(), flush=True)
    with temp_dir("bench-intake-") as root:
        settings = settings_for(root / "data")
        async with postgres(root) as server, dev_server(root) as ds:
            dsn = await create_database(server, "intake")
            pool = await create_pool(dsn, 2, 20)
            client = await connect_client(ds.address, settings)
            await wait_namespace_ready(client)
            tq = f"bench-intake-{uuid.uuid4().hex[:6]}"
            worker = build_worker(client, pool, settings, task_queue=tq, extra_workflows=BASELINE_WORKFLOWS)
            try:
                async with worker:
                    # warm up: first workflow task pays the sandbox import
                    await client.execute_workflow(BenchNoop.run, id=f"warm-{uuid.uuid4().hex}", task_queue=tq)
                    # -- baseline 1: starts/s of a workflow that does nothing
                    starts: list[float] = []

                    async def noop(i: int) -> None:
                        t0 = time.perf_counter()
                        await client.execute_workflow(BenchNoop.run, id=f"noop-{i}", task_queue=tq)
                        starts.append(time.perf_counter() - t0)

                    wall = await _pool_run(list(range(n_noop)), clients, noop)
                    rep.add("baseline_noop_starts_per_s", n_noop / wall, "workflows/s")
                    rep.add("baseline_noop_roundtrip_p50", percentile(starts, 50) * 1000, "ms")
                    # -- baseline 2: an update that does nothing (one workflow per client)
                    handles = [
                        await client.start_workflow(BenchUpdateNoop.run, id=f"upd-{i}", task_queue=tq)
                        for i in range(clients)
                    ]
                    n_upd = min(5 * n_cases, 1000)
                    upd_times: list[float] = []

                    async def poke(i: int) -> None:
                        h = handles[i % clients]
                        t0 = time.perf_counter()
                        await h.execute_update(BenchUpdateNoop.poke, i)
                        upd_times.append(time.perf_counter() - t0)

                    wall = await _pool_run(list(range(n_upd)), clients, poke)
                    for h in handles:
                        await h.signal(BenchUpdateNoop.finish)
                    rep.add("baseline_noop_updates_per_s", n_upd / wall, "updates/s")
                    rep.add("baseline_noop_update_p50", percentile(upd_times, 50) * 1000, "ms")
                    rep.add("baseline_noop_update_p95", percentile(upd_times, 95) * 1000, "ms")
                    rep.add("baseline_noop_update_p99", percentile(upd_times, 99) * 1000, "ms")
                    # -- the real thing
                    regs = registrations(n_cases)
                    case_upd: list[float] = []
                    per_kind: dict[str, list[float]] = {}
                    start_times: list[float] = []
                    failures: list[str] = []

                    async def drive(reg: Any) -> None:
                        t0 = time.perf_counter()
                        h = await start_case(client, reg, task_queue=tq)
                        start_times.append(time.perf_counter() - t0)
                        for name, d in decisions(reg):
                            t1 = time.perf_counter()
                            try:
                                await h.execute_update(getattr(ComplaintCase, name), d)
                            except Exception as e:  # noqa: BLE001 - counted and reported
                                failures.append(f"{reg.case_no} {name}: {e}: {getattr(e, 'cause', None)}")
                                return
                            dt = time.perf_counter() - t1
                            case_upd.append(dt)
                            per_kind.setdefault(name, []).append(dt)

                    wall = await _pool_run(regs, clients, drive)
                    rep.add("cases_per_s", n_cases / wall, "cases/s", baseline="baseline_noop_starts_per_s")
                    rep.add("updates_per_s", len(case_upd) / wall, "updates/s", baseline="baseline_noop_updates_per_s")
                    rep.add("start_p50", percentile(start_times, 50) * 1000, "ms", baseline="baseline_noop_roundtrip_p50")
                    rep.add("update_p50", percentile(case_upd, 50) * 1000, "ms", baseline="baseline_noop_update_p50")
                    rep.add("update_p95", percentile(case_upd, 95) * 1000, "ms", baseline="baseline_noop_update_p95")
                    rep.add("update_p99", percentile(case_upd, 99) * 1000, "ms", baseline="baseline_noop_update_p99")
                    for name, ts in per_kind.items():
                        rep.add(f"update_{name}_p50", percentile(ts, 50) * 1000, "ms", baseline="baseline_noop_update_p50")
                    # -- register and accept in one call (update-with-start), after the flow above
                    start_and_accept: list[float] = []
                    n_uws = max(2, n_cases // 4)

                    async def register_and_accept(reg: Any) -> None:
                        name, accept = decisions(reg)[0]
                        t0 = time.perf_counter()
                        try:
                            await start_case_with_decision(client, reg, getattr(ComplaintCase, name), accept,
                                                           task_queue=tq)
                        except Exception as e:  # noqa: BLE001 - counted and reported
                            failures.append(f"{reg.case_no} start with {name}: {e}: {getattr(e, 'cause', None)}")
                            return
                        start_and_accept.append(time.perf_counter() - t0)

                    more = registrations(n_cases + n_uws, seed=11)[n_cases:]
                    await _pool_run(more, clients, register_and_accept)
                    rep.add("start_with_accept_p50", percentile(start_and_accept, 50) * 1000, "ms",
                            baseline="baseline_noop_update_p50")
                    if "update_accept_p50" in rep.figures:
                        rep.add("start_with_accept_vs_start_then_accept",
                                percentile(start_and_accept, 50) * 1000
                                / (rep.figures["start_p50"]["value"] + rep.figures["update_accept_p50"]["value"]),
                                "x (p50 of one call / p50 start + p50 accept)")
                    await _decision_profile(client, rep, regs[0].case_no)
                    rep.add("failed_cases", len(failures), "cases")
                    if failures:
                        rep.note(f"first failure: {failures[0][:300]}")
                    events = await pool.fetchval("SELECT count(*) FROM case_events")
                    rep.add("audit_events", int(events), "rows")
                    rep.add("audit_events_per_s", events / wall, "events/s")
            finally:
                await pool.close()
    rep.write()
    return rep


async def _decision_profile(client: Any, rep: Report, case_no: str) -> None:
    """Events and workflow tasks per decision, from one driven case's history (the decisions after `accept`,
    which may share its workflow task with the registration)."""
    from temporalio.api.enums.v1 import EventType

    from common.contract import workflow_id

    history = await client.get_workflow_handle(workflow_id(case_no)).fetch_history()
    accepted = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    ids = [e.event_id for e in history.events if e.event_type == accepted]
    if len(ids) < 2:
        return
    later = [e for e in history.events if e.event_id >= ids[1] - 3]  # from the second decision's task on
    n = len(ids) - 1
    count = lambda t: sum(1 for e in later if e.event_type == t)  # noqa: E731
    rep.add("decision_history_events", len(later) / n, "events/decision")
    rep.add("decision_workflow_tasks", count(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED) / n, "tasks/decision")
    rep.add("decision_activity_tasks", count(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) / n, "tasks/decision")


def main(argv: list[str] | None = None) -> None:
    """`python -m bench.intake [N] [C]`."""
    import sys

    args = argv if argv is not None else sys.argv[1:]
    asyncio.run(run(int(args[0]) if args else 200, int(args[1]) if len(args) > 1 else 8))


if __name__ == "__main__":
    main()
