"""Who is told what after each timeline event: the complainant and the complainant of every duplicate merged
into the case (each on the reply channels the policy gives their intake channel), the clock's unit or its
supervisor as the SLA levels come (policy `level_warnings`: by default the unit at blue 临期 and yellow 预警,
督办 at red), the higher bureau 5 WD past due (通报), the handling unit and the reviewing bureau.

Pure: returns `Notice`s; the workflow turns them into `NotificationRequest`s with an idempotency key derived
from the case number and the event sequence, and adds the complainant's contact (personal data, encrypted).
Confidential fraud reporters are only told when they reported under their real name.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from cases.models import CaseEvent, CaseKind, Channel, Complainant
from cases.org import higher_bureau
from cases.policy import ReplyChannel, WarnedLevel, WarningRecipient
from cases.transitions import CaseState

COMPLAINANT_TEMPLATES: dict[str, str] = {
    "accepted": "case_accepted",
    "rejected": "case_rejected",
    "transferred_12388": "case_transferred_12388",
    "reporter_notified": "fraud_investigation_opened",
    "extension_approved": "investigation_extended",
    "feedback_sent": "case_feedback",
    "review_requested": "review_received",
    "review_decided": "review_decided",
    "withdrawn": "case_withdrawn",
    "merged": "case_merged",
    "administrative_remedy_recorded": "case_closed_administrative_remedy",
    "reward_decided": "fraud_reward_decided",
}

WARNING_TEMPLATES: dict[tuple[WarnedLevel, WarningRecipient], str] = {
    ("blue", "handling_unit"): "sla_due_soon",
    ("yellow", "handling_unit"): "sla_due_today",
    ("red", "handling_unit"): "sla_overdue",
    ("blue", "supervisor"): "sla_due_soon_supervise",
    ("yellow", "supervisor"): "sla_due_today_supervise",
    ("red", "supervisor"): "sla_overdue_supervise",
}


class Notice(BaseModel):
    """One message to queue; `index` distinguishes several notices of the same event."""

    index: int
    audience: str
    channel: str
    recipient_ref: str
    template: str
    to_complainant: bool = False
    merged_case_no: str | None = Field(
        default=None, description="to the complainant of this merged duplicate instead of the case's own"
    )
    params: dict[str, str] = Field(default_factory=dict)


def reply_channels(state: CaseState, channel: Channel) -> list[ReplyChannel]:
    """The channels a notice to a complainant who came in through `channel` goes out on."""
    return state.policy.reply_channels[channel]


def _told(kind: CaseKind, person: Complainant) -> bool:
    """Confidential fraud reporters are told only when they gave their name."""
    return kind is not CaseKind.fraud_report or person.real_name


def _tell_complainants(out: list[Notice], state: CaseState, template: str, params: dict[str, str]) -> None:
    """The case's own complainant, then each merged complainant, on each of their reply channels."""
    reg = state.registration
    if _told(reg.kind, reg.complainant):
        for channel in reply_channels(state, reg.channel):
            out.append(
                Notice(
                    index=len(out),
                    audience="complainant",
                    channel=channel,
                    recipient_ref="complainant",
                    template=template,
                    to_complainant=True,
                    params=params,
                )
            )
    for merged in state.merged_complainants:
        if not _told(merged.kind, merged.complainant):
            continue
        for channel in reply_channels(state, merged.channel):
            out.append(
                Notice(
                    index=len(out),
                    audience="complainant",
                    channel=channel,
                    recipient_ref=f"complainant:{merged.case_no}",
                    template=template,
                    to_complainant=True,
                    merged_case_no=merged.case_no,
                    params=params | {"own_case_no": merged.case_no},
                )
            )


def _warned_before(state: CaseState, event: CaseEvent) -> bool:
    """This clock already reached this level for this deadline: its warning went out then. (An extension or
    a new calendar that moves the deadline warns again, for the new one.)"""
    d = event.details
    return any(
        e.seq < event.seq
        and e.kind == "sla_level_changed"
        and (e.details.get("clock"), e.details.get("cycle"), e.details.get("level"), e.details.get("due_at"))
        == (d.get("clock"), d.get("cycle"), d.get("level"), d.get("due_at"))
        for e in state.events
    )


def _warn_level(out: list[Notice], state: CaseState, event: CaseEvent, params: dict[str, str]) -> None:
    """The warnings of a clock reaching a level, to whom the policy names for that level."""
    level = event.details.get("level")
    if level not in ("blue", "yellow", "red") or _warned_before(state, event):
        return
    unit = event.details.get("unit")
    unit = unit if isinstance(unit, str) else None
    for recipient in state.policy.level_warnings.get(level, []):
        template = WARNING_TEMPLATES[(level, recipient)]
        if recipient == "supervisor":
            _tell_supervisor(out, _supervisor(state, unit), template, params, "supervised_unit")
            continue
        # a clock without a unit (an investigation between a return and the next assignment) is the
        # dispatcher's: the provincial centre is told
        target = unit if unit is not None and state.directory.has(unit) else state.directory.provincial_centre
        out.append(
            Notice(
                index=len(out),
                audience="handling_unit",
                channel="internal",
                recipient_ref=target,
                template=template,
                params=params | {"warned_unit": target},
            )
        )


def _supervisor(state: CaseState, unit: str | None) -> tuple[str, str] | None:
    unit = unit or state.directory.provincial_centre
    if not state.directory.has(unit):
        return None
    u = state.directory.unit(unit)
    return u.unit_id, u.supervisor_id


def _tell_supervisor(
    out: list[Notice], sup: tuple[str, str] | None, template: str, params: dict[str, str], unit_param: str
) -> None:
    """An internal notice to the supervisor `sup` = (unit, supervisor id), naming the unit as `unit_param`."""
    if sup:
        out.append(
            Notice(
                index=len(out),
                audience="supervisor",
                channel="internal",
                recipient_ref=sup[1],
                template=template,
                params=params | {unit_param: sup[0]},
            )
        )


def _pending_extension_turns_urgent(state: CaseState, event: CaseEvent) -> bool:
    """An extension request waits while the investigation is on its last day: the clock turned yellow with the
    request pending, or the request came in on the yellow (or later) day itself."""
    if not state.policy.remind_pending_extension or state.extension_status != "requested":
        return False
    if event.kind == "sla_level_changed":
        return event.details.get("clock") == "investigation" and event.details.get("level") == "yellow"
    if event.kind == "extension_requested":
        clock = state.running("investigation")
        return clock is not None and clock.level in ("yellow", "red")
    return False


def notices_for(state: CaseState, event: CaseEvent) -> list[Notice]:
    """The notices an event causes, given the state after it."""
    out: list[Notice] = []
    reg = state.registration
    params = {k: str(v) for k, v in event.details.items() if isinstance(v, str | int | bool)}
    params["case_no"] = reg.case_no
    template = COMPLAINANT_TEMPLATES.get(event.kind)
    # a fraud reporter gets `reporter_notified` instead of `accepted`
    if template and not (reg.kind is CaseKind.fraud_report and event.kind == "accepted"):
        _tell_complainants(out, state, template, params)
    if event.kind == "assigned":
        out.append(
            Notice(
                index=len(out),
                audience="handling_unit",
                channel="internal",
                recipient_ref=str(event.details["unit"]),
                template="case_assigned",
                params=params,
            )
        )
    if event.kind == "review_requested":
        out.append(
            Notice(
                index=len(out),
                audience="reviewer",
                channel="internal",
                recipient_ref=str(event.details["review_unit"]),
                template="review_assigned",
                params=params,
            )
        )
    if _pending_extension_turns_urgent(state, event):
        _tell_supervisor(out, _supervisor(state, state.handling_unit), "extension_pending_reminder",
                         params, "handling_unit")
    if event.kind == "sla_level_changed":
        _warn_level(out, state, event, params)
    unit = event.details.get("unit")
    if event.kind == "sla_escalated":
        base = (
            unit if isinstance(unit, str) and state.directory.has(unit) else state.directory.provincial_centre
        )
        higher = higher_bureau(state.directory, base)
        if higher is not None:
            out.append(
                Notice(
                    index=len(out),
                    audience="higher_supervisor",
                    channel="internal",
                    recipient_ref=higher.supervisor_id,
                    template="sla_overdue_escalated",
                    params=params | {"late_unit": base, "higher_unit": higher.unit_id},
                )
            )
    return out
