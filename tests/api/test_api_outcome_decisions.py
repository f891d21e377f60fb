"""The decisions after the main line through HTTP (a real uvicorn process, the dev server, a worker,
PostgreSQL): feedback's basis and reasons, the rectification on the work list until it is recorded, the
referral to 行政复议 / 行政诉讼, the reward on a verified fraud report (also from the workbench's form, run by
Streamlit's AppTest against the same API), merging during investigation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import pytest_asyncio
from helpers.api import (
    CASEWORKER,
    DATA_DIR,
    DISPATCHER,
    INTAKE,
    ROOT,
    SUPERVISOR,
    ApiProcess,
    api_process,
    eventually,
)
from helpers.client import registration, running_worker, task_queue
from streamlit.testing.v1 import AppTest
from temporalio.testing import WorkflowEnvironment

from cases.models import Actor, Role

pytestmark = pytest.mark.devserver
CST = timezone(timedelta(hours=8))
FEEDBACK = {"message": "已补办备案并退还差额", "basis": "《山西省门诊慢特病管理办法》第十二条", "reasons": "医院未及时备案，应予纠正"}
AT_FAULT = {"findings": "医院未及时办理慢特病备案", "legal_basis": "《山西省门诊慢特病管理办法》",
            "institution_at_fault": True, "rectification_required": True}


@pytest_asyncio.fixture(scope="module")
async def api(dev_env: WorkflowEnvironment, pg_dsn: str, pg_pool: Any) -> AsyncIterator[ApiProcess]:
    q = task_queue()
    async with running_worker(dev_env.client, pg_pool, q), api_process(dev_env, pg_dsn, q) as proc:
        yield proc


async def _register(api: ApiProcess, **over: Any) -> str:
    reg = registration(**over)
    async with api.http() as http:
        r = await http.post("/v1/cases", json=reg, headers=api.headers(INTAKE))
    assert r.status_code == 201, r.text
    return str(reg["case_no"])


async def _decide(api: ApiProcess, actor: Actor, case_no: str, name: str, body: dict[str, Any]) -> Any:
    async with api.http() as http:
        return await http.post(f"/v1/cases/{case_no}/decisions/{name}", json=body, headers=api.headers(actor))


async def _ok(api: ApiProcess, actor: Actor, case_no: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
    r = await _decide(api, actor, case_no, name, body)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def _investigating(api: ApiProcess, **over: Any) -> str:
    case = await _register(api, **over)
    await _ok(api, DISPATCHER, case, "accept", {"unit_id": "SX-TY-XD"})
    return case


async def _work(api: ApiProcess, actor: Actor) -> dict[str, list[str]]:
    async with api.http() as http:
        r = await http.get("/v1/me/work", headers=api.headers(actor))
    assert r.status_code == 200, r.text
    return {i["case_no"]: i["expected"] for i in r.json()["items"]}


async def test_feedback_without_basis_or_reasons_is_422_naming_the_field(api: ApiProcess) -> None:
    case = await _investigating(api)
    await _ok(api, CASEWORKER, case, "complete_investigation", AT_FAULT)
    r = await _decide(api, CASEWORKER, case, "send_feedback", {"message": "已处理"})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert {e["field"] for e in r.json()["errors"]} == {"basis", "reasons"}
    r = await _decide(api, CASEWORKER, case, "send_feedback", {**FEEDBACK, "reasons": "  "})
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["reasons"]
    view = await _ok(api, CASEWORKER, case, "send_feedback", FEEDBACK)
    sent = next(e for e in view["summary"]["events"] if e["kind"] == "feedback_sent")
    assert sent["details"]["basis"] == FEEDBACK["basis"] and sent["details"]["reasons"] == FEEDBACK["reasons"]


async def test_a_rectification_is_on_the_work_list_until_recorded(api: ApiProcess) -> None:
    case = await _investigating(api)
    view = await _ok(api, CASEWORKER, case, "complete_investigation", AT_FAULT)
    rect = next(c for c in view["summary"]["clocks"] if c["clock"] == "rectification")
    assert rect["working_days"] == 15 and rect["stopped_at"] is None and rect["unit"] == "SX-TY-XD"
    assert "complete_rectification" in view["allowed_decisions"]
    await _ok(api, CASEWORKER, case, "send_feedback", FEEDBACK)
    work = await eventually(lambda: _work_has(api, case, "rectification_due"))
    assert work[case] == ["rectification_due"]
    view = await _ok(api, CASEWORKER, case, "complete_rectification", {"result": "医院已完成备案流程整改"})
    assert view["summary"]["rectification_completed_at"] is not None
    assert "complete_rectification" not in view["allowed_decisions"]
    r = await _decide(api, CASEWORKER, case, "complete_rectification", {"result": "再次登记"})
    assert r.status_code == 409 and "no rectification is pending" in r.json()["detail"]


async def _work_has(api: ApiProcess, case: str, group: str) -> dict[str, list[str]] | None:
    work = await _work(api, CASEWORKER)
    return work if group in work.get(case, []) else None


async def test_a_referral_is_recorded_and_closes_the_case(api: ApiProcess) -> None:
    case = await _investigating(api)
    today = datetime.now(CST).date()
    body = {"remedy": "reconsideration", "authority": "太原市人民政府", "reference_no": "并政复〔2026〕158号",
            "filed_on": today.isoformat()}
    r = await _decide(api, DISPATCHER, case, "record_administrative_remedy", {**body, "filed_on": "2026-13-01"})
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["filed_on"]
    r = await _decide(api, DISPATCHER, case, "record_administrative_remedy", {**body, "remedy": "appeal"})
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["remedy"]
    tomorrow = (today + timedelta(days=1)).isoformat()
    r = await _decide(api, DISPATCHER, case, "record_administrative_remedy", {**body, "filed_on": tomorrow})
    assert r.status_code == 409 and f"filed_on {tomorrow} is after today" in r.json()["detail"]
    r = await _decide(api, INTAKE, case, "record_administrative_remedy", body)
    assert r.status_code == 409 and "role intake_agent may not record_administrative_remedy" in r.json()["detail"]
    view = await _ok(api, DISPATCHER, case, "record_administrative_remedy", body)
    summary = view["summary"]
    assert summary["close_reason"] == "administrative_remedy" and not summary["open"]
    assert summary["administrative_remedy"] == {
        **body, "recorded_at": summary["administrative_remedy"]["recorded_at"]
    }
    assert view["allowed_decisions"] == []


async def test_a_verified_fraud_report_gets_its_reward_decision(api: ApiProcess) -> None:
    case = await _investigating(api, kind="fraud_report", category="fund_fraud")
    await _ok(api, CASEWORKER, case, "complete_investigation", {**AT_FAULT, "rectification_required": False})
    assert "reward_decision" in (await eventually(lambda: _supervisor_work(api, case)))[case]
    r = await _decide(api, SUPERVISOR, case, "decide_reward", {"granted": True, "reasons": "查实"})
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["amount_band"]
    view = await _ok(api, SUPERVISOR, case, "decide_reward",
                     {"granted": True, "amount_band": "1000-9999", "reasons": "举报属实，追回基金12万元"})
    assert view["summary"]["reward"]["granted"] and view["summary"]["reward"]["amount_band"] == "1000-9999"
    assert view["summary"]["complainant"] is None
    r = await _decide(api, SUPERVISOR, case, "decide_reward", {"granted": False, "reasons": "重复"})
    assert r.status_code == 409 and "already decided" in r.json()["detail"]


async def _supervisor_work(api: ApiProcess, case: str) -> dict[str, list[str]] | None:
    work = await _work(api, SUPERVISOR)
    return work if case in work else None


async def test_the_handling_unit_merges_a_duplicate_it_is_investigating(api: ApiProcess) -> None:
    target = await _investigating(api)
    elsewhere = await _register(api)
    await _ok(api, DISPATCHER, elsewhere, "accept", {"unit_id": "SX-TY-YZ"})
    dup = await _investigating(api)
    r = await _decide(api, CASEWORKER, dup, "merge_into", {"target_case_no": elsewhere})
    assert r.status_code == 409
    assert f"unit SX-TY-XD is not the handling unit of target case {elsewhere} (SX-TY-YZ)" in r.json()["detail"]
    view = await _ok(api, CASEWORKER, dup, "merge_into", {"target_case_no": target})
    assert view["summary"]["close_reason"] == "merged" and view["summary"]["merged_into"] == target
    other_unit = Actor(id="cw-yz-1", role=Role.caseworker, unit_id="SX-TY-YZ")
    r = await _decide(api, other_unit, elsewhere, "merge_into", {"target_case_no": target})
    assert r.status_code == 409 and f"not the handling unit of target case {target}" in r.json()["detail"]


def _reward_from_the_workbench(case: str) -> AppTest:
    """The supervisor opens the case in the workbench and fills in the reward form: the amount band is a choice
    with an empty entry (optional), `granted` a checkbox."""
    at = AppTest.from_file(str(ROOT / "dashboard" / "workbench.py"), default_timeout=60)
    at.run()
    at.sidebar.selectbox(key="user").set_value(SUPERVISOR.id)
    at.session_state["case"] = case
    at.run()
    assert not at.exception, at.exception
    band = at.selectbox(key=f"{case}-decide_reward-amount_band")
    assert band.options[0] == "" and "1000-9999" in band.options
    at.checkbox(key=f"{case}-decide_reward-granted").check()
    band.set_value("1000-9999")
    at.text_input(key=f"{case}-decide_reward-reasons").input("举报属实，追回基金12万元")
    next(b for b in at.button if "举报奖励决定" in b.label).click()
    at.run()
    assert not at.exception, at.exception
    return at


async def test_the_workbench_sends_the_reward_form(api: ApiProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    case = await _investigating(api, kind="fraud_report", category="fund_fraud")
    await _ok(api, CASEWORKER, case, "complete_investigation", {**AT_FAULT, "rectification_required": False})
    for name, value in {**api.env, "COMPLAINTS_MODE": "embedded", "COMPLAINTS_DATA_DIR": str(DATA_DIR),
                        "COMPLAINTS_WORKBENCH_API_URL": api.base_url}.items():
        monkeypatch.setenv(name, value)
    at = await asyncio.to_thread(_reward_from_the_workbench, case)
    assert [e.value for e in at.error] == []
    async with api.http() as http:
        r = await http.get(f"/v1/cases/{case}", headers=api.headers(SUPERVISOR))
    reward = r.json()["summary"]["reward"]
    assert reward["granted"] and reward["amount_band"] == "1000-9999" and reward["unit"] == "SX-TY"
