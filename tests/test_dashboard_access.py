"""Dashboard access rules (OIDC claims / secrets mapping -> unit scope) and the extension decision action."""

from __future__ import annotations

from typing import Any

import pytest

from cases.models import DecideExtensionDecision, Role
from complaints.settings import Settings
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


class _FakeClient:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any]] = []

    async def decide(self, case_no: str, decision: str, payload: Any) -> Any:
        self.calls.append((case_no, decision, payload))

        class _Summary:
            extension_status = "approved"

        return _Summary()


@pytest.mark.asyncio
async def test_extension_decision_is_an_update_with_the_supervisors_identity() -> None:
    d = extension_decision("sup-SX-TY", "SX-TY", True, "complex")
    assert isinstance(d, DecideExtensionDecision)
    assert d.actor.role is Role.supervisor and d.actor.unit_id == "SX-TY" and d.approve
    fake = _FakeClient()
    assert await decide_extension_async(Settings(), "SX2026021200004", d, client=fake) == "approved"
    assert fake.calls == [("SX2026021200004", "decide_extension", d)]


def test_labels_are_bilingual() -> None:
    assert t("on_time_completion") == "限时办结率 / On-time completion"
    assert t("on_time_completion", "en") == "On-time completion"
    assert level_label("red") == "🔴 超期 / Overdue"
