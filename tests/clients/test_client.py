"""`CaseClient`: validation before any call, safe visibility queries, and Temporal errors mapped to domain
errors, against the real dev server (visibility) with a real worker and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest
from helpers.client import decision, new_case_no, registration, running_worker, task_queue
from temporalio.testing import WorkflowEnvironment

from cases.models import AcceptDecision, Actor, Role
from clients.case_client import (
    CaseClient,
    CaseFilters,
    CaseNotFound,
    DecisionRefused,
    InvalidInput,
    build_query,
    decision_name,
)

# ------------------------------------------------------------------------------------ pure: no server


def test_query_builder_uses_allow_listed_names_and_quoted_values() -> None:
    q = build_query({"stage": "investigation", "level": ["red", "yellow"], "unit": "SX-TY-XD", "open_only": True})
    assert q == (
        "WorkflowType = 'ComplaintCase' AND CaseStage = 'investigation' AND SlaLevel IN ('red', 'yellow') "
        "AND HandlingUnit = 'SX-TY-XD' AND ExecutionStatus = 'Running'"
    )
    cst = timezone(timedelta(hours=8))
    q = build_query(CaseFilters(due_after=datetime(2026, 1, 5, 8, 0, tzinfo=cst), due_before=datetime(2026, 2, 1, tzinfo=UTC)))
    assert "DueAt >= '2026-01-05T00:00:00Z'" in q and "DueAt < '2026-02-01T00:00:00Z'" in q
    q = build_query({"task_queue": ["complaints", "complaints-sx"]})
    assert q == "WorkflowType = 'ComplaintCase' AND TaskQueue IN ('complaints', 'complaints-sx')"


@pytest.mark.parametrize(
    "filters, field",
    [
        ({"unit": "SX' OR WorkflowType != 'x"}, "unit"),
        ({"jurisdiction": "CN-SX) OR (1=1"}, "jurisdiction"),
        ({"stage": "nowhere"}, "stage"),
        ({"level": "purple"}, "level"),
        ({"HandlingUnit = 'x' OR 1": "x"}, "HandlingUnit = 'x' OR 1"),
        ({"due_before": datetime(2026, 1, 1)}, "due_before"),
        ({"task_queue": "complaints' OR 1=1"}, "task_queue"),
    ],
)
def test_query_builder_refuses_injection_and_unknown_names(filters: dict, field: str) -> None:
    with pytest.raises(InvalidInput) as e:
        build_query(filters)
    assert e.value.field.split(".")[0] == field  # list filters name the item: stage.0


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda d: d["complainant"].update(id_number=d["complainant"]["id_number"][:-1] + ("0" if d["complainant"]["id_number"][-1] != "0" else "1")), "complainant.id_number"),
        (lambda d: d["complainant"].update(phone="12345"), "complainant.phone"),
        (lambda d: d.update(received_at="2026-13-01T10:00:00+08:00"), "received_at"),
        (lambda d: d.update(received_at="2026-11-01T10:00:00"), "received_at"),
        (lambda d: d.update(received_at=(datetime.now(UTC) + timedelta(days=2)).isoformat()), "received_at"),
        (lambda d: d.update(channel="fax"), "channel"),
        (lambda d: d["matter"].update(locality_unit="SX-NOWHERE"), "matter.locality_unit"),
        (lambda d: d["intake_actor"].update(unit_id="BJ"), "intake_actor.unit_id"),
        (lambda d: d.update(jurisdiction="CN-BJ", case_no="BJ" + d["case_no"][2:]), "jurisdiction"),
        (lambda d: d.pop("matter"), "matter"),
    ],
)
def test_registration_refused_at_the_client_names_the_field(mutate, field: str) -> None:  # noqa: ANN001
    cc = CaseClient.offline()  # validation never touches the client
    data = registration()
    mutate(data)
    with pytest.raises(InvalidInput) as e:
        cc.validate_registration(data)
    assert e.value.field == field, str(e.value)


def test_decision_validation_names_the_field() -> None:
    cc = CaseClient.offline()
    assert decision_name("return-case") == "return_case"
    with pytest.raises(InvalidInput) as e:
        cc.validate_decision("approve-everything", {})
    assert e.value.field == "decision"
    with pytest.raises(InvalidInput) as e:
        cc.validate_decision("reject", {"actor": {"id": "d", "role": "dispatcher", "unit_id": "SX"}, "reason": "x"})
    assert e.value.field in ("reason", "redirect_to")
    with pytest.raises(InvalidInput) as e:
        cc.validate_decision("accept", {"actor": {"id": "d", "role": "janitor", "unit_id": "SX"}})
    assert e.value.field == "actor.role"
    with pytest.raises(InvalidInput) as e:
        cc.validate_decision("assign", decision("assign", unit_id="SX-XX"))
    assert e.value.field == "unit_id"
    with pytest.raises(InvalidInput) as e:
        cc.validate_decision("accept", decision("reject"))
    assert e.value.field == "decision"
    d = cc.validate_decision("accept", {}, actor=Actor(id="d", role=Role.dispatcher, unit_id="SX"))
    assert isinstance(d, AcceptDecision)


# ------------------------------------------------------------------------------------ against dev server


async def test_register_is_idempotent_and_decisions_return_the_summary(dev_env: WorkflowEnvironment, pg_pool) -> None:  # noqa: ANN001
    q = task_queue()
    cc = CaseClient(dev_env.client, task_queue=q)
    reg = registration()
    async with running_worker(dev_env.client, pg_pool, q):
        no = await cc.register(reg)
        assert no == reg["case_no"]
        assert await cc.register(reg) == no  # same number twice: same case
        first = await cc.summary(no)
        assert first.stage.value == "acceptance" and first.case_no == no
        s = await cc.decide(no, "accept", decision("accept"))
        assert s.stage.value == "investigation" and s.handling_unit == "SX-TY-XD"
        # registering again after decisions still returns the one case, unchanged
        assert await cc.register(reg) == no
        assert (await cc.summary(no)).stage.value == "investigation"
        # a model works as well as a mapping; kebab-case names too
        s = await cc.decide(no, "request-extension", decision("request_extension"))
        assert s.extension_status == "requested"


async def test_refusals_and_not_found_are_domain_errors(dev_env: WorkflowEnvironment, pg_pool) -> None:  # noqa: ANN001
    q = task_queue()
    cc = CaseClient(dev_env.client, task_queue=q)
    async with running_worker(dev_env.client, pg_pool, q):
        no = await cc.register(registration())
        await cc.summary(no)  # registered (a decision sent while registering is validated in the handler)
        # wrong role: the workflow's validator refuses, with its message
        with pytest.raises(DecisionRefused) as e:
            await cc.decide(no, "accept", decision("accept", actor={"id": "cw", "role": "caseworker", "unit_id": "SX-TY-XD"}))
        assert "role caseworker may not accept" in e.value.reason
        # wrong stage
        with pytest.raises(DecisionRefused) as e:
            await cc.decide(no, "send_feedback", decision("send_feedback"))
        assert "stage" in e.value.reason
        # nothing of the refused decisions is in the history: the case still takes the right one
        handle = dev_env.client.get_workflow_handle(f"complaint-{no}")
        events = [ev async for ev in handle.fetch_history_events()]
        assert not any(ev.HasField("workflow_execution_update_accepted_event_attributes") for ev in events)
        s = await cc.decide(no, "reject", decision("reject"))
        assert not s.open and s.close_reason.value == "rejected"
        # a closed case refuses further decisions clearly
        with pytest.raises(DecisionRefused) as e:
            await cc.decide(no, "withdraw", decision("withdraw"))
        assert no in e.value.reason
        assert "the case is closed (rejected on " in e.value.reason  # why, in the caseworker's terms
        assert (await cc.summary(no)).close_reason.value == "rejected"
        missing = new_case_no()
        with pytest.raises(CaseNotFound):
            await cc.summary(missing)
        with pytest.raises(CaseNotFound):
            await cc.decide(missing, "accept", decision("accept"))
        with pytest.raises(InvalidInput):
            await cc.summary("not-a-case")


async def test_refused_registration_starts_nothing(dev_env: WorkflowEnvironment) -> None:
    cc = CaseClient(dev_env.client, task_queue=task_queue())
    reg = registration()
    reg["complainant"]["id_number"] = "140105198504123020"  # wrong check digit
    with pytest.raises(InvalidInput) as e:
        await cc.register(reg)
    assert e.value.field == "complainant.id_number" and "check digit" in e.value.message
    assert not await cc.exists(reg["case_no"])
    reg2 = registration()
    reg2["matter"]["locality_unit"] = "SX-ZZ"
    with pytest.raises(InvalidInput):
        await cc.register(reg2)
    assert not await cc.exists(reg2["case_no"])


async def test_list_cases_filters_on_search_attributes(dev_env: WorkflowEnvironment, pg_pool) -> None:  # noqa: ANN001
    q = task_queue()
    cc = CaseClient(dev_env.client, task_queue=q)
    async with running_worker(dev_env.client, pg_pool, q):
        a = await cc.register(registration())
        b = await cc.register(registration(channel="wechat"))
        await cc.decide(a, "accept", decision("accept", unit_id="SX-TY-QX"))
        await cc.summary(b)
        want = {"unit": "SX-TY-QX", "stage": "investigation", "task_queue": q}
        for _ in range(100):  # visibility is eventually consistent
            items = await cc.list_cases(want)
            if [i.case_no for i in items] == [a]:
                break
            await asyncio.sleep(0.1)
        assert [i.case_no for i in items] == [a]
        item = items[0]
        assert item.handling_unit == "SX-TY-QX" and item.stage == "investigation" and item.status == "running"
        assert item.due_at is not None and item.channel == "hotline_12393" and item.kind == "complaint"
        for _ in range(100):
            items = await cc.list_cases({"channel": "wechat", "stage": "acceptance", "open_only": True, "task_queue": q})
            if [i.case_no for i in items] == [b]:
                break
            await asyncio.sleep(0.1)
        assert [i.case_no for i in items] == [b]
        assert await cc.count_cases(want) == 1
