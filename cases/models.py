"""The case vocabulary: kinds, channels, roles, stages, the registration a case starts from, the decisions
caseworkers send, and the `CaseSummary` the `summary` query returns.

Pure pydantic v2 models, no I/O, no Temporal import. Every validation error names the field it concerns
(pydantic puts the field path in `loc`; the custom messages say what is wrong in words).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from cases.pii import id_number_problem, phone_problem


class CaseKind(StrEnum):
    """What the case is about; each kind has its own policy."""

    complaint = "complaint"
    consultation = "consultation"
    fraud_report = "fraud_report"
    misconduct = "misconduct"


class Channel(StrEnum):
    """Where the case came in; answers go back the same way."""

    hotline_12393 = "hotline_12393"
    national_app = "national_app"
    national_web = "national_web"
    provincial_web = "provincial_web"
    wechat = "wechat"
    service_hall = "service_hall"
    mail = "mail"


class Category(StrEnum):
    """Subject matter used by the dispatch catalogue."""

    reimbursement = "reimbursement"
    designated_institution = "designated_institution"
    pharmacy = "pharmacy"
    fund_fraud = "fund_fraud"
    staff_conduct = "staff_conduct"
    enrolment = "enrolment"
    other = "other"


class Role(StrEnum):
    """Who may act on a case."""

    intake_agent = "intake_agent"
    dispatcher = "dispatcher"
    caseworker = "caseworker"
    supervisor = "supervisor"
    reviewer = "reviewer"


class Stage(StrEnum):
    """Where a case stands."""

    acceptance = "acceptance"
    dispatch = "dispatch"
    investigation = "investigation"
    feedback = "feedback"
    return_visit = "return_visit"
    review_window = "review_window"
    under_review = "under_review"
    archived = "archived"


OPEN_STAGES: frozenset[Stage] = frozenset(s for s in Stage if s is not Stage.archived)


class CloseReason(StrEnum):
    """Why an archived case closed."""

    rejected = "rejected"
    answered_on_spot = "answered_on_spot"
    transferred_12388 = "transferred_12388"
    withdrawn = "withdrawn"
    merged = "merged"
    review_window_lapsed = "review_window_lapsed"
    review_upheld = "review_upheld"
    investigation_declined = "investigation_declined"


class Satisfaction(StrEnum):
    """Outcome of the return visit 回访."""

    satisfied = "satisfied"
    basically_satisfied = "basically_satisfied"
    unsatisfied = "unsatisfied"
    unreachable = "unreachable"


class ReviewOutcome(StrEnum):
    """What the higher bureau decided on a review 复核."""

    uphold = "uphold"
    overturn = "overturn"


SlaLevel = Literal["on_track", "blue", "yellow", "red"]
SLA_ORDER: dict[str, int] = {"on_track": 0, "blue": 1, "yellow": 2, "red": 3}

CASE_NO_RE = re.compile(r"^(?P<prov>[A-Z]{2})(?P<date>\d{8})(?P<seq>\d{5})$")
JURISDICTION_RE = re.compile(r"^CN(-[A-Z]{2}(-[A-Z0-9]{1,4})?)?$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


def case_no_problem(value: str) -> str | None:
    """Why `value` is not a case number like `SX2026112500001` (province, yyyymmdd, 5-digit serial)."""
    m = CASE_NO_RE.match(value)
    if not m:
        return "must look like SX2026112500001: two capital letters, a date yyyymmdd, a 5-digit serial"
    d = m.group("date")
    try:
        date(int(d[:4]), int(d[4:6]), int(d[6:]))
    except ValueError:
        return f"date part {d} is not a real date"
    if m.group("seq") == "00000":
        return "serial part must not be 00000"
    return None


def _check_case_no(value: str) -> str:
    problem = case_no_problem(value)
    if problem:
        raise ValueError(problem)
    return value


CaseNo = Annotated[str, AfterValidator(_check_case_no)]


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("must be timezone-aware (e.g. 2025-09-30T10:00:00+08:00), not a naive datetime")
    return value


AwareDatetime = Annotated[datetime, AfterValidator(_aware)]


class Complainant(BaseModel):
    """The person who complains or reports. Personal data: travels only inside encrypted payloads."""

    model_config = ConfigDict(str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=64)
    id_number: str = Field(description="18-character resident ID number (GB 11643)")
    phone: str
    card_number: str = Field(default="", max_length=32, description="medical-insurance card number")
    address: str | None = Field(default=None, max_length=256)
    real_name: bool = Field(default=True, description="for fraud reports: did the reporter give their name")

    @field_validator("id_number")
    @classmethod
    def _id_number(cls, v: str) -> str:
        problem = id_number_problem(v)
        if problem:
            raise ValueError(f"ID number {problem}")
        return v.upper()

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str) -> str:
        problem = phone_problem(v)
        if problem:
            raise ValueError(f"phone {problem}")
        return v.replace(" ", "")


class Matter(BaseModel):
    """What happened: when, where, which institution, in the complainant's words."""

    occurred_at: AwareDatetime | None = None
    place: str = ""
    institution: str = ""
    locality_unit: str | None = Field(
        default=None,
        description="org unit id (city or county) where it happened; drives the dispatch catalogue",
    )
    description: str = Field(min_length=1, max_length=10_000)


class EvidenceRef(BaseModel):
    """A piece of evidence stored elsewhere, identified by its address and content hash."""

    uri: str = Field(min_length=1, max_length=2048)
    sha256: str

    @field_validator("sha256")
    @classmethod
    def _sha(cls, v: str) -> str:
        v = v.strip().lower()
        if not SHA256_RE.match(v):
            raise ValueError("must be 64 hexadecimal characters (a SHA-256 digest)")
        return v


class MergedComplainant(BaseModel):
    """The complainant of a duplicate merged into a case (并单): answered through the case it was merged into,
    on their own channel. Personal data: travels only inside encrypted payloads."""

    case_no: str
    kind: CaseKind
    channel: Channel
    complainant: Complainant


class Actor(BaseModel):
    """Who sends a decision: a person id, their role and the org unit they act for."""

    id: str = Field(min_length=1, max_length=64)
    role: Role
    unit_id: str = Field(min_length=1, max_length=32)


class ComplaintRegistration(BaseModel):
    """What intake records; the input of the `ComplaintCase` workflow."""

    case_no: CaseNo
    kind: CaseKind = CaseKind.complaint
    channel: Channel
    received_at: AwareDatetime
    jurisdiction: str = Field(description="ISO 3166-2-like code of the bureau's area, e.g. CN-SX")
    category: Category = Category.other
    complainant: Complainant
    matter: Matter
    demand: str = Field(default="", max_length=4000, description="诉求: what the complainant asks for")
    evidence: list[EvidenceRef] = Field(default_factory=list)
    on_the_spot_answer: str | None = Field(
        default=None, description="consultations: the answer given at intake"
    )
    intake_actor: Actor | None = None

    @field_validator("jurisdiction")
    @classmethod
    def _jurisdiction(cls, v: str) -> str:
        if not JURISDICTION_RE.match(v):
            raise ValueError("must be a code like CN-SX (country, province) or CN")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> ComplaintRegistration:
        prov = self.jurisdiction.split("-")[1] if "-" in self.jurisdiction else None
        if prov and self.case_no[:2] != prov:
            raise ValueError(
                f"case_no {self.case_no} must start with the province code {prov} of {self.jurisdiction}"
            )
        if self.kind is CaseKind.consultation and not (self.on_the_spot_answer or "").strip():
            raise ValueError("on_the_spot_answer is required for a consultation (it is answered at intake)")
        if self.kind is not CaseKind.consultation and self.on_the_spot_answer:
            raise ValueError("on_the_spot_answer is only for consultations")
        return self


# ---------------------------------------------------------------- decisions (Workflow Update inputs)


class _Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    actor: Actor


class AcceptDecision(_Decision):
    """受理: open the case (for fraud reports: open an investigation). Optionally assign a unit directly."""

    decision: Literal["accept"] = "accept"
    unit_id: str | None = None
    use_catalogue: bool = Field(default=False, description="assign the dispatch catalogue's default unit")
    note: str = ""


class RejectDecision(_Decision):
    """不予受理: with a reason and the channel the complainant should use instead."""

    decision: Literal["reject"] = "reject"
    reason: str = Field(min_length=2)
    redirect_to: str = Field(min_length=2, description="the right channel / authority, e.g. 12345, court")


class AssignDecision(_Decision):
    """分类转办: give the case to a handling unit; `overrule` re-assigns a returned case to the same unit."""

    decision: Literal["assign"] = "assign"
    unit_id: str
    overrule: bool = False
    note: str = ""


class ReturnCaseDecision(_Decision):
    """退单: the assigned unit sends a misrouted case back, within the return window."""

    decision: Literal["return_case"] = "return_case"
    reason: str = Field(min_length=2)


class RequestExtensionDecision(_Decision):
    """延期申请: the unit asks, before the investigation deadline, for the longer limit."""

    decision: Literal["request_extension"] = "request_extension"
    reason: str = Field(min_length=2)


class DecideExtensionDecision(_Decision):
    """延期审批 by a supervisor of the handling unit."""

    decision: Literal["decide_extension"] = "decide_extension"
    approve: bool
    note: str = ""


class CompleteInvestigationDecision(_Decision):
    """调查完结: findings, legal basis, whether the institution was at fault and must rectify."""

    decision: Literal["complete_investigation"] = "complete_investigation"
    findings: str = Field(min_length=2)
    legal_basis: str = ""
    institution_at_fault: bool = False
    rectification_required: bool = False


class SendFeedbackDecision(_Decision):
    """处理反馈: the result with basis and reasons goes to the complainant through the original channel."""

    decision: Literal["send_feedback"] = "send_feedback"
    message: str = Field(min_length=2)


class RecordReturnVisitDecision(_Decision):
    """回访 by the hotline; an unsatisfied complainant may ask for re-handling 重办."""

    decision: Literal["record_return_visit"] = "record_return_visit"
    outcome: Satisfaction
    request_rehandling: bool = False
    note: str = ""


class RequestReviewDecision(_Decision):
    """复核申请, recorded by intake on the complainant's behalf within the review window."""

    decision: Literal["request_review"] = "request_review"
    reason: str = Field(min_length=2)
    on_behalf_of: CaseNo | None = Field(
        default=None,
        description="the case number of a duplicate merged into this case (并单) whose complainant asks; "
        "empty: this case's own complainant",
    )


class DecideReviewDecision(_Decision):
    """复核决定 by the higher bureau: uphold (archive) or overturn (re-handling at the original unit)."""

    decision: Literal["decide_review"] = "decide_review"
    outcome: ReviewOutcome
    reasons: str = Field(min_length=2)


class RecordReceiptDecision(_Decision):
    """回执: the day a feedback letter reached the complainant (the review window counts from the day after)."""

    decision: Literal["record_receipt"] = "record_receipt"
    received_on: date = Field(description="the date on the postal receipt 回执 (Asia/Shanghai)")
    note: str = Field(default="", max_length=500)


class WithdrawDecision(_Decision):
    """撤回 by the complainant, recorded by intake; any open stage."""

    decision: Literal["withdraw"] = "withdraw"
    reason: str = ""


class MergeIntoDecision(_Decision):
    """并单: this case duplicates the open case `target_case_no`."""

    decision: Literal["merge_into"] = "merge_into"
    target_case_no: CaseNo


Decision = Annotated[
    AcceptDecision
    | RejectDecision
    | AssignDecision
    | ReturnCaseDecision
    | RequestExtensionDecision
    | DecideExtensionDecision
    | CompleteInvestigationDecision
    | SendFeedbackDecision
    | RecordReturnVisitDecision
    | RequestReviewDecision
    | DecideReviewDecision
    | WithdrawDecision
    | MergeIntoDecision
    | RecordReceiptDecision,
    Field(discriminator="decision"),
]

DECISION_MODELS: dict[str, type[BaseModel]] = {
    m.model_fields["decision"].default: m
    for m in (
        AcceptDecision,
        RejectDecision,
        AssignDecision,
        ReturnCaseDecision,
        RequestExtensionDecision,
        DecideExtensionDecision,
        CompleteInvestigationDecision,
        SendFeedbackDecision,
        RecordReturnVisitDecision,
        RequestReviewDecision,
        DecideReviewDecision,
        WithdrawDecision,
        MergeIntoDecision,
        RecordReceiptDecision,
    )
}


# Decisions a case may bring with it when it is taken over from another system (存量迁移). The ones left out
# talk to other workflows (a review child, a merge target) or close the case, so they are sent as decisions.
PRIOR_DECISION_NAMES: tuple[str, ...] = (
    "accept",
    "assign",
    "return_case",
    "request_extension",
    "decide_extension",
    "complete_investigation",
    "send_feedback",
    "record_return_visit",
)


class PriorDecision(BaseModel):
    """One decision taken before the case came to this system, at the instant it was taken."""

    at: AwareDatetime
    decision: Decision


class PriorDecisions(BaseModel):
    """What a case taken over from another system had already been through: its decisions, oldest first.

    The rules check each one at its own instant, exactly as if it had been sent then; the timeline marks them
    with `source`. Notices for them are not sent again (they went out from the system that took them)."""

    source: str = Field(min_length=1, max_length=64, description="where the record comes from, e.g. 旧12393系统")
    decisions: list[PriorDecision] = Field(min_length=1, max_length=200)

    @model_validator(mode="after")
    def _in_order(self) -> PriorDecisions:
        for i, step in enumerate(self.decisions):
            name = step.decision.decision
            if name not in PRIOR_DECISION_NAMES:
                raise ValueError(
                    f"decisions.{i}.decision: {name} cannot be taken over (send it as a decision once the case runs)"
                )
            if i and step.at < self.decisions[i - 1].at:
                raise ValueError(f"decisions.{i}.at: {step.at.isoformat()} is before the decision above it")
        return self


# ---------------------------------------------------------------- state pieces and the summary


class SlaClock(BaseModel):
    """One running (or stopped) deadline of the case, with its precomputed SLA thresholds."""

    clock: str = Field(
        description="acceptance, investigation, feedback, return_visit, review, reporter_notice"
    )
    cycle: int = 1
    unit: str | None = None
    working_days: int
    started_at: datetime
    original_due_at: datetime
    due_at: datetime
    blue_at: datetime | None = None
    yellow_at: datetime | None = None
    escalate_at: datetime | None = None
    extended: bool = False
    stopped_at: datetime | None = None
    level: SlaLevel = "on_track"
    breached: bool = False
    escalated: bool = False
    provisional: bool = False
    external: bool = Field(default=False, description="ticked by another workflow (the review child)")
    red_after_due: bool = Field(
        default=False,
        description="red only after `due_at` (the rule since docs/spec.md §2.10 was settled); False on clocks of "
        "cases that registered before it, which turned red at `due_at` itself",
    )

    @property
    def running(self) -> bool:
        return self.stopped_at is None


class CaseEvent(BaseModel):
    """One entry of the case timeline. No clear personal data in `details`."""

    seq: int
    kind: str
    stage: Stage
    at: datetime
    actor_id: str | None = None
    actor_role: str | None = None
    actor_unit: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class MaskedComplainant(BaseModel):
    """Masked personal data, the only form a summary shows."""

    name: str
    id_number: str
    phone: str
    card_number: str


class InvestigationResult(BaseModel):
    """What the handling unit found."""

    findings: str
    legal_basis: str = ""
    institution_at_fault: bool = False
    rectification_required: bool = False
    completed_at: datetime
    unit: str


class CaseSummary(BaseModel):
    """The `summary` query: state, stage, deadlines, SLA level, timeline. Never clear personal data."""

    case_no: str
    kind: CaseKind
    channel: Channel
    category: Category
    jurisdiction: str
    stage: Stage
    open: bool
    close_reason: CloseReason | None = None
    handling_unit: str | None = None
    handling_unit_name: str | None = None
    received_at: datetime
    accepted_at: datetime | None = None
    closed_at: datetime | None = None
    clocks: list[SlaClock]
    review_window_ends_at: datetime | None = None
    review_window_provisional: bool = Field(
        default=False,
        description="the window's end is presumed: receipt not yet known (a letter not yet recorded, an electronic "
        "notice not yet delivered) or its last day in a year of provisional calendar data",
    )
    feedback_received_on: date | None = Field(
        default=None, description="the day the complainant received the result, when known"
    )
    sla_level: SlaLevel
    next_due_at: datetime | None = None
    any_provisional: bool
    extension_status: str | None = None
    returns: int = 0
    rehandlings: int = 0
    reviews: int = 0
    satisfaction: Satisfaction | None = None
    review_outcome: ReviewOutcome | None = None
    merged_into: str | None = None
    merged_cases: list[str] = Field(
        default_factory=list,
        description="duplicates merged into this case whose complainants it answers (each may ask for review)",
    )
    investigation: InvestigationResult | None = None
    complainant: MaskedComplainant | None = Field(
        default=None, description="masked; absent for confidential fraud reporters"
    )
    confidential_reporter: bool = False
    calendar_version: str = ""
    events: list[CaseEvent]
