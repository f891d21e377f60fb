"""A year in minutes: a county's year of cases on the time-skipping test server, every SLA timer firing.

One driver owns the (global) clock of one `temporal-test-server`: it builds a timeline of arrivals and
caseworker decisions over the simulated year (a realistic mix: on-the-spot answers, rejections, late
acceptances, extensions asked/approved/refused, late investigations, withdrawals, return visits, review
requests upheld or overturned with re-handling, review windows lapsing), then walks it day by day: it skips
the server's clock to the next moment (`env.sleep`), registers the cases received then and sends the
decisions due then. Timers (blue/yellow/red/escalation thresholds, review windows) fire in between.

The test server's wall clock is shifted to 1 January of the simulated year (2025: official holidays and
makeup days) with a tiny LD_PRELOAD shim compiled here (the same technique as tests/workflows/test_complaint_workflow.py);
without a C compiler the year starts today. Printed: wall time, simulated days per wall second, workflow
history events (from `describe`) and audit events (PostgreSQL) per second, and the wall split into clock
skipping (`env.sleep`: timers firing) and the days' actions. Baselines in the same run and server: a `BenchNoop`
workflow per case (start + result, 64 at a time), i.e. the floor cost of a workflow on this server; and the same
walk with a `BenchUpdateNoop` per case and a no-op update per decision, i.e. the floor cost of the walk itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bench.common import Report, create_database, machine_line, postgres, settings_for, temp_dir
from common.search_attributes import register_search_attributes
from devstack.timeshift import build_time_shift_lib, start_time_skipping_at
from workers.main import build_worker

CST = ZoneInfo("Asia/Shanghai")
COUNTY = "SX-TY-XD"  # 小店区: the handling county
CITY = "SX-TY"
DISPATCHER = {"id": "disp-01", "role": "dispatcher", "unit_id": "SX"}
INTAKE = {"id": "agent-12393-07", "role": "intake_agent", "unit_id": "SX"}
CW = {"id": "cw-xd-1", "role": "caseworker", "unit_id": COUNTY}
SUP = {"id": "sup-SX-TY", "role": "supervisor", "unit_id": CITY}
REV = {"id": "rev-ty-1", "role": "reviewer", "unit_id": CITY}
GROUNDS = {"basis": "《医疗保障基金使用监督管理条例》", "reasons": "经调取结算明细核实"}

@dataclass
class Case:
    """One simulated case: its registration moment and its decisions (offset from receipt, update, input)."""

    index: int
    received: datetime
    kind: str
    steps: list[tuple[timedelta, str, dict[str, Any]]] = field(default_factory=list)
    profile: str = ""


def _working_moments(cal: Any, year: int, rng: random.Random, n: int) -> list[datetime]:
    days = [d for d in (date(year, 1, 1) + timedelta(days=i) for i in range(365)) if cal.is_working_day(d)]
    out = []
    for _ in range(n):
        d = rng.choice(days)
        h = rng.choice([9, 9, 10, 10, 11, 13, 14, 14, 15, 16])
        out.append(datetime(d.year, d.month, d.day, h, rng.randrange(60), tzinfo=CST))
    return sorted(out)


def plan_year(n: int, year: int, seed: int = 2025) -> list[Case]:
    """`n` cases received on working days of `year` with a realistic mix of decisions."""
    from calendars import get_calendar

    rng = random.Random(seed)
    cal = get_calendar("CN-SX")
    cases = []
    D = timedelta(days=1)
    H = timedelta(hours=1)
    for i, at in enumerate(_working_moments(cal, year, rng, n)):
        c = Case(i, at, "complaint")
        r = rng.random()
        if r < 0.08:
            c.kind, c.profile = "consultation", "answered_on_spot"
            cases.append(c)
            continue
        if r < 0.12:
            c.profile = "rejected"
            c.steps.append((rng.uniform(2, 30) * H, "reject",
                            {"actor": DISPATCHER, "reason": "不属于医保部门职责范围", "redirect_to": "12345政务服务便民热线"}))
            cases.append(c)
            continue
        late_accept = rng.random() < 0.10
        t = (rng.uniform(4, 6) if late_accept else rng.uniform(0.1, 1.5)) * D
        c.steps.append((t, "accept", {"actor": DISPATCHER, "unit_id": COUNTY, "note": "转办"}))
        if rng.random() < 0.03:
            c.profile = "withdrawn"
            c.steps.append((t + rng.uniform(2, 10) * D, "withdraw", {"actor": INTAKE, "reason": "投诉人撤回"}))
            cases.append(c)
            continue
        ext = rng.random() < 0.15
        late_inv = not ext and rng.random() < 0.10
        if ext:
            approve = rng.random() < 0.85
            c.steps.append((t + 12 * D, "request_extension", {"actor": CW, "reason": "需调取多家机构结算数据，情况复杂"}))
            c.steps.append((t + 13 * D, "decide_extension", {"actor": SUP, "approve": approve, "note": ""}))
            t += (rng.uniform(25, 38) if approve else rng.uniform(20, 26)) * D
            c.profile = "extended" if approve else "extension_refused"
        elif late_inv:
            t += rng.uniform(26, 34) * D
            c.profile = "late_investigation"
        else:
            t += rng.uniform(3, 19) * D
            c.profile = "on_time"
        c.profile = ("late_acceptance+" if late_accept else "") + c.profile
        fault = rng.random() < 0.45
        c.steps.append((t, "complete_investigation", {
            "actor": CW, "findings": "经调取结算明细核实，" + ("机构存在违规收费，已责令整改。" if fault else "结算符合政策规定。"),
            "legal_basis": "《医疗保障基金使用监督管理条例》", "institution_at_fault": fault,
            "rectification_required": fault}))
        t += rng.uniform(0.5, 6) * D
        c.steps.append((t, "send_feedback", {"actor": CW, "message": "已将核查结果告知投诉人。", **GROUNDS}))
        if fault:  # recorded before the return visit, so a review that closes the case never comes first
            c.steps.append((t + rng.uniform(0.05, 0.45) * D, "complete_rectification",
                            {"actor": CW, "result": "机构已退还违规费用并完成整改。"}))
        t += rng.uniform(0.5, 3) * D
        outcome = rng.choices(["satisfied", "basically_satisfied", "unsatisfied", "unreachable"], [62, 22, 9, 7])[0]
        c.steps.append((t, "record_return_visit", {"actor": INTAKE, "outcome": outcome, "request_rehandling": False}))
        if rng.random() < 0.08:
            t += rng.uniform(3, 25) * D
            c.steps.append((t, "request_review", {"actor": INTAKE, "reason": "对处理结果不服，申请复核"}))
            up = rng.random() < 0.75
            t += rng.uniform(4, 18) * D
            c.steps.append((t, "decide_review", {"actor": REV, "outcome": "uphold" if up else "overturn",
                                                  "reasons": "原处理事实清楚" if up else "认定事实不清，发回重办"}))
            c.profile += "+review_" + ("upheld" if up else "overturned")
            if not up:
                t += rng.uniform(5, 14) * D
                c.steps.append((t, "complete_investigation", {"actor": CW, "findings": "重新核查后更正处理意见。",
                                                              "legal_basis": "", "institution_at_fault": True,
                                                              "rectification_required": False}))
                t += rng.uniform(0.5, 3) * D
                c.steps.append((t, "send_feedback", {"actor": CW, "message": "已告知重办结果。", **GROUNDS}))
        cases.append(c)
    return cases


def _registration(c: Case, received: datetime) -> Any:
    from cases.models import ComplaintRegistration
    from cases.pii import id_number_check_digit

    id17 = f"1401051{c.index % 10}900307{c.index % 1000:03d}"[:17]
    data: dict[str, Any] = {
        "case_no": f"SX{received.astimezone(CST):%Y%m%d}{c.index + 1:05d}",
        "kind": c.kind,
        "channel": ["hotline_12393", "national_app", "wechat", "service_hall"][c.index % 4],
        "received_at": received.isoformat(),
        "jurisdiction": "CN-SX",
        "category": ["reimbursement", "designated_institution", "pharmacy", "enrolment"][c.index % 4],
        "complainant": {"name": "张三丰", "id_number": id17 + id_number_check_digit(id17), "phone": "13812345678",
                        "card_number": "SX1401000012345678", "address": None, "real_name": True},
        "matter": {"occurred_at": (received - timedelta(days=3)).isoformat(), "place": "太原市小店区",
                   "institution": "山西某医院", "locality_unit": COUNTY, "description": "住院费用报销被拒，理由不明。"},
        "demand": "按规定报销住院费用",
        "evidence": [],
        "intake_actor": INTAKE,
    }
    if c.kind == "consultation":
        data["on_the_spot_answer"] = "已当场告知办理流程及所需材料。"
        data["demand"] = ""
    return ComplaintRegistration.model_validate(data)


async def run(n_cases: int = 2000, year: int = 2025, concurrency: int = 64, tail_days: int = 45,
              extra_workers: int = 1, noop_walk: bool = True) -> Report:
    """Simulate `year` with `n_cases` cases at one county; report wall time and events per second."""
    from temporalio.api.common.v1 import WorkflowExecution
    from temporalio.api.enums.v1 import WorkflowExecutionStatus
    from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
    from temporalio.client import WorkflowHandle
    from temporalio.testing import WorkflowEnvironment

    from activities.db import create_pool
    from bench.baseline_workflows import BASELINE_WORKFLOWS, BenchNoop, BenchUpdateNoop
    from cases import models
    from common.converter import make_data_converter
    from devstack.binaries import temporal_test_server
    from workflows import ComplaintCase
    from workflows.client import start_case

    rep = Report("year")
    print(machine_line(), flush=True)
    cases = plan_year(n_cases, year)
    profiles: dict[str, int] = defaultdict(int)
    for c in cases:
        profiles[c.profile] += 1
    rep.params = {"cases": n_cases, "year": year, "county": COUNTY, "concurrency": concurrency,
                  "workers": f"1 in-process + {extra_workers} worker process(es) (bench.footprint_worker)",
                  "profiles": dict(sorted(profiles.items(), key=lambda kv: -kv[1]))}
    decision_models = {
        "accept": models.AcceptDecision, "reject": models.RejectDecision, "withdraw": models.WithdrawDecision,
        "request_extension": models.RequestExtensionDecision, "decide_extension": models.DecideExtensionDecision,
        "complete_investigation": models.CompleteInvestigationDecision, "send_feedback": models.SendFeedbackDecision,
        "record_return_visit": models.RecordReturnVisitDecision, "request_review": models.RequestReviewDecision,
        "decide_review": models.DecideReviewDecision,
        "complete_rectification": models.CompleteRectificationDecision,
    }
    with temp_dir("bench-year-") as root:
        settings = settings_for(root / "data")
        shim = build_time_shift_lib(root)
        start = datetime(year, 1, 1, 8, 0, tzinfo=CST)
        converter = make_data_converter(settings)
        if shim is not None:
            env = await start_time_skipping_at(start, shim, converter)
        else:
            rep.note("no C compiler: the simulated year starts today instead of 1 January")
            env = await WorkflowEnvironment.start_time_skipping(
                data_converter=converter, test_server_existing_path=temporal_test_server()
            )
            await register_search_attributes(env.client)
        async with postgres(root) as server:
            dsn = await create_database(server, "year")
            pool = await create_pool(dsn, 2, 20)
            stack = contextlib.ExitStack()
            try:
                t0_sim = await env.get_current_time()
                if shim is None:
                    delta = t0_sim - cases[0].received
                    for c in cases:
                        c.received += delta + timedelta(hours=1)
                tq = f"bench-year-{uuid.uuid4().hex[:6]}"
                # the in-process worker (with the driver) is one Python process, i.e. one core: extra worker
                # processes on the same task queue use the other core(s); each case sticks to one of them
                extra = await _start_workers(root, settings, env, dsn, tq, extra_workers)
                stack.callback(lambda: [_stop_worker(w) for w in extra])
                async with build_worker(
                    env.client, pool, settings, task_queue=tq, extra_workflows=BASELINE_WORKFLOWS
                ):
                    # baseline: one trivial workflow per case, on the same server and worker
                    sem = asyncio.Semaphore(concurrency)

                    async def noop(i: int) -> None:
                        async with sem:
                            await env.client.execute_workflow(BenchNoop.run, id=f"noop-{i}", task_queue=tq)

                    b0 = time.perf_counter()
                    with env.auto_time_skipping_disabled():  # waiting on results must not move the clock
                        await asyncio.gather(*(noop(i) for i in range(n_cases)))
                    base_s = time.perf_counter() - b0
                    rep.add("baseline_noop_wall", base_s, "s")
                    rep.add("baseline_noop_per_s", n_cases / base_s, "workflows/s")
                    # the timeline: (moment, case index, step index or -1 for registration)
                    actions: list[tuple[datetime, int, int]] = []
                    for c in cases:
                        actions.append((c.received, c.index, -1))
                        for j, (off, _, _) in enumerate(c.steps):
                            actions.append((c.received + off, c.index, j))
                    actions.sort()
                    end = actions[-1][0] + timedelta(days=tail_days)
                    by_day: dict[date, list[tuple[datetime, int, int]]] = defaultdict(list)
                    for a in actions:
                        by_day[a[0].astimezone(CST).date()].append(a)
                    handles: dict[int, WorkflowHandle[Any, Any]] = {}
                    refused: list[str] = []
                    counts = {"registered": 0, "decisions": 0}

                    async def act(c: Case, steps: list[int]) -> None:
                        async with sem:
                            for j in steps:
                                if j < 0:
                                    now = await env.get_current_time()
                                    reg = _registration(c, now.astimezone(CST))
                                    handles[c.index] = await start_case(env.client, reg, task_queue=tq)
                                    counts["registered"] += 1
                                    continue
                                _, name, payload = c.steps[j]
                                h = handles.get(c.index)
                                if h is None:
                                    return
                                try:
                                    await h.execute_update(getattr(ComplaintCase, name),
                                                           decision_models[name].model_validate(payload))
                                    counts["decisions"] += 1
                                except Exception as e:  # noqa: BLE001 - counted and reported
                                    refused.append(f"{c.profile} {name}: {str(getattr(e, 'cause', e) or e)[:200]}")
                                    return

                    async def walk(shift: timedelta, act_fn: Any) -> tuple[float, float]:
                        """Walk the timeline (moved by `shift`) day by day; (wall, wall inside env.sleep)."""
                        w0 = time.perf_counter()
                        skipping_s = 0.0  # the server firing timers and their work while the clock moves
                        for day in sorted(by_day):
                            batch = by_day[day]
                            first = batch[0][0] + shift
                            now = await env.get_current_time()
                            if first > now:
                                s0 = time.perf_counter()
                                await env.sleep(first - now)
                                skipping_s += time.perf_counter() - s0
                            # the day's registrations and decisions are all sent at its first moment
                            per_case: dict[int, list[int]] = defaultdict(list)
                            for _, idx, j in batch:
                                per_case[idx].append(j)
                            await asyncio.gather(*(act_fn(cases[i], js) for i, js in per_case.items()))
                        now = await env.get_current_time()
                        if end + shift > now:
                            s0 = time.perf_counter()
                            await env.sleep(end + shift - now)
                            skipping_s += time.perf_counter() - s0
                        return time.perf_counter() - w0, skipping_s

                    wall, skipping_s = await walk(timedelta(0), act)
                    await asyncio.sleep(1.0)  # the last timers' activities
                    wall += 1.0
                    sim_days = (end - t0_sim).total_seconds() / 86400
                    rep.add("wall", wall, "s", baseline="baseline_noop_wall")
                    rep.add("clock_skipping_wall", skipping_s, "s")
                    rep.add("actions_wall", wall - skipping_s, "s")
                    rep.add("days_with_actions", len(by_day), "days")
                    rep.add("simulated_days", round(sim_days, 1), "days")
                    rep.add("simulated_days_per_s", sim_days / wall, "days/s")
                    rep.add("registered", counts["registered"], "cases")
                    rep.add("decisions", counts["decisions"], "updates")
                    rep.add("refused_or_failed", len(refused), "updates")
                    if refused:
                        kinds: dict[str, int] = defaultdict(int)
                        for r in refused:
                            kinds[r.split(":")[0]] += 1
                        rep.note(f"refused/failed by profile+update: {dict(kinds)}; e.g. {refused[0]}")
                    # events: workflow histories (describe) and audit trail rows
                    async def describe(wid: str) -> Any:
                        async with sem:
                            return (await env.client.workflow_service.describe_workflow_execution(
                                DescribeWorkflowExecutionRequest(namespace=env.client.namespace,
                                                                 execution=WorkflowExecution(workflow_id=wid))
                            )).workflow_execution_info

                    infos = await asyncio.gather(*(describe(h.id) for h in handles.values()))
                    hist = sum(i.history_length for i in infos)
                    open_cases = sum(
                        1 for i in infos if i.status == WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING)
                    audit = int(await pool.fetchval("SELECT count(*) FROM case_events"))
                    timer_events = int(await pool.fetchval(
                        "SELECT count(*) FROM case_events WHERE kind IN ('sla_level_changed', 'sla_escalated')"))
                    rep.add("history_events", hist, "events")
                    rep.add("history_events_per_s", hist / wall, "events/s")
                    rep.add("audit_events", audit, "events")
                    rep.add("audit_events_per_s", audit / wall, "events/s")
                    rep.add("timer_driven_audit_events", timer_events, "events")
                    rep.add("open_at_end", open_cases, "cases")
                    rep.add("history_events_per_case", hist / max(1, len(infos)), "events")
                    kinds = await _event_kinds(env.client, [h.id for h in list(handles.values())[:20]])
                    rep.note("history event types, first 20 cases: " + ", ".join(
                        f"{k} {v}" for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])))
                    if noop_walk:
                        # the same walk (same days, same sends, same skips) with a no-op workflow per case and a
                        # no-op update per decision: what the day-by-day driver and the server cost by themselves
                        noop_handles: dict[int, WorkflowHandle[Any, Any]] = {}

                        async def noop_act(c: Case, steps: list[int]) -> None:
                            async with sem:
                                for j in steps:
                                    if j < 0:
                                        noop_handles[c.index] = await env.client.start_workflow(
                                            BenchUpdateNoop.run, id=f"noop-walk-{c.index}", task_queue=tq)
                                    elif c.index in noop_handles:
                                        await noop_handles[c.index].execute_update(BenchUpdateNoop.poke, j)

                        shift = await env.get_current_time() - t0_sim
                        walk_s, _ = await walk(shift, noop_act)
                        rep.add("baseline_noop_walk_wall", walk_s, "s")
                        rep.add("wall_vs_noop_walk", wall / walk_s, "x")

                        async def finish(h: WorkflowHandle[Any, Any]) -> None:
                            async with sem:
                                await h.signal(BenchUpdateNoop.finish)

                        await asyncio.gather(*(finish(h) for h in noop_handles.values()))
            finally:
                stack.close()
                await pool.close()
                await env.shutdown()
    rep.write()
    return rep


async def _event_kinds(client: Any, workflow_ids: list[str]) -> dict[str, int]:
    """Event type → count over the histories of `workflow_ids`."""
    from temporalio.api.enums.v1 import EventType

    kinds: dict[str, int] = defaultdict(int)
    for wid in workflow_ids:
        async for ev in client.get_workflow_handle(wid).fetch_history_events():
            kinds[EventType.Name(ev.event_type).removeprefix("EVENT_TYPE_").lower()] += 1
    return dict(kinds)


async def _start_workers(root: Path, settings: Any, env: Any, dsn: str, tq: str, n: int) -> list[Any]:
    """`n` worker processes (`bench.footprint_worker`, the project's worker configuration) on `tq`."""
    from bench.footprint import _spawn_worker, _wait_ready

    wenv = {"COMPLAINTS_DATA_DIR": str(settings.data_dir), "COMPLAINTS_DATABASE_URL": dsn,
            "COMPLAINTS_TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
            "COMPLAINTS_TASK_QUEUE": tq, "COMPLAINTS_DATABASE_POOL_MAX": "10"}
    procs = []
    for i in range(n):
        wdir = root / f"w{i}"
        wdir.mkdir()
        proc = _spawn_worker(wdir, wenv, 1000, "baselines")
        procs.append(proc)
        try:
            await _wait_ready(proc)
        except Exception:
            for p in procs:
                _stop_worker(p)
            raise
    return procs


def _stop_worker(proc: Any) -> None:
    from bench.footprint import _stop

    _stop(proc)


def main(argv: list[str] | None = None) -> None:
    """`python -m bench.year [N]`."""
    import sys

    args = argv if argv is not None else sys.argv[1:]
    asyncio.run(run(int(args[0]) if args else 2000))


if __name__ == "__main__":
    main()
