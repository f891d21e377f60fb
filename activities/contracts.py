"""The inputs and outputs of every activity a case calls: the boundary between workflow and side effects.

These are the stable shapes the `ComplaintCase` workflow sends to activities (recording the audit trail,
projecting the read model, queueing notifications, resolving units, loading calendar data). Keep them free of
clear personal data except in the fields named `*_contact` / `complainant`, which travel only encrypted
(payload codec) and are stored only encrypted.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from cases.org import DispatchRule, OrgDirectory, OrgUnit
from cases.policy import ReplyChannel

SlaLevel = Literal["on_track", "blue", "yellow", "red"]
Audience = Literal["complainant", "supervisor", "higher_supervisor", "handling_unit", "reviewer"]
DeliveryChannel = Literal[ReplyChannel, "internal"]


class CaseEventRecord(BaseModel):
    """One entry of the append-only audit trail. `event_key` makes the write idempotent."""

    case_no: str
    seq: int = Field(ge=1, description="position of the event in the case timeline, 1-based")
    event_key: str = Field(description="unique idempotency key, e.g. '<case_no>:<seq>:<kind>'")
    kind: str = Field(description="registered, accepted, rejected, assigned, returned, sla_level_changed, ...")
    stage: str = Field(description="stage of the case after the event")
    at: datetime
    actor_id: str | None = None
    actor_role: str | None = None
    actor_unit: str | None = None
    details: dict[str, Any] = Field(default_factory=dict, description="no clear personal data here")


class SlaClockRecord(BaseModel):
    """One stage clock of a case (acceptance, investigation, feedback, return_visit, review, ...)."""

    clock: str
    cycle: int = 1
    unit: str | None = None
    started_at: datetime
    original_due_at: datetime
    due_at: datetime
    extended: bool = False
    stopped_at: datetime | None = None
    level: SlaLevel = "on_track"
    breached: bool = False
    provisional: bool = False


class MaskedPerson(BaseModel):
    """What the read model may show of a complainant: masked forms only."""

    name: str = ""
    id_number: str = ""
    phone: str = ""
    card_number: str = ""


class CaseProjection(BaseModel):
    """The current state of one case for the read model. `version` orders projections (higher wins)."""

    case_no: str
    version: int = Field(ge=0, description="number of timeline events when projected; stale writes are ignored")
    kind: str
    channel: str
    category: str
    jurisdiction: str
    handling_unit: str | None = None
    stage: str
    open: bool = True
    sla_level: SlaLevel = "on_track"
    due_at: datetime | None = None
    provisional: bool = False
    extension_status: str | None = None
    returns: int = 0
    rehandlings: int = 0
    satisfaction: str | None = None
    review_outcome: str | None = None
    close_reason: str | None = None
    registered_at: datetime
    accepted_at: datetime | None = None
    investigation_completed_at: datetime | None = None
    feedback_sent_at: datetime | None = None
    closed_at: datetime | None = None
    updated_at: datetime
    complainant: MaskedPerson = Field(default_factory=MaskedPerson)
    confidential_reporter: bool = False
    clocks: list[SlaClockRecord] = Field(default_factory=list)


class NotificationRequest(BaseModel):
    """A message for the outbox. `key` makes queueing idempotent. `recipient_contact` is personal data."""

    key: str
    case_no: str
    audience: Audience
    channel: DeliveryChannel
    recipient_ref: str = Field(
        description="a unit id, a supervisor id, 'complainant', or 'complainant:<case number>' for the "
        "complainant of a duplicate merged into the case"
    )
    recipient_contact: str | None = Field(default=None, description="phone or address; stored encrypted")
    template: str
    params: dict[str, str] = Field(default_factory=dict)
    at: datetime


def notification_key(case_no: str, event_seq: int, index: int, audience: str) -> str:
    """The outbox key of the `index`-th notice caused by timeline event `event_seq` of a case."""
    return f"{case_no}:{event_seq}:n{index}:{audience}"


class NoticeDelivered(BaseModel):
    """`notice_delivered` signal: the outbox delivered the notification `key` at `delivered_at`."""

    key: str
    template: str
    delivered_at: datetime

    def event_seq(self) -> int | None:
        """The timeline event that caused the notice (from its `notification_key`), None for another key."""
        parts = self.key.split(":")
        if len(parts) != 4 or not parts[1].isdigit():
            return None
        return int(parts[1])


class ResolveUnitRequest(BaseModel):
    jurisdiction: str = Field(description="the case's jurisdiction (e.g. CN-SX) or the unit id of the area")
    category: str
    area_unit_id: str | None = Field(
        default=None, description="unit where the matter happened (city/county); catalogue falls back upwards"
    )


class ResolvedUnit(BaseModel):
    unit_id: str
    name: str
    jurisdiction: str


class CalendarSnapshotRequest(BaseModel):
    jurisdiction: str
    start: date
    end: date


# The org directory slice travels as the core's own models: `load_case_context` returns an `OrgDirectory`
# (units of the jurisdiction plus their ancestors up to the national bureau, and the dispatch catalogue), which
# the workflow keeps in its state as is (validators stay deterministic).
OrgUnitRecord = OrgUnit
DispatchRuleRecord = DispatchRule
CaseContext = OrgDirectory


class CaseContextRequest(BaseModel):
    """Input of `load_case_context`: which slice of the org directory a new case needs."""

    case_no: str
    jurisdiction: str
    category: str


class MergeTarget(BaseModel):
    """Output of `load_merge_target`: the read model's view of the case a duplicate is merged into."""

    case_no: str
    found: bool
    open: bool = False
    handling_unit: str | None = None


# ------------------------------------------------------------------------------ personal data


class ComplainantPiiRecord(BaseModel):
    """The complainant's clear personal data, stored encrypted in `case_pii` (never for a confidential
    reporter: with `confidential_reporter=True` nothing is stored). Travels only in encrypted payloads."""

    case_no: str
    name: str = ""
    id_number: str = ""
    phone: str = ""
    card_number: str = ""
    address: str | None = None
    confidential_reporter: bool = False


# ------------------------------------------------------------------ batched persistence (one activity per decision)


class CaseChanges(BaseModel):
    """Input of `persist_case_changes`: everything one decision (or tick) of a case writes, in one transaction.
    Each part keeps the idempotency of its single-record activity: event keys, notification keys, and the
    projection's version guard."""

    events: list[CaseEventRecord] = Field(default_factory=list)
    notifications: list[NotificationRequest] = Field(default_factory=list)
    projection: CaseProjection | None = None
    pii: ComplainantPiiRecord | None = Field(
        default=None, description="at registration: the complainant's personal data (stored encrypted)"
    )
    echo: bool = Field(
        default=False,
        description="return the batch in the result: a local activity's input is not kept in the history, its "
        "result is, and `complaints db rebuild` re-creates the read model from what the history holds",
    )


class PersistResult(BaseModel):
    """Output of `persist_case_changes`: what this call wrote (a retry of a committed call writes nothing)."""

    events_written: int = 0
    notifications_queued: int = 0
    pii_stored: bool = False
    projection_applied: bool | None = Field(
        default=None, description="None: no projection sent; False: a newer version was already stored"
    )
    changes: CaseChanges | None = Field(default=None, description="the batch written, when it asked for it (`echo`)")


# The daily and monthly reports (`activities.report_activities`, workflow `BureauReports`)
class ReportRequest(BaseModel):
    """One report to publish: the bureau (a jurisdiction of the org directory), the day and the two periods."""

    jurisdiction: str
    kind: str = Field(description="daily or monthly")
    published_on: date
    period_start: date
    period_end: date
    previous_start: date
    previous_end: date
    requested_at: datetime = Field(description="when the workflow asked (its clock): the notices' request time")


class ReportOutcome(BaseModel):
    report_id: str
    stored: bool = Field(description="False when the report of this id was already there")
    notices_queued: int = 0
