"""The payload models of the workflows: signal arguments, the review's input and result, the registration input,
the reports' input and result.

This module is passed through the workflow sandbox (`workers.sandbox.PASSTHROUGH_MODULES`): the sandbox imports
each workflow's module afresh for every run, and a pydantic model defined there would build its validator and
serializer again for every cached case (and key one more type adapter in the data converter's cache). Defined
here, each model is built once per worker process. Pure definitions only: no I/O, no clock, no workflow calls.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field

from activities.contracts import ReportOutcome
from calendars import CalendarSnapshot
from cases.models import Actor, ComplaintRegistration, MergedComplainant, ReviewOutcome, SlaClock


class MergedFrom(BaseModel):
    """`merged_from` signal: a duplicate case was merged into this one (并单)."""

    duplicate_case_no: str
    actor: Actor
    complainants: list[MergedComplainant] = Field(
        default_factory=list,
        description="who to answer through the target: the duplicate's complainant and those merged into it "
        "before (absent in signals sent before)",
    )


class CalendarUpdate(BaseModel):
    """`calendar_updated` signal: a new snapshot, or just a version that makes the case fetch one."""

    version: str
    snapshot: CalendarSnapshot | None = None


# Intake systems in other languages send raw JSON. A payload that is not a valid registration still decodes
# (as a plain dict, the right-hand side of this union) so the workflow can fail at once with the field named,
# instead of retrying a workflow task that can never decode its input.
# The SDK reads the workflow's signature without the `Annotated` metadata, so pydantic decodes the plain
# union in smart mode, where a JSON object matches `dict` exactly: every registration arrives as the dict,
# and `ComplaintCase.__init__` validates it once.
RegistrationInput = Annotated[ComplaintRegistration | dict[str, Any], Field(union_mode="left_to_right")]


class ReviewInput(BaseModel):
    """What the parent case hands to its review."""

    case_no: str
    review_no: int
    parent_workflow_id: str
    review_unit: str
    jurisdiction: str
    requested_at: datetime
    working_days: int = 15
    blue_fraction: float = 0.2
    escalation_wd: int = 5
    # the parent case's rule for the due instant; a review started before the rule was settled has none
    red_after_due: bool = False


class ReviewResult(BaseModel):
    """The reviewer's decision and the final state of the review clock. A review that ended because its case
    closed (withdrawal, administrative remedy) has no outcome, reasons or reviewer."""

    outcome: ReviewOutcome | None
    reasons: str = ""
    reviewer_id: str | None = None
    decided_at: datetime = Field(description="when the review ended: the decision, or the case's closing")
    clock: SlaClock


class ReportsInput(BaseModel):
    jurisdiction: str = Field(description="the bureau, a jurisdiction of the org directory, e.g. CN-SX")
    day: date | None = Field(
        default=None, description="the publishing day; default: the Schedule's scheduled day (Beijing time)"
    )


class ReportsResult(BaseModel):
    day: date
    day_kind: str = Field(description="workday, makeup, weekend, holiday or closure (`WorkingCalendar.day_kind`)")
    reports: list[ReportOutcome] = Field(default_factory=list, description="empty on a day off")
