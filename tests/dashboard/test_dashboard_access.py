"""Dashboard access rules (OIDC claims / secrets mapping -> unit scope) and the extension decision action."""

from __future__ import annotations

from typing import Any

import pytest
from helpers.client import decision, registration, running_worker, task_queue
from temporalio.testing import WorkflowEnvironment

from cases.models import DecideExtensionDecision, Role
from clients.case_client import CaseClient, CaseClientError
from common.settings import Settings
from dashboard.access import embedded_access, resolve_access
from dashboard.actions import decide_extension_async, extension_decision
from dashboard.i18n import level_label, t


def test_embedded_sees_everything() -> None:
    a = embedded_access()
    assert a.root_unit is None and a.may_decide and a.embedded


def test_unit_from_claim_or_mapping() -> None:
    a = resolve_access({"email": "wang@ty.gov", "unit_id": "SX-TY", "role": "supervisor"})
    assert a is not None and a.root_unit == "SX-TY" and a.may_decide
    cfg = {"user_units": {"li@dt.gov": "SX-DT"}, "supervisors": {}}
    b = resolve_access({"email": "li@dt.gov"}, cfg)
    assert b is not None and b.root_unit == "SX-DT" and not b.may_decide
    assert resolve_access({"email": "nobody@x.gov"}, cfg) is None  # no unit: no access
    assert resolve_access({}, cfg) is None
    c = resolve_access({"sub": "u1", "org": "SX-TY-XD", "roles": ["viewer", "supervisor"]},
                       {"unit_claim": "org", "role_claim": "roles"})
    assert c is not None and c.root_unit == "SX-TY-XD" and c.may_decide


async def test_extension_decision_from_the_dashboard_reaches_the_real_case(
    dev_env: WorkflowEnvironment, pg_pool: Any
) -> None:
    """The dashboard's approve button: an Update with the supervisor's identity, validated by the workflow."""
    d = extension_decision("sup-SX-TY", "SX-TY", True, "案情复杂，同意延期")
    assert isinstance(d, DecideExtensionDecision)
    assert d.actor.role is Role.supervisor and d.actor.unit_id == "SX-TY" and d.approve
    q = task_queue()
    cc = CaseClient(dev_env.client, task_queue=q)
    async with running_worker(dev_env.client, pg_pool, q):
        no = await cc.register(registration())
        await cc.decide(no, "accept", decision("accept"))
        await cc.decide(no, "request_extension", decision("request_extension"))
        # a supervisor outside the handling unit's chain is refused by the workflow's validator
        outsider = extension_decision("sup-SX-DT", "SX-DT", True)
        with pytest.raises(CaseClientError):
            await decide_extension_async(Settings(), no, outsider, client=cc)
        assert await decide_extension_async(Settings(), no, d, client=cc) == "approved"
        summary = await cc.summary(no)
        investigation = next(c for c in summary.clocks if c.clock == "investigation")
        assert investigation.extended and investigation.due_at > investigation.original_due_at


def test_labels_are_bilingual() -> None:
    assert t("on_time_completion") == "限时办结率 / On-time completion"
    assert t("on_time_completion", "en") == "On-time completion"
    assert level_label("red") == "🔴 超期 / Overdue"
