"""The HTTP API in a real uvicorn process against the dev server, a worker and PostgreSQL: registration,
the README walkthrough through HTTP only, the work list, idempotent decisions, scope and input errors."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from helpers.api import (
    CASEWORKER,
    DISPATCHER,
    INTAKE,
    OTHER_CASEWORKER,
    REVIEWER,
    SUPERVISOR,
    ApiProcess,
    api_process,
    eventually,
)
from helpers.client import registration, running_worker, task_queue
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from api.auth import create_api_key, revoke_api_key
from cases.models import Actor, Role
from cases.org import load_bundled_directory

pytestmark = pytest.mark.devserver


@pytest_asyncio.fixture(scope="module")
async def api(dev_env: WorkflowEnvironment, pg_dsn: str, pg_pool: Any) -> AsyncIterator[ApiProcess]:
    q = task_queue()
    async with running_worker(dev_env.client, pg_pool, q), api_process(dev_env, pg_dsn, q) as proc:
        yield proc


async def _register(api: ApiProcess, actor: Actor = INTAKE, **over: Any) -> str:
    reg = registration(**over)
    async with api.http() as http:
        r = await http.post("/v1/cases", json=reg, headers=api.headers(actor))
    assert r.status_code == 201, r.text
    return reg["case_no"]


async def _decide(api: ApiProcess, actor: Actor, case_no: str, name: str, body: dict[str, Any],
                  **headers: str) -> Any:
    async with api.http() as http:
        return await http.post(f"/v1/cases/{case_no}/decisions/{name}", json=body,
                               headers=api.headers(actor, **headers))


async def _read(api: ApiProcess, actor: Actor, case_no: str) -> Any:
    async with api.http() as http:
        return await http.get(f"/v1/cases/{case_no}", headers=api.headers(actor))


async def _history(dev_env: WorkflowEnvironment, case_no: str) -> list[Any]:
    return list((await dev_env.client.get_workflow_handle(f"complaint-{case_no}").fetch_history()).events)


async def _history_length(dev_env: WorkflowEnvironment, case_no: str) -> int:
    """The history's length once the case is idle (registration and catch-up ticks done)."""
    last = -1
    while True:
        n = len(await _history(dev_env, case_no))
        if n == last:
            return n
        last = n
        await asyncio.sleep(0.5)


async def _written_since(dev_env: WorkflowEnvironment, case_no: str, length: int) -> list[str]:
    """What the history gained after its first `length` events, leaving out empty workflow tasks: right after a
    case's first workflow task the server may keep the task that carried a rejected update (scheduled, started,
    completed, no command) instead of dropping it; what a refusal must never leave is a command or an update."""
    from temporalio.api.enums.v1 import EventType

    task = {EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
            EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED}
    return [EventType.Name(e.event_type) for e in (await _history(dev_env, case_no))[length:] if e.event_type not in task]


async def _updates_in_history(dev_env: WorkflowEnvironment, case_no: str) -> int:
    return sum(1 for e in await _history(dev_env, case_no)
               if e.HasField("workflow_execution_update_accepted_event_attributes"))


async def test_register_twice_answers_the_one_case(api: ApiProcess, dev_env: WorkflowEnvironment) -> None:
    reg = registration()
    async with api.http() as http:
        first = await http.post("/v1/cases", json=reg, headers=api.headers(INTAKE))
        again = await http.post("/v1/cases", json=reg, headers=api.headers(INTAKE))
    assert (first.status_code, first.json()) == (201, {"case_no": reg["case_no"], "created": True})
    assert (again.status_code, again.json()) == (200, {"case_no": reg["case_no"], "created": False})
    assert first.headers["location"] == f"/v1/cases/{reg['case_no']}"
    count = await dev_env.client.count_workflows(f'WorkflowId = "complaint-{reg["case_no"]}"')
    assert count.count == 1


async def test_walkthrough_through_http_only(api: ApiProcess) -> None:
    """The README's walkthrough: register, accept and assign, extension asked and approved, investigation,
    feedback, return visit, review asked and upheld; each step offered to exactly the right person."""
    case = await _register(api)
    view = (await _read(api, DISPATCHER, case)).json()
    assert view["summary"]["stage"] == "acceptance"
    assert view["allowed_decisions"] == ["accept", "reject", "merge_into"]
    assert (await _read(api, INTAKE, case)).json()["allowed_decisions"] == ["withdraw"]

    steps: list[tuple[Actor, str, dict[str, Any], str]] = [
        (DISPATCHER, "accept", {"unit_id": "SX-TY-XD", "note": "转小店区办理"}, "investigation"),
        (CASEWORKER, "request_extension", {"reason": "需调取医院近三个月结算明细"}, "investigation"),
        (SUPERVISOR, "decide_extension", {"approve": True, "note": "同意延期"}, "investigation"),
        (CASEWORKER, "complete_investigation", {"findings": "医院未及时办理慢特病备案", "legal_basis": "《山西省门诊慢特病管理办法》",
                                                "institution_at_fault": True, "rectification_required": True}, "feedback"),
        (CASEWORKER, "send_feedback", {"message": "已补办备案并退还差额", "basis": "《山西省门诊慢特病管理办法》第十二条",
                                                   "reasons": "医院未及时备案，应予纠正"}, "return_visit"),
        (INTAKE, "record_return_visit", {"outcome": "basically_satisfied"}, "review_window"),
        (INTAKE, "request_review", {"reason": "对差额计算有异议"}, "under_review"),
        (REVIEWER, "decide_review", {"outcome": "uphold", "reasons": "原处理事实清楚，依据正确"}, "archived"),
    ]
    for actor, name, body, stage in steps:
        before = (await _read(api, actor, case)).json()
        assert name in before["allowed_decisions"], (name, before["allowed_decisions"])
        r = await _decide(api, actor, case, name, body)
        assert r.status_code == 200, r.text
        assert r.json()["summary"]["stage"] == stage
    final = (await _read(api, DISPATCHER, case)).json()
    assert final["summary"]["close_reason"] == "review_upheld" and final["allowed_decisions"] == []
    # the timeline names the people from the credentials
    actors = {e["kind"]: e["actor_id"] for e in final["summary"]["events"]}
    assert actors["accepted"] == "disp-01" and actors["extension_approved"] == "sup-SX-TY"
    assert actors["registered"] == "agent-07"


async def test_refused_decision_is_409_with_the_reason(api: ApiProcess, dev_env: WorkflowEnvironment) -> None:
    case = await _register(api)
    length = await _history_length(dev_env, case)
    r = await _decide(api, CASEWORKER, case, "accept", {})
    # a caseworker of SX-TY-XD cannot see an unassigned case: 404, not a hint that it exists
    assert r.status_code == 404
    sup = Actor(id="sup-sx", role=Role.supervisor, unit_id="SX")
    r = await _decide(api, sup, case, "accept", {})
    assert r.status_code == 409 and r.headers["content-type"] == "application/problem+json"
    assert "role supervisor may not accept" in r.json()["detail"]
    assert await _written_since(dev_env, case, length) == []
    assert await _updates_in_history(dev_env, case) == 0


async def test_the_actor_comes_from_the_credentials_never_the_body(api: ApiProcess) -> None:
    case = await _register(api)
    r = await _decide(api, DISPATCHER, case, "accept", {"actor": {"id": "boss", "role": "dispatcher", "unit_id": "SX"}})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "actor"


async def test_text_with_a_nul_character_is_refused_before_anything_is_written(
    api: ApiProcess, dev_env: WorkflowEnvironment
) -> None:
    """PostgreSQL cannot store U+0000: such text would be applied by the case and then stall its projection."""
    reg = registration()
    reg["matter"]["description"] = "医院多收费用\x00"
    async with api.http() as http:
        r = await http.post("/v1/cases", json=reg, headers=api.headers(INTAKE))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "matter.description"
    with pytest.raises(RPCError) as missing:
        await dev_env.client.get_workflow_handle(f"complaint-{reg['case_no']}").describe()
    assert missing.value.status == RPCStatusCode.NOT_FOUND
    case = await _register(api)
    length = await _history_length(dev_env, case)
    r = await _decide(api, DISPATCHER, case, "reject", {"reason": "不属于\x00医保", "redirect_to": "12345"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "reason"
    assert len(await _history(dev_env, case)) == length


async def test_bad_input_names_the_field(api: ApiProcess) -> None:
    reg = registration()
    reg["complainant"]["id_number"] = reg["complainant"]["id_number"][:-1] + ("0" if reg["complainant"]["id_number"][-1] != "0" else "1")
    async with api.http() as http:
        r = await http.post("/v1/cases", json=reg, headers=api.headers(INTAKE))
        assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
        assert r.json()["errors"][0]["field"] == "complainant.id_number"
        r = await http.get("/v1/cases", params={"limit": 0}, headers=api.headers(DISPATCHER))
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "limit"
        r = await http.get("/v1/cases/SX2026112099999", headers=api.headers(DISPATCHER))
        assert r.status_code == 404 and r.json()["detail"] == "case SX2026112099999 not found"


async def test_decision_retried_with_the_same_key_writes_one_audit_event(api: ApiProcess, pg_pool: Any) -> None:
    case = await _register(api)
    key = f"retry-{uuid.uuid4().hex}"
    body = {"unit_id": "SX-TY-XD"}
    first = await _decide(api, DISPATCHER, case, "accept", body, **{"Idempotency-Key": key})
    again = await _decide(api, DISPATCHER, case, "accept", body, **{"Idempotency-Key": key})
    assert first.status_code == again.status_code == 200
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.json() == first.json()
    # without the key the same request is a new decision, refused by the case
    fresh = await _decide(api, DISPATCHER, case, "accept", body)
    assert fresh.status_code == 409
    # the same key with another body is an error, not a replay
    other = await _decide(api, DISPATCHER, case, "accept", {"unit_id": "SX-TY-YZ"}, **{"Idempotency-Key": key})
    assert other.status_code == 422 and other.json()["errors"][0]["field"] == "Idempotency-Key"

    async def assigned_projected() -> bool:
        n = await pg_pool.fetchval(
            "SELECT count(*) FROM case_events WHERE case_no = $1 AND kind = 'assigned'", case)
        return n >= 1

    await eventually(assigned_projected)
    accepted = await pg_pool.fetchval("SELECT count(*) FROM case_events WHERE case_no = $1 AND kind = 'accepted'", case)
    assert accepted == 1
    stored = await pg_pool.fetchval("SELECT count(*) FROM api_idempotency WHERE key = $1", key)
    assert stored == 1


async def test_work_list_follows_the_case(api: ApiProcess) -> None:
    case = await _register(api)

    async def work(actor: Actor) -> dict[str, Any]:
        async with api.http() as http:
            r = await http.get("/v1/me/work", headers=api.headers(actor))
        assert r.status_code == 200, r.text
        return {i["case_no"]: i for i in r.json()["items"]}

    async def on_dispatcher_list() -> Any:
        return (await work(DISPATCHER)).get(case)

    item = await eventually(on_dispatcher_list)
    assert item["expected"] == ["to_accept"]
    assert case not in await work(CASEWORKER)
    r = await _decide(api, DISPATCHER, case, "accept", {"unit_id": "SX-TY-XD"})
    assert r.status_code == 200

    async def moved_to_caseworker() -> Any:
        return (await work(CASEWORKER)).get(case)

    item = await eventually(moved_to_caseworker)
    assert item["expected"] == ["to_investigate"]
    assert "complete_investigation" in item["allowed_decisions"]
    assert case not in await work(DISPATCHER)
    assert case not in await work(OTHER_CASEWORKER)


async def test_list_is_scoped_and_filtered(api: ApiProcess) -> None:
    case = await _register(api)
    await _decide(api, DISPATCHER, case, "accept", {"unit_id": "SX-TY-XD"})

    async def listed(actor: Actor, **params: Any) -> list[str]:
        async with api.http() as http:
            r = await http.get("/v1/cases", params={"case_no": case, **params}, headers=api.headers(actor))
        assert r.status_code == 200, r.text
        return [i["case_no"] for i in r.json()["items"]]

    async def projected() -> bool:
        return await listed(CASEWORKER, stage="investigation") == [case]

    await eventually(projected)
    assert await listed(SUPERVISOR) == [case]  # SX-TY is above SX-TY-XD
    assert await listed(OTHER_CASEWORKER) == []
    assert await listed(CASEWORKER, stage="acceptance") == []
    async with api.http() as http:
        r = await http.get("/v1/cases", params={"limit": 1, "offset": 0}, headers=api.headers(DISPATCHER))
    page = r.json()
    assert page["limit"] == 1 and len(page["items"]) == 1 and page["total"] >= 1


async def test_caseworker_of_another_unit_gets_404_and_nothing_is_written(
    api: ApiProcess, dev_env: WorkflowEnvironment
) -> None:
    case = await _register(api)
    assert (await _decide(api, DISPATCHER, case, "accept", {"unit_id": "SX-TY-XD"})).status_code == 200
    length = await _history_length(dev_env, case)
    assert (await _read(api, OTHER_CASEWORKER, case)).status_code == 404
    r = await _decide(api, OTHER_CASEWORKER, case, "complete_investigation", {"findings": "查无此事"})
    assert r.status_code == 404 and r.json()["detail"] == f"case {case} not found"
    assert len(await _history(dev_env, case)) == length
    assert await _updates_in_history(dev_env, case) == 1  # the dispatcher's accept only
    assert (await _read(api, CASEWORKER, case)).status_code == 200


async def test_intake_api_key_is_scoped_to_channels_and_jurisdiction(api: ApiProcess, pg_pool: Any) -> None:
    directory = load_bundled_directory()
    key, row = await create_api_key(pg_pool, "12393 desk", ["hotline_12393"], "CN-SX", directory)
    national, _ = await create_api_key(pg_pool, "national platform", ["hotline_12393"], "CN", directory, "NHSA")
    async with api.http() as http:
        ok = registration(channel="hotline_12393")
        r = await http.post("/v1/cases", json=ok, headers={"X-API-Key": key})
        assert r.status_code == 201, r.text
        other_channel = registration(channel="wechat")
        r = await http.post("/v1/cases", json=other_channel, headers={"X-API-Key": key})
        assert r.status_code == 403 and "channel wechat" in r.json()["detail"]
        r = await http.post("/v1/cases", json=registration(channel="hotline_12393"), headers={"X-API-Key": national})
        assert r.status_code == 403 and "CN-SX" in r.json()["detail"]
        # the key reads its own case and is recorded as the intake actor
        r = await http.get(f"/v1/cases/{ok['case_no']}", headers={"X-API-Key": key})
        assert r.status_code == 200
        assert r.json()["summary"]["events"][0]["actor_id"] == f"apikey:{row.key_id}"
        assert (await http.get(f"/v1/cases/{ok['case_no']}", headers={"X-API-Key": national})).status_code == 404
        # a wrong secret and a revoked key are not credentials
        r = await http.get("/v1/me/work", headers={"X-API-Key": key[:-2] + "xx"})
        assert r.status_code == 401
        assert await revoke_api_key(pg_pool, row.key_id)
        r = await http.get(f"/v1/cases/{ok['case_no']}", headers={"X-API-Key": key})
        assert r.status_code == 401 and "revoked" in r.json()["detail"]


async def test_calendar_questions(api: ApiProcess) -> None:
    h = api.headers(INTAKE)
    async with api.http() as http:
        r = await http.get("/v1/calendars/CN-SX/days/2026-02-14", headers=h)  # Saturday, a makeup working day
        assert r.status_code == 200 and r.json()["working_day"] is True
        r = await http.get("/v1/calendars/CN-SX/days/2025-10-01", headers=h)
        assert r.json()["working_day"] is False
        r = await http.get("/v1/calendars/CN-SX/add-working-days", params={"start": "2025-09-26", "days": 4}, headers=h)
        # counted from the day after: 9/28 (Sunday, a makeup day), 9/29, 9/30, then Golden Week until 10/9
        assert r.json()["date"] == "2025-10-09"
        r = await http.get("/v1/calendars/CN-SX/deadline", headers=h, params={
            "clock": "investigation", "started_at": "2025-09-26T10:00:00+08:00"})
        assert r.status_code == 200 and r.json()["working_days"] == 15
        r = await http.get("/v1/calendars/CN-SX/deadline", headers=h, params={
            "clock": "lunch", "started_at": "2025-09-26T10:00:00+08:00"})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "clock"
        r = await http.get("/v1/calendars/CN-SX/days/2026-02-14")
        assert r.status_code == 401


async def test_health_and_docs(api: ApiProcess) -> None:
    async with api.http() as http:
        assert (await http.get("/healthz")).json() == {"status": "ok", "checks": {}}
        ready = (await http.get("/readyz")).json()
        assert ready["checks"] == {"temporal": "ok", "postgres": "ok"}
        assert (await http.get("/docs")).status_code == 200
        doc = (await http.get("/openapi.json")).json()
        assert "/v1/cases/{case_no}/decisions/accept" in doc["paths"]


async def test_old_idempotency_outcomes_expire(pg_pool: Any) -> None:
    from datetime import timedelta

    from api import idempotency

    await pg_pool.execute(
        "INSERT INTO api_idempotency (principal, key, request_hash, status, body, created_at) VALUES "
        "('person:old', 'k-old', 'h', 200, '{}'::jsonb, now() - interval '31 days'), "
        "('person:old', 'k-new', 'h', 200, '{}'::jsonb, now() - interval '1 day')")
    assert await idempotency.expire(pg_pool, timedelta(days=30)) == 1
    keys = await pg_pool.fetch("SELECT key FROM api_idempotency WHERE principal = 'person:old'")
    assert [r["key"] for r in keys] == ["k-new"]
