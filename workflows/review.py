"""`ComplaintReview`: the review 复核 of a case at the next-higher bureau, a child of `ComplaintCase`.

It runs the review clock (15 WD from the request by default) on the *higher bureau's* calendar, reports every
change of that clock (start, SLA level, escalation) to the parent case with the `review_clock` signal - the
parent stays the single writer of the case timeline and sends the alerts - and waits for the reviewer's
decision, which the parent validates and forwards with the `decide` signal. The result goes back to the
parent as the child's return value.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.calendar_activities import CalendarActivities
    from activities.contracts import CalendarSnapshotRequest
    from calendars import CalendarSnapshot, shared_calendar
    from cases import sla
    from cases.models import DecideReviewDecision, SlaClock
    from common.contract import REVIEW_WORKFLOW_TYPE
    from workflows.payloads import ReviewInput, ReviewResult

REVIEW_CLOCK_SIGNAL = "review_clock"
# Every retry of a local activity waits on a workflow timer and runs as a fresh schedule, never inside the
# worker. The SDK core (temporalio 1.35.0) leaks the start-to-close timer of each attempt it retries itself
# (`TimeoutBag::mark_started` replaces the timer's handle without aborting it): the stale timer can time out
# a later attempt early, and when it fires after the worker shut down it panics ("receive half not dropped").
# Replay is unchanged: the backoff timer is re-created from the failure marker in the history.
LOCAL_RETRY_THRESHOLD = timedelta(milliseconds=1)


async def load_snapshot(
    jurisdiction: str, start_day: datetime, until: datetime | None = None, *, local: bool = False
) -> CalendarSnapshot:
    """Calendar data from a week before `start_day` to about two years after `until` (default: `start_day`),
    shortened to what is published (tries two years, then to the end of next year, then of this year).
    `local`: run it as a local activity (no task-queue round trip, read-only).
    Bad requests fail at once (non-retryable); an unreachable database (bureau rows) is retried until it returns."""
    day = sla.local_date(start_day) - timedelta(days=7)
    anchor = max(sla.local_date(until), day) if until is not None else day
    ends = [
        anchor + timedelta(days=737),
        anchor.replace(year=anchor.year + 1, month=12, day=31),
        anchor.replace(month=12, day=31),
    ]
    last: Exception | None = None
    for end in ends:
        request = CalendarSnapshotRequest(jurisdiction=jurisdiction, start=day, end=end)
        retry = RetryPolicy(maximum_interval=timedelta(seconds=30))
        try:
            if local:
                return await workflow.execute_local_activity_method(
                    CalendarActivities.load_calendar_snapshot, request,
                    start_to_close_timeout=timedelta(seconds=30), retry_policy=retry,
                    local_retry_threshold=LOCAL_RETRY_THRESHOLD,
                )
            return await workflow.execute_activity_method(
                CalendarActivities.load_calendar_snapshot, request,
                start_to_close_timeout=timedelta(seconds=30), retry_policy=retry,
            )
        except ActivityError as e:
            last = e
    assert last is not None
    raise last


@workflow.defn(name=REVIEW_WORKFLOW_TYPE)
class ComplaintReview:
    """The review clock and decision at the higher bureau."""

    def __init__(self) -> None:
        self._decision: DecideReviewDecision | None = None
        self._case_closed = False
        self._clock: SlaClock | None = None

    @workflow.signal
    def decide(self, decision: DecideReviewDecision) -> None:
        """The reviewer's decision, already validated by the parent case."""
        if self._decision is None:
            self._decision = decision

    @workflow.signal
    def case_closed(self) -> None:
        """The parent case closed during the review (withdrawal, administrative remedy): the review ends without a
        decision. A signal and not a cancellation: a cancel that arrives in the same workflow task as the
        resolution of what the review awaits is swallowed by asyncio (temporalio/sdk-python#620), and the parent
        would wait for a review that never ends."""
        self._case_closed = True

    def _ended(self) -> bool:
        return self._decision is not None or self._case_closed

    @workflow.query
    def clock(self) -> SlaClock | None:
        """The review clock."""
        return self._clock

    async def _report(self, inp: ReviewInput) -> None:
        parent = workflow.get_external_workflow_handle(inp.parent_workflow_id)
        await parent.signal(REVIEW_CLOCK_SIGNAL, self._clock)

    @workflow.run
    async def run(self, inp: ReviewInput) -> ReviewResult:
        snap = await load_snapshot(inp.jurisdiction, inp.requested_at)
        cal = shared_calendar(snap)
        self._clock = sla.make_clock(
            "review",
            cal,
            inp.requested_at,
            inp.working_days,
            blue_fraction=inp.blue_fraction,
            escalation_wd=inp.escalation_wd,
            unit=inp.review_unit,
            cycle=inp.review_no,
            red_after_due=inp.red_after_due,
        ).model_copy(update={"external": True})
        await self._report(inp)
        while not self._ended():
            now = workflow.now()
            wake = sla.next_threshold(self._clock, now)
            try:
                await workflow.wait_condition(
                    self._ended,
                    timeout=(wake - now) if wake is not None else None,
                    timeout_summary="review SLA threshold",
                )
            except TimeoutError:
                pass
            if self._ended():
                break
            now = workflow.now()
            level = sla.level_at(self._clock, now)
            escalated = self._clock.escalated or (
                self._clock.escalate_at is not None and now >= self._clock.escalate_at
            )
            if level != self._clock.level or escalated != self._clock.escalated:
                self._clock = self._clock.model_copy(
                    update={
                        "level": level,
                        "escalated": escalated,
                        "breached": self._clock.breached or level == "red",
                    }
                )
                await self._report(inp)
        decided_at = workflow.now()
        final = self._clock.model_copy(
            update={"stopped_at": decided_at, "level": sla.level_at(self._clock, decided_at)}
        )
        self._clock = final
        if self._decision is None:
            return ReviewResult(outcome=None, decided_at=decided_at, clock=final)
        return ReviewResult(
            outcome=self._decision.outcome,
            reasons=self._decision.reasons,
            reviewer_id=self._decision.actor.id,
            decided_at=decided_at,
            clock=final,
        )
