"""The case state machine: `register`, `apply` (one decision), `tick` (time passing), `recompute_deadlines`
(a new calendar) and `summarize`.

Every function is pure: it takes the state (never mutated), the decision, the actor, the instant and the
working-day calendar, and returns the new state plus the timeline events it produced. A decision that does
not fit the case raises `DecisionRefused` with a message saying why (stage, role, unit, deadline, ...).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field

from cases import sla
from cases.errors import DecisionRefused, UnknownUnit
from cases.models import (
    OPEN_STAGES,
    AcceptDecision,
    Actor,
    AssignDecision,
    CaseEvent,
    CaseKind,
    CaseSummary,
    CloseReason,
    ComplaintRegistration,
    CompleteInvestigationDecision,
    DecideExtensionDecision,
    DecideReviewDecision,
    InvestigationResult,
    MaskedComplainant,
    MergedComplainant,
    MergeIntoDecision,
    PriorDecisions,
    RecordReceiptDecision,
    RecordReturnVisitDecision,
    RejectDecision,
    RequestExtensionDecision,
    RequestReviewDecision,
    ReturnCaseDecision,
    ReviewOutcome,
    Role,
    Satisfaction,
    SendFeedbackDecision,
    SlaClock,
    Stage,
    WithdrawDecision,
)
from cases.org import OrgDirectory, default_unit, higher_bureau, may_dispatch, supervisor_chain
from cases.pii import mask_card_number, mask_id_number, mask_name, mask_phone
from cases.policy import SlaPolicy
from cases.sla import CalendarLike

ExtensionStatus = Literal["requested", "approved", "refused"]
_EPS = timedelta(microseconds=1)


class CaseState(BaseModel):
    """Everything the workflow holds about one case. Contains personal data (the registration): it lives
    only in workflow memory and encrypted payloads; `summarize` is the only outward view."""

    registration: ComplaintRegistration
    policy: SlaPolicy
    directory: OrgDirectory
    calendar_version: str = ""
    stage: Stage = Stage.acceptance
    close_reason: CloseReason | None = None
    handling_unit: str | None = None
    assigned_at: datetime | None = None
    assigned_by_overrule: bool = False
    returned_by: list[str] = Field(default_factory=list)
    accepted_at: datetime | None = None
    closed_at: datetime | None = None
    extension_status: ExtensionStatus | None = None
    extension_reason: str | None = None
    investigation: InvestigationResult | None = None
    feedback_sent_at: datetime | None = None
    feedback_seq: int | None = Field(default=None, description="timeline seq of the latest `feedback_sent`")
    feedback_delivered_at: datetime | None = Field(default=None, description="the outbox delivered it (electronic)")
    feedback_receipt_recorded_on: date | None = Field(default=None, description="a letter's recorded receipt")
    review_window_ends_at: datetime | None = None
    review_window_provisional: bool = False
    satisfaction: Satisfaction | None = None
    rehandlings: int = 0
    reviews: int = 0
    review_unit: str | None = None
    review_requested_at: datetime | None = None
    review_outcome: ReviewOutcome | None = None
    merged_into: str | None = None
    merged_complainants: list[MergedComplainant] = Field(
        default_factory=list, description="duplicates merged into this case whose complainants it answers"
    )
    clocks: list[SlaClock] = Field(default_factory=list)
    events: list[CaseEvent] = Field(default_factory=list)

    @property
    def case_no(self) -> str:
        return self.registration.case_no

    @property
    def is_open(self) -> bool:
        return self.stage in OPEN_STAGES

    @property
    def feedback_by_letter(self) -> bool:
        """The result goes back by post: its receipt is recorded by a caseworker, not by the outbox."""
        return "letter" in self.reply_channels

    @property
    def reply_channels(self) -> list[str]:
        """How the complainant is answered: the policy's channels for the channel the case came in by."""
        return [str(c) for c in self.policy.reply_channels[self.registration.channel]]

    @property
    def confidential_reporter(self) -> bool:
        """Fraud reporters are always confidential towards units and the read model."""
        return self.registration.kind is CaseKind.fraud_report

    def running(self, name: str) -> SlaClock | None:
        """The running clock called `name`, if any."""
        for c in self.clocks:
            if c.clock == name and c.running:
                return c
        return None


# ------------------------------------------------------------------------------------------ helpers


class _Tx:
    """A working copy of the state plus the events appended while applying one step."""

    def __init__(self, state: CaseState, now: datetime, actor: Actor | None = None) -> None:
        # The case's inputs (registration, policy, org directory) are never changed by a step, only replaced:
        # the copy shares them. Copying the directory was most of the cost of a decision.
        shared = (state.registration, state.policy, state.directory)
        self.s = copy.deepcopy(state, {id(part): part for part in shared})
        self.now = now
        self.actor = actor
        self.events: list[CaseEvent] = []

    def event(self, event_kind: str, /, **details: Any) -> CaseEvent:
        ev = CaseEvent(
            seq=len(self.s.events) + 1,
            kind=event_kind,
            stage=self.s.stage,
            at=self.now,
            actor_id=self.actor.id if self.actor else None,
            actor_role=self.actor.role.value if self.actor else None,
            actor_unit=self.actor.unit_id if self.actor else None,
            details={k: v for k, v in details.items() if v is not None},
        )
        self.s.events.append(ev)
        self.events.append(ev)
        return ev

    def stop(self, name: str) -> SlaClock | None:
        for i, c in enumerate(self.s.clocks):
            if c.clock == name and c.running:
                level = sla.level_at(c, self.now)
                self.s.clocks[i] = c.model_copy(
                    update={
                        "stopped_at": self.now,
                        "level": level,
                        "breached": c.breached or sla.is_late(c, self.now),
                    }
                )
                return self.s.clocks[i]
        return None

    def stop_all(self) -> None:
        for c in list(self.s.clocks):
            if c.running:
                self.stop(c.clock)

    def start(self, name: str, cal: CalendarLike, wd: int, unit: str | None) -> SlaClock:
        cycle = 1 + sum(1 for c in self.s.clocks if c.clock == name)
        p = self.s.policy
        clock = sla.make_clock(
            name,
            cal,
            self.now,
            wd,
            blue_fraction=p.blue_fraction,
            escalation_wd=p.escalation_wd,
            unit=unit,
            cycle=cycle,
            red_after_due=p.red_after_due,
        )
        self.s.clocks.append(clock)
        return clock

    def replace(self, clock: SlaClock) -> None:
        for i, c in enumerate(self.s.clocks):
            if c.clock == clock.clock and c.cycle == clock.cycle:
                self.s.clocks[i] = clock
                return
        self.s.clocks.append(clock)

    def archive(self, reason: CloseReason, **details: Any) -> None:
        self.stop_all()
        self.s.stage = Stage.archived
        self.s.close_reason = reason
        self.s.closed_at = self.now
        self.event("archived", close_reason=reason.value, **details)

    def done(self) -> tuple[CaseState, list[CaseEvent]]:
        return self.s, self.events


def _name(decision: BaseModel) -> str:
    return str(getattr(decision, "decision", type(decision).__name__))


def _refuse(state: CaseState, decision: str, why: str) -> DecisionRefused:
    return DecisionRefused(f"{decision} refused for case {state.case_no}: {why}")


def _need_stage(state: CaseState, decision: str, *stages: Stage) -> None:
    if state.stage not in stages:
        allowed = ", ".join(s.value for s in stages)
        raise _refuse(
            state,
            decision,
            f"the case is in stage {state.stage.value}; {decision} is allowed only in stage {allowed}",
        )


def _need_role(state: CaseState, decision: str, actor: Actor, *roles: Role) -> None:
    if actor.role not in roles:
        allowed = " or ".join(r.value for r in roles)
        raise _refuse(state, decision, f"role {actor.role.value} may not {decision}; only {allowed} may")


def _need_dispatch_unit(state: CaseState, decision: str, actor: Actor) -> None:
    if not may_dispatch(state.directory, actor.unit_id, state.registration.jurisdiction):
        raise _refuse(
            state,
            decision,
            f"unit {actor.unit_id} is neither the provincial centre {state.directory.provincial_centre} nor a bureau "
            f"of jurisdiction {state.registration.jurisdiction}",
        )


def _need_handling_unit(state: CaseState, decision: str, actor: Actor) -> None:
    if state.handling_unit is None:
        raise _refuse(state, decision, "the case has no handling unit")
    if actor.unit_id != state.handling_unit:
        raise _refuse(
            state,
            decision,
            f"unit {actor.unit_id} is not the handling unit {state.handling_unit} of this case",
        )


def _need_known_unit(state: CaseState, decision: str, unit_id: str) -> None:
    if not state.directory.has(unit_id):
        raise _refuse(state, decision, f"unit {unit_id} is not in the organisation directory")
    u = state.directory.unit(unit_id)
    if u.jurisdiction != state.registration.jurisdiction:
        raise _refuse(
            state,
            decision,
            f"unit {unit_id} belongs to {u.jurisdiction}, not {state.registration.jurisdiction}",
        )


def _fmt(dt: datetime | None) -> str | None:
    return dt.astimezone(sla.CST).isoformat() if dt else None


# --------------------------------------------------------------------------------------- registration


def register(
    reg: ComplaintRegistration,
    directory: OrgDirectory,
    policy: SlaPolicy,
    now: datetime,
    cal: CalendarLike,
) -> tuple[CaseState, list[CaseEvent]]:
    """A new case from its registration: the acceptance clock runs from receipt; a consultation answered on
    the spot closes at once."""
    state = CaseState(registration=reg, policy=policy, directory=directory, calendar_version=cal.version)
    tx = _Tx(state, now, reg.intake_actor)
    clock = sla.make_clock(
        "acceptance",
        cal,
        reg.received_at,
        policy.acceptance_wd,
        blue_fraction=policy.blue_fraction,
        escalation_wd=policy.escalation_wd,
        unit=directory.provincial_centre,
    )
    tx.s.clocks.append(clock)
    tx.event(
        "registered",
        case_kind=reg.kind.value,
        channel=reg.channel.value,
        category=reg.category.value,
        received_at=_fmt(reg.received_at),
        acceptance_due_at=_fmt(clock.due_at),
        evidence=len(reg.evidence),
    )
    if reg.kind is CaseKind.consultation:
        tx.stop("acceptance")
        tx.event("answered_on_spot")
        tx.archive(CloseReason.answered_on_spot)
    return tx.done()


# ------------------------------------------------------------------------------------------ decisions


def _may_accept(s: CaseState, actor: Actor, now: datetime, cal: CalendarLike) -> None:
    _need_stage(s, "accept", Stage.acceptance)
    _need_role(s, "accept", actor, Role.dispatcher)
    _need_dispatch_unit(s, "accept", actor)


def _accept(tx: _Tx, d: AcceptDecision, actor: Actor, cal: CalendarLike) -> None:
    s = tx.s
    unit = d.unit_id
    if unit is None and d.use_catalogue:
        unit = default_unit(s.directory, s.registration.category.value, s.registration.matter.locality_unit)
        if unit is None:
            raise _refuse(
                s,
                "accept",
                f"the dispatch catalogue has no unit for category {s.registration.category.value}",
            )
    if unit is not None:
        _need_known_unit(s, "accept", unit)
    tx.stop("acceptance")
    s.accepted_at = tx.now
    kind = s.registration.kind
    if kind is CaseKind.misconduct:
        tx.event("accepted", note=d.note or None)
        tx.event("transferred_12388", to="12388 discipline inspection")
        tx.archive(CloseReason.transferred_12388)
        return
    s.stage = Stage.dispatch
    tx.event("accepted", note=d.note or None)
    if kind is CaseKind.fraud_report:
        tx.event("investigation_opened")
        if s.registration.complainant.real_name:
            tx.start("reporter_notice", cal, s.policy.reporter_notice_wd, s.directory.provincial_centre)
            tx.stop("reporter_notice")
            tx.event("reporter_notified")
    tx.start("investigation", cal, s.policy.investigation_wd, unit)
    if unit is not None:
        _assign(tx, unit, overrule=False, note=None)


def _assign(tx: _Tx, unit: str, *, overrule: bool, note: str | None) -> None:
    s = tx.s
    s.handling_unit = unit
    s.assigned_at = tx.now
    s.assigned_by_overrule = overrule
    s.stage = Stage.investigation
    clock = s.running("investigation")
    if clock is not None:
        tx.replace(clock.model_copy(update={"unit": unit}))
    tx.event("assigned", unit=unit, overrule=overrule or None, note=note or None)


def _may_reject(s: CaseState, actor: Actor, now: datetime, cal: CalendarLike) -> None:
    _need_stage(s, "reject", Stage.acceptance)
    _need_role(s, "reject", actor, Role.dispatcher)
    _need_dispatch_unit(s, "reject", actor)


def _reject(tx: _Tx, d: RejectDecision, actor: Actor, cal: CalendarLike) -> None:
    tx.event("rejected", reason=d.reason, redirect_to=d.redirect_to)
    tx.archive(CloseReason.rejected)


def _may_assign(s: CaseState, actor: Actor, now: datetime, cal: CalendarLike) -> None:
    _need_stage(s, "assign", Stage.dispatch)
    _need_role(s, "assign", actor, Role.dispatcher)
    _need_dispatch_unit(s, "assign", actor)


def _assign_decision(tx: _Tx, d: AssignDecision, actor: Actor, cal: CalendarLike) -> None:
    s = tx.s
    _need_known_unit(s, "assign", d.unit_id)
    if d.unit_id in s.returned_by and not d.overrule:
        raise _refuse(
            s,
            "assign",
            f"unit {d.unit_id} returned this case; assign another unit or overrule the return (overrule=true)",
        )
    if d.overrule and d.unit_id not in s.returned_by:
        raise _refuse(
            s, "assign", f"overrule applies only to a unit that returned the case; {d.unit_id} did not"
        )
    _assign(tx, d.unit_id, overrule=d.overrule, note=d.note)


def _may_return(s: CaseState, actor: Actor, now: datetime, cal: CalendarLike) -> None:
    _need_stage(s, "return_case", Stage.investigation)
    _need_role(s, "return_case", actor, Role.caseworker)
    _need_handling_unit(s, "return_case", actor)
    if s.assigned_by_overrule:
        raise _refuse(
            s,
            "return_case",
            f"unit {s.handling_unit} was assigned by overrule and cannot return the case again",
        )
    assert s.assigned_at is not None
    limit = cal.end_of_day(cal.add_working_days(sla.local_date(s.assigned_at), s.policy.return_window_wd))
    if now > limit:
        raise _refuse(
            s,
            "return_case",
            f"the return window of {s.policy.return_window_wd} working days after assignment ended at {_fmt(limit)}",
        )


def _return(tx: _Tx, d: ReturnCaseDecision, actor: Actor, cal: CalendarLike) -> None:
    s = tx.s
    unit = s.handling_unit
    assert unit is not None
    s.returned_by.append(unit)
    s.handling_unit = None
    s.assigned_at = None
    s.stage = Stage.dispatch
    clock = s.running("investigation")
    if clock is not None:
        tx.replace(clock.model_copy(update={"unit": None}))
    tx.event("returned", unit=unit, reason=d.reason)


def _may_request_extension(s: CaseState, actor: Actor, now: datetime, cal: CalendarLike) -> None:
    _need_stage(s, "request_extension", Stage.investigation)
    _need_role(s, "request_extension", actor, Role.caseworker)
    _need_handling_unit(s, "request_extension", actor)
    clock = s.running("investigation")
    assert clock is not None
    if s.extension_status is not None:
        raise _refuse(
            s, "request_extension", f"an extension was already {s.extension_status} in this investigation"
        )
    if sla.is_late(clock, now):
        raise _refuse(
            s,
            "request_extension",
            f"the investigation deadline {_fmt(clock.due_at)} has passed; ask before it",
        )
    if clock.working_days >= s.policy.investigation_max_wd:
        raise _refuse(s, "request_extension", f"the limit is already {clock.working_days} working days")


def _request_extension(tx: _Tx, d: RequestExtensionDecision, actor: Actor, cal: CalendarLike) -> None:
    s = tx.s
    clock = s.running("investigation")
    assert clock is not None
    s.extension_status = "requested"
    s.extension_reason = d.reason
    tx.event("extension_requested", reason=d.reason, current_due_at=_fmt(clock.due_at))


def _may_decide_extension(s: CaseState, actor: Actor, now: datetime, cal: CalendarLike) -> None:
    _need_stage(s, "decide_extension", Stage.investigation)
    _need_role(s, "decide_extension", actor, Role.supervisor)
    if s.handling_unit is None or actor.unit_id not in supervisor_chain(s.directory, s.handling_unit):
        raise _refuse(
            s,
            "decide_extension",
            f"unit {actor.unit_id} is not in the supervisor chain of the handling unit {s.handling_unit}",
        )
    if s.extension_status != "requested":
        raise _refuse(s, "decide_extension", "no extension request is pending")


def _decide_extension(tx: _Tx, d: DecideExtensionDecision, actor: Actor, cal: CalendarLike) -> None:
    s = tx.s
    clock = s.running("investigation")
    assert clock is not None
    if not d.approve:
        s.extension_status = "refused"
        tx.event("extension_refused", note=d.note or None)
        return
    p = s.policy
    new = sla.retarget(
        clock,
        cal,
        p.investigation_max_wd,
        blue_fraction=p.blue_fraction,
        escalation_wd=p.escalation_wd,
        extended=True,
    )
    new = new.model_copy(update={"level": sla.level_at(new, tx.now)})
    tx.replace(new)
    s.extension_status = "approved"
    tx.event(
        "extension_approved",
        note=d.note or None,
        previous_due_at=_fmt(clock.due_at),
        due_at=_fmt(new.due_at),
        working_days=p.investigation_max_wd,
    )


def _may_complete(s: CaseState, actor: Actor, now: datetime, cal: CalendarLike) -> None:
    _need_stage(s, "complete_investigation", Stage.investigation)
    _need_role(s, "complete_investigation", actor, Role.caseworker)
    _need_handling_unit(s, "complete_investigation", actor)


def _complete(tx: _Tx, d: CompleteInvestigationDecision, actor: Actor, cal: CalendarLike) -> None:
    s = tx.s
    if d.rectification_required and not d.institution_at_fault:
        raise _refuse(s, "complete_investigation", "rectification_required needs institution_at_fault=true")
    tx.stop("investigation")
    assert s.handling_unit is not None
    s.investigation = InvestigationResult(
        findings=d.findings,
        legal_basis=d.legal_basis,
        institution_at_fault=d.institution_at_fault,
        rectification_required=d.rectification_required,
        completed_at=tx.now,
        unit=s.handling_unit,
    )
    s.stage = Stage.feedback
    clock = tx.start("feedback", cal, s.policy.feedback_wd, s.handling_unit)
    tx.event(
        "investigation_completed",
        institution_at_fault=d.institution_at_fault,
        rectification_required=d.rectification_required,
        feedback_due_at=_fmt(clock.due_at),
    )


def _may_send_feedback(s: CaseState, actor: Actor, now: datetime, cal: CalendarLike) -> None:
    _need_stage(s, "send_feedback", Stage.feedback)
    _need_role(s, "send_feedback", actor, Role.caseworker)
    _need_handling_unit(s, "send_feedback", actor)


def _send_feedback(tx: _Tx, d: SendFeedbackDecision, actor: Actor, cal: CalendarLike) -> None:
    s = tx.s
    tx.stop("feedback")
    s.feedback_sent_at = tx.now
    s.feedback_delivered_at = None
    s.feedback_receipt_recorded_on = None
    _set_review_window(s, cal)
    s.stage = Stage.return_visit
    tx.start("return_visit", cal, s.policy.return_visit_wd, s.directory.provincial_centre)
    ev = tx.event(
        "feedback_sent",
        review_window_ends_at=_fmt(s.review_window_ends_at),
        review_window_provisional=s.review_window_provisional or None,
    )
    s.feedback_seq = ev.seq


def feedback_received_on(state: CaseState) -> tuple[date, bool] | None:
    """The day the complainant received the latest result and whether that day is only presumed: the recorded
    receipt of a letter, the outbox's delivery of an electronic notice; until then, for a letter the sending
    day plus the postal allowance, for an electronic notice the sending day (both provisional)."""
    if state.feedback_sent_at is None:
        return None
    if state.feedback_receipt_recorded_on is not None:
        return state.feedback_receipt_recorded_on, False
    if state.feedback_delivered_at is not None:
        return sla.local_date(state.feedback_delivered_at), False
    sent = sla.local_date(state.feedback_sent_at)
    if state.feedback_by_letter:
        return sent + timedelta(days=state.policy.postal_allowance_days), True
    return sent, True


def _set_review_window(s: CaseState, cal: CalendarLike) -> None:
    """The end of the review window: `review_window_days` natural days counted from the day after receipt,
    ending at 24:00 of the last day, moved to the next working day when that day is not one (民法典 Art. 201/203)."""
    assert s.feedback_sent_at is not None
    days = s.policy.review_window_days
    if not s.policy.review_window_from_receipt:
        s.review_window_ends_at = cal.end_of_day(cal.natural_deadline(sla.local_date(s.feedback_sent_at), days))
        return
    received = feedback_received_on(s)
    assert received is not None
    day, presumed = received
    last = cal.natural_deadline(day, days)
    s.review_window_ends_at = sla.end_of_natural_day(last)
    s.review_window_provisional = presumed or cal.is_provisional(last)


def _may_record_return_visit(s: CaseState, actor: Actor, now: datetime, cal: CalendarLike) -> None:
    _need_stage(s, "record_return_visit", Stage.return_visit)
    _need_role(s, "record_return_visit", actor, Role.intake_agent)
    _need_dispatch_unit(s, "record_return_visit", actor)


def _return_visit(tx: _Tx, d: RecordReturnVisitDecision, actor: Actor, cal: CalendarLike) -> None:
    s = tx.s
    if d.request_rehandling and d.outcome is not Satisfaction.unsatisfied:
        raise _refuse(
            s, "record_return_visit", "re-handling can be requested only when the complainant is unsatisfied"
        )
    tx.stop("return_visit")
    s.satisfaction = d.outcome
    tx.event("return_visit_recorded", outcome=d.outcome.value, rehandling=d.request_rehandling or None)
    if d.request_rehandling:
        _reopen(tx, cal, "rehandling_started", reason="unsatisfied return visit")
    else:
        s.stage = Stage.review_window


def _reopen(tx: _Tx, cal: CalendarLike, kind: str, **details: Any) -> None:
    s = tx.s
    s.rehandlings += 1
    s.extension_status = None
    s.extension_reason = None
    s.review_window_ends_at = None
    s.review_window_provisional = False
    s.stage = Stage.investigation
    clock = tx.start("investigation", cal, s.policy.investigation_wd, s.handling_unit)
    tx.event(kind, unit=s.handling_unit, due_at=_fmt(clock.due_at), **details)


def _may_record_receipt(s: CaseState, actor: Actor, now: datetime, cal: CalendarLike) -> None:
    _need_stage(s, "record_receipt", Stage.return_visit, Stage.review_window)
    _need_role(s, "record_receipt", actor, Role.caseworker, Role.intake_agent)
    if actor.role is Role.caseworker:
        _need_handling_unit(s, "record_receipt", actor)
    else:
        _need_dispatch_unit(s, "record_receipt", actor)
    if not s.policy.review_window_from_receipt:
        raise _refuse(
            s, "record_receipt", "this case counts its review window from the sending day (it registered before "
            "receipts were recorded)"
        )
    if not s.feedback_by_letter:
        raise _refuse(
            s,
            "record_receipt",
            f"the result went by {' and '.join(s.reply_channels)}, not by letter: the outbox records its delivery",
        )
    if s.feedback_receipt_recorded_on is not None:
        raise _refuse(
            s, "record_receipt", f"the receipt was already recorded ({s.feedback_receipt_recorded_on.isoformat()})"
        )


def _record_receipt(tx: _Tx, d: RecordReceiptDecision, actor: Actor, cal: CalendarLike) -> None:
    s = tx.s
    assert s.feedback_sent_at is not None
    sent = sla.local_date(s.feedback_sent_at)
    if d.received_on < sent:
        raise _refuse(
            s, "record_receipt", f"received_on {d.received_on.isoformat()} is before the letter was sent ({sent.isoformat()})"
        )
    if d.received_on > sla.local_date(tx.now):
        raise _refuse(s, "record_receipt", f"received_on {d.received_on.isoformat()} is in the future")
    s.feedback_receipt_recorded_on = d.received_on
    _set_review_window(s, cal)
    tx.event(
        "feedback_receipt_recorded",
        received_on=d.received_on.isoformat(),
        note=d.note or None,
        review_window_ends_at=_fmt(s.review_window_ends_at),
        review_window_provisional=s.review_window_provisional or None,
    )


def feedback_delivered(
    state: CaseState, feedback_seq: int, delivered_at: datetime, now: datetime, cal: CalendarLike
) -> tuple[CaseState, list[CaseEvent]]:
    """The outbox delivered the feedback notice of the `feedback_sent` event `feedback_seq`: the review window
    counts from the day of delivery. Anything else (an earlier round's notice, a letter, a repeat report, a case
    past the window stages or on the earlier rule) changes nothing."""
    if (
        not state.policy.review_window_from_receipt
        or state.stage not in (Stage.return_visit, Stage.review_window)
        or state.feedback_seq != feedback_seq
        or state.feedback_by_letter
        or state.feedback_delivered_at is not None
        or state.feedback_sent_at is None
    ):
        return state, []
    tx = _Tx(state, now)
    s = tx.s
    s.feedback_delivered_at = max(delivered_at, state.feedback_sent_at)
    _set_review_window(s, cal)
    tx.event(
        "feedback_delivered",
        delivered_at=_fmt(s.feedback_delivered_at),
        review_window_ends_at=_fmt(s.review_window_ends_at),
        review_window_provisional=s.review_window_provisional or None,
    )
    return tx.done()


def _may_request_review(s: CaseState, actor: Actor, now: datetime, cal: CalendarLike) -> None:
    _need_stage(s, "request_review", Stage.return_visit, Stage.review_window)
    _need_role(s, "request_review", actor, Role.intake_agent)
    _need_dispatch_unit(s, "request_review", actor)
    assert s.review_window_ends_at is not None and s.handling_unit is not None
    if now > s.review_window_ends_at:
        raise _refuse(
            s,
            "request_review",
            f"the review window of {s.policy.review_window_days} days after "
            f"{'the result was received' if s.policy.review_window_from_receipt else 'feedback'} ended at "
            f"{_fmt(s.review_window_ends_at)}",
        )
    if higher_bureau(s.directory, s.handling_unit) is None:
        raise _refuse(s, "request_review", f"unit {s.handling_unit} has no higher bureau")


def _request_review(tx: _Tx, d: RequestReviewDecision, actor: Actor, cal: CalendarLike) -> None:
    s = tx.s
    merged = [m.case_no for m in s.merged_complainants]
    if d.on_behalf_of is not None and d.on_behalf_of not in merged:
        raise _refuse(
            s,
            "request_review",
            f"on_behalf_of: {d.on_behalf_of} is not a duplicate merged into this case"
            + (f" (merged: {', '.join(merged)})" if merged else " (none was)"),
        )
    assert s.handling_unit is not None
    higher = higher_bureau(s.directory, s.handling_unit)
    assert higher is not None
    tx.stop("return_visit")
    s.reviews += 1
    s.review_unit = higher.unit_id
    s.review_requested_at = tx.now
    s.review_outcome = None
    s.stage = Stage.under_review
    clock = tx.start("review", cal, s.policy.review_decision_wd, higher.unit_id)
    tx.replace(clock.model_copy(update={"external": True}))
    tx.event(
        "review_requested",
        review_unit=higher.unit_id,
        review_no=s.reviews,
        due_at=_fmt(clock.due_at),
        on_behalf_of=d.on_behalf_of,
    )


def _may_decide_review(s: CaseState, actor: Actor, now: datetime, cal: CalendarLike) -> None:
    _need_stage(s, "decide_review", Stage.under_review)
    _need_role(s, "decide_review", actor, Role.reviewer)
    if actor.unit_id != s.review_unit:
        raise _refuse(
            s,
            "decide_review",
            f"unit {actor.unit_id} is not the reviewing bureau {s.review_unit} (the next-higher bureau)",
        )


def _decide_review(tx: _Tx, d: DecideReviewDecision, actor: Actor, cal: CalendarLike) -> None:
    s = tx.s
    tx.stop("review")
    s.review_outcome = d.outcome
    tx.event("review_decided", outcome=d.outcome.value, review_no=s.reviews, review_unit=s.review_unit)
    if d.outcome is ReviewOutcome.uphold:
        tx.archive(CloseReason.review_upheld)
    else:
        _reopen(tx, cal, "rehandling_started", reason="review overturned")


def _may_withdraw(s: CaseState, actor: Actor, now: datetime, cal: CalendarLike) -> None:
    _need_stage(s, "withdraw", *sorted(OPEN_STAGES, key=list(Stage).index))
    _need_role(s, "withdraw", actor, Role.intake_agent)
    _need_dispatch_unit(s, "withdraw", actor)


def _withdraw(tx: _Tx, d: WithdrawDecision, actor: Actor, cal: CalendarLike) -> None:
    tx.event("withdrawn", reason=d.reason or None)
    tx.archive(CloseReason.withdrawn)


def _may_merge(s: CaseState, actor: Actor, now: datetime, cal: CalendarLike) -> None:
    _need_stage(s, "merge_into", Stage.acceptance, Stage.dispatch)
    _need_role(s, "merge_into", actor, Role.dispatcher)
    _need_dispatch_unit(s, "merge_into", actor)


def _merge(tx: _Tx, d: MergeIntoDecision, actor: Actor, cal: CalendarLike) -> None:
    s = tx.s
    if d.target_case_no == s.case_no:
        raise _refuse(s, "merge_into", "a case cannot be merged into itself")
    s.merged_into = d.target_case_no
    tx.event("merged", target_case_no=d.target_case_no)
    tx.archive(CloseReason.merged, merged_into=d.target_case_no)


Guard = Callable[[CaseState, Actor, datetime, CalendarLike], None]
Handler = Callable[[_Tx, Any, Actor, CalendarLike], None]

# decision -> (guard, handler). The guard holds every rule that depends only on the case, the actor and the
# instant (stage, role, unit, deadlines); the handler checks the decision's own content and applies it. Both
# `apply` and `allowed_decisions` run the same guard, so "may I?" and "do it" never disagree.
_RULES: dict[str, tuple[Guard, Handler]] = {
    "accept": (_may_accept, _accept),
    "reject": (_may_reject, _reject),
    "assign": (_may_assign, _assign_decision),
    "return_case": (_may_return, _return),
    "request_extension": (_may_request_extension, _request_extension),
    "decide_extension": (_may_decide_extension, _decide_extension),
    "complete_investigation": (_may_complete, _complete),
    "send_feedback": (_may_send_feedback, _send_feedback),
    "record_return_visit": (_may_record_return_visit, _return_visit),
    "request_review": (_may_request_review, _request_review),
    "decide_review": (_may_decide_review, _decide_review),
    "withdraw": (_may_withdraw, _withdraw),
    "merge_into": (_may_merge, _merge),
    "record_receipt": (_may_record_receipt, _record_receipt),
}
DECISIONS: tuple[str, ...] = tuple(_RULES)


# Stage and role of each decision for a case that is still registering (stage acceptance).
_NEW_CASE_ROLES: dict[str, Role] = {
    "accept": Role.dispatcher,
    "reject": Role.dispatcher,
    "merge_into": Role.dispatcher,
    "withdraw": Role.intake_agent,
}


def precheck_new_case(reg: ComplaintRegistration, decision: BaseModel, actor: Actor) -> None:
    """Stage and role checks for a decision that arrives while the case is still registering (before the
    calendar and the directory are loaded); raises `DecisionRefused`. Unit checks come when it is ready."""
    _precheck(reg, _name(decision), actor)


def _precheck(reg: ComplaintRegistration, name: str, actor: Actor) -> None:
    stage = Stage.archived if reg.kind is CaseKind.consultation else Stage.acceptance
    prefix = f"{name} refused for case {reg.case_no}"
    if stage is Stage.archived:
        raise DecisionRefused(f"{prefix}: the case is archived (answered_on_spot)")
    role = _NEW_CASE_ROLES.get(name)
    if role is None:
        raise DecisionRefused(
            f"{prefix}: the case is in stage acceptance; {name} is not allowed in stage acceptance"
        )
    if actor.role is not role:
        raise DecisionRefused(f"{prefix}: role {actor.role.value} may not {name}; only {role.value} may")


def apply(
    state: CaseState, decision: BaseModel, actor: Actor, now: datetime, cal: CalendarLike
) -> tuple[CaseState, list[CaseEvent]]:
    """Apply one decision. Returns (new state, events); raises `DecisionRefused` if it does not fit."""
    name = _name(decision)
    rules = _RULES.get(name)
    if rules is None:
        raise DecisionRefused(f"unknown decision {name!r}")
    guard, handler = rules
    _check(state, name, guard, actor, now, cal)
    tx = _Tx(state, now, actor)
    try:
        handler(tx, decision, actor, cal)
    except UnknownUnit as e:
        raise _refuse(state, name, str(e)) from e
    return tx.done()


def _check(state: CaseState, name: str, guard: Guard, actor: Actor, now: datetime, cal: CalendarLike) -> None:
    if not state.is_open:
        raise _refuse(
            state, name, f"the case is archived ({state.close_reason.value if state.close_reason else ''})"
        )
    try:
        guard(state, actor, now, cal)
    except UnknownUnit as e:
        raise _refuse(state, name, str(e)) from e


def refusal(state: CaseState, decision: str, actor: Actor, now: datetime, cal: CalendarLike) -> str | None:
    """Why `actor` may not take `decision` on this case at `now` (None: they may). Only the rules that do not
    depend on the decision's content are checked: a form may still be refused for what is filled in."""
    rules = _RULES.get(decision)
    if rules is None:
        return f"unknown decision {decision!r}"
    try:
        _check(state, decision, rules[0], actor, now, cal)
    except DecisionRefused as e:
        return e.reason
    return None


def allowed_decisions(state: CaseState, actor: Actor, now: datetime, cal: CalendarLike) -> list[str]:
    """The decisions `actor` may take on this case now, in contract order (the guards of `apply`)."""
    return [name for name in DECISIONS if refusal(state, name, actor, now, cal) is None]


def allowed_for_new_case(reg: ComplaintRegistration, actor: Actor) -> list[str]:
    """The decisions `actor` may send while the case is still registering (what `precheck_new_case` lets
    through; the unit is checked once the case is ready)."""
    out = []
    for name in DECISIONS:
        try:
            _precheck(reg, name, actor)
        except DecisionRefused:
            continue
        out.append(name)
    return out


# ------------------------------------------------------------------------------------------ take-over


def take_over(
    reg: ComplaintRegistration,
    prior: PriorDecisions,
    directory: OrgDirectory,
    policy: SlaPolicy,
    now: datetime,
    cal: CalendarLike,
) -> tuple[CaseState, list[CaseEvent]]:
    """A case taken over from another system (存量迁移): registered at its receipt, then its prior decisions,
    each applied at its own instant by the same rules, with the SLA thresholds that passed in between recorded
    at their instants; finally brought up to `now`. Lateness in the record stays lateness here. Raises
    `DecisionRefused` naming the step that does not fit."""
    state, _ = register(reg, directory, policy, reg.received_at, cal)
    for i, step in enumerate(prior.decisions):
        if step.at < reg.received_at:
            raise DecisionRefused(f"decisions.{i}.at: {step.at.isoformat()} is before the case was received")
        if step.at > now:
            raise DecisionRefused(f"decisions.{i}.at: {step.at.isoformat()} is in the future")
        state = _tick_through(state, step.at)
        decision = step.decision
        try:
            state, _ = apply(state, decision, decision.actor, step.at, cal)
        except DecisionRefused as e:
            raise DecisionRefused(f"decisions.{i}: {e.reason}") from None
    state = _tick_through(state, now)
    # every event of the new state came from this take-over (each step deep-copies the state, so mark the
    # final copies)
    for ev in state.events:
        ev.details["taken_over_from"] = prior.source
    return state, list(state.events)


def _tick_through(state: CaseState, until: datetime) -> CaseState:
    """`state` with every SLA threshold up to `until` recorded, each at its own instant."""
    at = state.events[-1].at
    while state.is_open:
        wake = next_wakeup(state, at)
        if wake is None or wake > until or wake <= at:
            break
        state, _ = tick(state, wake)
        at = wake
    return state


# ------------------------------------------------------------------------------------- time passing


def tick(state: CaseState, now: datetime) -> tuple[CaseState, list[CaseEvent]]:
    """Bring SLA levels, escalations and the review window up to `now`."""
    tx = _Tx(state, now)
    s = tx.s
    for i, c in enumerate(list(s.clocks)):
        if not c.running or c.external:
            continue
        level = sla.level_at(c, now)
        if level != c.level:
            c = c.model_copy(update={"level": level, "breached": c.breached or level == "red"})
            s.clocks[i] = c
            tx.event(
                "sla_level_changed",
                clock=c.clock,
                cycle=c.cycle,
                unit=c.unit,
                level=level,
                due_at=_fmt(c.due_at),
            )
        if not c.escalated and c.escalate_at is not None and now >= c.escalate_at:
            s.clocks[i] = c.model_copy(update={"escalated": True})
            tx.event("sla_escalated", clock=c.clock, cycle=c.cycle, unit=c.unit, due_at=_fmt(c.due_at))
    if (
        s.stage in (Stage.return_visit, Stage.review_window)
        and s.review_window_ends_at is not None
        and now > s.review_window_ends_at
    ):
        tx.archive(CloseReason.review_window_lapsed)
    return tx.done()


def next_wakeup(state: CaseState, now: datetime) -> datetime | None:
    """The next instant at which `tick` would change something (the one timer the workflow arms)."""
    points = [sla.next_threshold(c, now) for c in state.clocks if c.running and not c.external]
    if state.stage in (Stage.return_visit, Stage.review_window) and state.review_window_ends_at is not None:
        # the window closes at its end instant; `tick` archives strictly after it
        points.append(state.review_window_ends_at + _EPS if state.review_window_ends_at >= now else now)
    later = [p for p in points if p is not None]
    return min(later) if later else None


def needs_tick(state: CaseState, now: datetime) -> bool:
    """True if `tick(state, now)` would change something: a threshold already passed is not yet recorded.

    This happens when a case starts late (received days before the intake system sent it, or queued while
    the cluster was down): its levels must be brought up to date at once, not at the next future threshold.
    """
    for c in state.clocks:
        if not c.running or c.external:
            continue
        if sla.level_at(c, now) != c.level:
            return True
        if not c.escalated and c.escalate_at is not None and now >= c.escalate_at:
            return True
    return (
        state.stage in (Stage.return_visit, Stage.review_window)
        and state.review_window_ends_at is not None
        and now > state.review_window_ends_at
    )


def update_external_clock(
    state: CaseState, clock: SlaClock, now: datetime
) -> tuple[CaseState, list[CaseEvent]]:
    """A clock ticked elsewhere (the review child) changed: store it and record level changes."""
    tx = _Tx(state, now)
    old = next((c for c in tx.s.clocks if c.clock == clock.clock and c.cycle == clock.cycle), None)
    clock = clock.model_copy(update={"external": True})
    tx.replace(clock)
    if old is not None and old.level != clock.level:
        tx.event(
            "sla_level_changed",
            clock=clock.clock,
            cycle=clock.cycle,
            unit=clock.unit,
            level=clock.level,
            due_at=_fmt(clock.due_at),
        )
    if old is not None and clock.escalated and not old.escalated:
        tx.event(
            "sla_escalated", clock=clock.clock, cycle=clock.cycle, unit=clock.unit, due_at=_fmt(clock.due_at)
        )
    return tx.done()


def absorb_duplicate(
    state: CaseState,
    duplicate_case_no: str,
    actor: Actor | None,
    now: datetime,
    complainants: list[MergedComplainant] | None = None,
) -> tuple[CaseState, list[CaseEvent]]:
    """并单, the receiving side: an open case records that `duplicate_case_no` was merged into it.

    One matter is handled once; the duplicate's complainant is answered through this case, so its number
    belongs on this timeline, and (when the policy says so and the duplicate sent them) its complainant, and
    those merged into the duplicate before, are kept to receive this case's notices. Merging into a closed case is refused (the dispatcher must pick an
    open one).
    """
    if not state.is_open:
        raise _refuse(state, "merge_into", f"target case {state.case_no} is closed; merge into an open case")
    if duplicate_case_no == state.case_no:
        raise _refuse(state, "merge_into", "a case cannot be merged into itself")
    tx = _Tx(state, now, actor)
    if state.policy.notify_merged_complainants:
        for complainant in complainants or []:
            known = {m.case_no for m in tx.s.merged_complainants}
            if complainant.case_no not in known | {state.case_no}:
                tx.s.merged_complainants.append(complainant)
    tx.event("duplicate_merged", duplicate_case_no=duplicate_case_no)
    return tx.done()


def recompute_deadlines(
    state: CaseState, cal: CalendarLike, now: datetime, *, report_unmoved: bool = False
) -> tuple[CaseState, list[CaseEvent]]:
    """A new calendar: recompute every deadline not yet passed (running clocks and the review window).

    The case records the calendar version it now counts on; the timeline gets `deadlines_recomputed` only when a
    deadline moved (`report_unmoved`: also when only the version changed, as cases did before)."""
    tx = _Tx(state, now)
    s = tx.s
    p = s.policy
    changed: list[dict[str, Any]] = []
    for i, c in enumerate(list(s.clocks)):
        if not c.running or c.external or sla.is_late(c, now):
            continue
        new = sla.retarget(
            c, cal, c.working_days, blue_fraction=p.blue_fraction, escalation_wd=p.escalation_wd
        )
        if not c.extended:
            new = new.model_copy(update={"original_due_at": new.due_at})
        if new != c:
            s.clocks[i] = new
            if new.due_at != c.due_at:
                changed.append(
                    {"clock": c.clock, "cycle": c.cycle, "from": _fmt(c.due_at), "to": _fmt(new.due_at)}
                )
    if (
        s.review_window_ends_at is not None
        and s.review_window_ends_at > now
        and s.feedback_sent_at is not None
    ):
        before = s.review_window_ends_at
        _set_review_window(s, cal)
        if s.review_window_ends_at != before:
            changed.append({"clock": "review_window", "from": _fmt(before), "to": _fmt(s.review_window_ends_at)})
    old_version = s.calendar_version
    s.calendar_version = cal.version
    if changed or (report_unmoved and old_version != cal.version):
        tx.event(
            "deadlines_recomputed",
            calendar_version=cal.version,
            previous_version=old_version,
            changes=changed,
        )
    return tx.done()


# ------------------------------------------------------------------------------------------ summary


def _window_provisional(state: CaseState) -> bool:
    """The open review window's end is presumed (receipt unknown, or provisional calendar data)."""
    return (
        state.review_window_provisional
        and state.review_window_ends_at is not None
        and state.stage in (Stage.return_visit, Stage.review_window)
    )


def _known_receipt(state: CaseState) -> date | None:
    received = feedback_received_on(state)
    return received[0] if received is not None and not received[1] else None


def summarize(state: CaseState) -> CaseSummary:
    """The outward view of a case: masked personal data, no reporter identity for fraud reports."""
    reg = state.registration
    p = reg.complainant
    masked = None
    if not state.confidential_reporter:
        masked = MaskedComplainant(
            name=mask_name(p.name),
            id_number=mask_id_number(p.id_number),
            phone=mask_phone(p.phone),
            card_number=mask_card_number(p.card_number),
        )
    unit_name = None
    if state.handling_unit and state.directory.has(state.handling_unit):
        unit_name = state.directory.unit(state.handling_unit).name
    return CaseSummary(
        case_no=reg.case_no,
        kind=reg.kind,
        channel=reg.channel,
        category=reg.category,
        jurisdiction=reg.jurisdiction,
        stage=state.stage,
        open=state.is_open,
        close_reason=state.close_reason,
        handling_unit=state.handling_unit,
        handling_unit_name=unit_name,
        received_at=reg.received_at,
        accepted_at=state.accepted_at,
        closed_at=state.closed_at,
        clocks=state.clocks,
        review_window_ends_at=state.review_window_ends_at,
        sla_level=sla.overall_level(state.clocks),
        next_due_at=sla.next_due(state.clocks),
        any_provisional=any(c.provisional for c in state.clocks) or _window_provisional(state),
        review_window_provisional=_window_provisional(state),
        feedback_received_on=_known_receipt(state),
        extension_status=state.extension_status,
        returns=len(state.returned_by),
        rehandlings=state.rehandlings,
        reviews=state.reviews,
        satisfaction=state.satisfaction,
        review_outcome=state.review_outcome,
        merged_into=state.merged_into,
        merged_cases=[m.case_no for m in state.merged_complainants],
        investigation=state.investigation,
        complainant=masked,
        confidential_reporter=state.confidential_reporter,
        calendar_version=state.calendar_version,
        events=state.events,
    )
