"""Who is told what after each timeline event: complainant (through the original channel), supervisors
(督办 at red, 通报 5 WD past due), the handling unit and the reviewing bureau.

Pure: returns `Notice`s; the workflow turns them into `NotificationRequest`s with an idempotency key derived
from the case number and the event sequence, and adds the complainant's contact (personal data, encrypted).
Confidential fraud reporters are only told when they reported under their real name.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from cases.models import REPLY_CHANNEL, CaseEvent, CaseKind, Channel
from cases.org import higher_bureau
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


class Notice(BaseModel):
    """One message to queue; `index` distinguishes several notices of the same event."""

    index: int
    audience: str
    channel: str
    recipient_ref: str
    template: str
    to_complainant: bool = False
    params: dict[str, str] = Field(default_factory=dict)


def complainant_channel(channel: Channel) -> str:
    """Delivery channel back to the complainant for an intake channel."""
    return REPLY_CHANNEL[channel]


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
    fraud = reg.kind is CaseKind.fraud_report
    if template and (not fraud or reg.complainant.real_name):
        if not (fraud and event.kind == "accepted"):  # the reporter gets `reporter_notified` instead
            out.append(
                Notice(
                    index=len(out),
                    audience="complainant",
                    channel=complainant_channel(reg.channel),
                    recipient_ref="complainant",
                    template=template,
                    to_complainant=True,
                    params=params,
                )
            )
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
    unit = event.details.get("unit")
    if event.kind == "sla_level_changed" and event.details.get("level") == "red":
        _tell_supervisor(out, _supervisor(state, unit if isinstance(unit, str) else None), "sla_overdue_supervise",
                         params, "supervised_unit")
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
