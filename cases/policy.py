"""SLA policy as data: the time limits of each case kind, overridable per jurisdiction.

A case copies its policy into its state when it registers, so a later change of these defaults never changes
the deadlines (or the workflow history) of a running case.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from cases.models import CaseKind


class SlaPolicy(BaseModel):
    """Time limits of one case kind (WD = working days on the handling bureau's calendar)."""

    acceptance_wd: int = Field(default=2, ge=1, description="accept or reject within this many WD of receipt")
    investigation_wd: int = Field(default=15, ge=1, description="from acceptance")
    investigation_max_wd: int = Field(default=30, ge=1, description="total from acceptance once extended")
    feedback_wd: int = Field(default=5, ge=1, description="after the investigation ends")
    return_visit_wd: int = Field(default=3, ge=1, description="after feedback")
    review_window_days: int = Field(default=30, ge=1, description="natural days after feedback is received")
    review_decision_wd: int = Field(default=15, ge=1, description="at the higher bureau, from the request")
    return_window_wd: int = Field(default=5, ge=0, description="a unit may return a misrouted case")
    reporter_notice_wd: int = Field(default=5, ge=1, description="fraud reports: tell a real-name reporter")
    rectification_wd: int = Field(
        default=15, ge=1, description="an institution found at fault rectifies within this many WD of the findings"
    )
    track_rectification: bool = Field(
        default=True,
        description="rectification is its own clock; False only while a case replays a completion decided "
        "before rectification was tracked",
    )
    blue_fraction: float = Field(default=0.2, gt=0, lt=1, description="blue when at most this share remains")
    escalation_wd: int = Field(default=5, ge=1, description="higher bureau alerted this many WD past due")
    red_after_due: bool = Field(
        default=True,
        description="red 超期 only after the due instant (a stage finished at it is on time); False keeps the "
        "earlier rule (red from the due instant on) for cases that registered under it",
    )
    remind_pending_extension: bool = Field(
        default=True,
        description="remind the handling unit's supervisor of a pending extension request once the investigation "
        "clock it would extend is yellow 预警 (False for cases that registered before the reminder existed)",
    )


DEFAULT_POLICIES: dict[CaseKind, SlaPolicy] = {
    CaseKind.complaint: SlaPolicy(),
    CaseKind.consultation: SlaPolicy(),
    CaseKind.fraud_report: SlaPolicy(),
    CaseKind.misconduct: SlaPolicy(),
}

# Jurisdiction overrides: {(jurisdiction, kind): {field: value}}; kind None applies to every kind.
JURISDICTION_OVERRIDES: dict[tuple[str, CaseKind | None], dict[str, Any]] = {}


def policy_for(
    kind: CaseKind,
    jurisdiction: str,
    overrides: dict[tuple[str, CaseKind | None], dict[str, Any]] | None = None,
) -> SlaPolicy:
    """The policy of `kind` in `jurisdiction`: defaults, then the jurisdiction-wide and kind overrides."""
    table = JURISDICTION_OVERRIDES if overrides is None else overrides
    data = DEFAULT_POLICIES[kind].model_dump()
    data.update(table.get((jurisdiction, None), {}))
    data.update(table.get((jurisdiction, kind), {}))
    return SlaPolicy.model_validate(data)
