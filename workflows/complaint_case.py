"""`ComplaintCase`: one complaint case as a Temporal workflow (task queue `complaints`, id `complaint-<case_no>`).

Functional core, Temporal shell: the rules live in `cases.transitions` (pure). This workflow holds the
`CaseState`, accepts caseworker decisions as Workflow Updates (each validator runs the pure transition on the
current state with `workflow.now()` and rejects a bad decision before anything reaches history), arms one
timer for the next SLA threshold across all running clocks (the updatable-timer loop: wait for a change or the
threshold, never fixed sleeps), and performs every side effect through idempotent activities: the audit trail,
the read model, the outbox and the encrypted personal data of one decision go in one `persist_case_changes`
transaction, run as a local activity inside the workflow task that took the decision (older cases: one activity
per record, or the batch through the task queue). Calendar data and the org directory slice enter as local
activity results at start and stay in the state. A review runs as the child workflow `ComplaintReview` at the higher bureau.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from pydantic import ValidationError
from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ApplicationError, ChildWorkflowError, FailureError

with workflow.unsafe.imports_passed_through():
    from activities.case_activities import CaseActivities
    from activities.contracts import (
        CaseChanges,
        CaseContextRequest,
        CaseEventRecord,
        CaseProjection,
        ComplainantPiiRecord,
        MaskedPerson,
        NoticeDelivered,
        NotificationRequest,
        SlaClockRecord,
        notification_key,
    )
    from calendars import CalendarRangeError, CalendarSnapshot, shared_calendar
    from cases import sla
    from cases.errors import DecisionRefused
    from cases.models import (
        AcceptDecision,
        Actor,
        AssignDecision,
        CaseEvent,
        CaseKind,
        CaseSummary,
        ComplaintRegistration,
        CompleteInvestigationDecision,
        CompleteRectificationDecision,
        DecideExtensionDecision,
        DecideReviewDecision,
        DecideRewardDecision,
        MergedComplainant,
        MergeIntoDecision,
        PriorDecisions,
        RecordAdministrativeRemedyDecision,
        RecordReceiptDecision,
        RecordReturnVisitDecision,
        RejectDecision,
        RequestExtensionDecision,
        RequestReviewDecision,
        ReturnCaseDecision,
        Role,
        SendFeedbackDecision,
        SlaClock,
        Stage,
        WithdrawDecision,
        new_decision_problems,
    )
    from cases.notify import Notice, notices_for
    from cases.org import shared_directory
    from cases.policy import RED_ONLY_WARNINGS, SMS_REPLIES, policy_for
    from cases.transitions import (
        DECISIONS,
        CaseState,
        absorb_duplicate,
        allowed_for_new_case,
        apply,
        feedback_delivered,
        merge_target_problem,
        needs_tick,
        next_wakeup,
        precheck_new_case,
        recompute_deadlines,
        refusal,
        register,
        summarize,
        take_over,
        tick,
        update_external_clock,
    )
    from common.contract import (
        ALLOWED_DECISIONS_QUERY,
        CALENDAR_UPDATED_SIGNAL,
        NOTICE_DELIVERED_SIGNAL,
        SEARCH_ATTRIBUTE_KEYS,
        SUMMARY_QUERY,
        WORKFLOW_TYPE,
        review_workflow_id,
        workflow_id,
    )
    from workflows.payloads import CalendarUpdate, MergedFrom, RegistrationInput, ReviewInput, ReviewResult
    from workflows.review import LOCAL_RETRY_THRESHOLD, ComplaintReview, load_snapshot


ACTIVITY_TIMEOUT = timedelta(seconds=30)
ACTIVITY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    non_retryable_error_types=["BadCaseData", "UnknownJurisdiction", "NoDispatchRule", "CalendarRangeError"],
)


# Patch ids: each names a change to the workflow logic that alters the commands of running cases. Old histories
# replay down the old path (`workflow.patched` is False there); see tests/workflows/test_replay.py.
PATCH_MERGE_CONFIRMS_TARGET = "merge-into-confirms-open-target"
# `_publish` writes the audit events, outbox notifications and projection of one decision with ONE activity
# (`persist_case_changes`, one transaction) instead of one activity per record; at registration the personal
# data goes in the same batch. Old histories keep one activity per record (and `store_complainant_pii`).
PATCH_PUBLISH_IN_ONE_ACTIVITY = "publish-case-changes-in-one-activity"
# A case whose SLA thresholds already passed (started late, or after a long pause) records them at once.
PATCH_TICK_PASSED_THRESHOLDS = "tick-thresholds-already-passed"
# Registration reads the calendar snapshot and the org directory slice as local activities (read-only,
# short): a decision sent right after the start does not wait for two task-queue round trips.
PATCH_REGISTRATION_LOCAL_LOADS = "registration-loads-as-local-activities"
# A clock turns red 超期 only after its due instant (a stage finished at the due instant is on time), so its
# timer is armed just after the due instant; a pending extension request reminds the supervisor when the
# investigation turns yellow. Both travel with the case's policy: cases that registered before keep the old
# rules (red from the due instant on, no reminder).
PATCH_BREACH_RULES = "breach-after-due-instant-and-extension-reminder"
# The clock's unit is warned at blue 临期 and yellow 预警 (policy `level_warnings`); cases that registered
# before keep 督办 at red only.
PATCH_LEVEL_WARNINGS = "warn-handling-unit-at-blue-and-yellow"
# Notices to a complainant go out on the reply channels of the policy (the original channel: platform message,
# WeChat, hotline call-back plus SMS); cases that registered before keep SMS (WeChat, letter).
PATCH_ORIGINAL_CHANNEL_REPLIES = "reply-through-the-original-channel"
# The complainants of merged duplicates (并单) get every notice of the case and may ask for review; cases that
# registered before answer their own complainant only.
PATCH_MERGED_COMPLAINANTS = "notify-merged-complainants"
# A case taken over from another system starts with its prior decisions applied at their own instants; their
# notices are not sent again. Only starts that carry prior decisions reach this call.
PATCH_TAKE_OVER = "take-over-prior-decisions"
# The review window counts from the day the complainant received the result (the outbox's delivery report, a
# letter's recorded receipt, else a presumed day) and ends at 24:00 of its last day. Stored in the case's
# policy at registration like the breach rules: cases that registered before keep the sending-day window.
PATCH_REVIEW_WINDOW_FROM_RECEIPT = "review-window-from-receipt"
# New calendar data that moves no deadline leaves the timeline (and the read model) alone; the case still
# records the calendar version it counts on.
PATCH_QUIET_CALENDAR_RELOAD = "calendar-reload-records-only-moved-deadlines"
# An investigation completed with rectification required starts the rectification clock (its own item on the
# SLA board, with its own timer); a completion already in a history replays without it.
PATCH_RECTIFICATION_CLOCK = "rectification-tracked-with-its-own-clock"
# A handling unit merging a duplicate during investigation: the target's handling unit is read first (the read
# model) and must be the same unit.
PATCH_MERGE_BY_HANDLING_UNIT = "merge-by-handling-unit-reads-target"
# `persist_case_changes` runs as a local activity, inside the workflow task that took the decision: an update
# answers after that one workflow task instead of waiting for an activity task round trip through the task
# queue and a second workflow task. The batch is in the history as the local activity's result (`echo`), where
# `complaints db rebuild` reads it. Decided at registration: cases that registered before keep the activity.
PATCH_PERSIST_AS_LOCAL_ACTIVITY = "persist-case-changes-as-local-activity"
# A case that starts records ONE marker for every patch above instead of one each: the SDK core keeps each
# marker's state machines (and its search-attribute upsert) for the life of the cached run, 8-10 KiB a marker
# (docs/performance.md, worker memory). A case that started before replays without this marker and decides
# each patch of EARLIER_PATCHES by its own marker, as it did. A patch added later is not in the set.
PATCH_ONE_MARKER_FOR_EARLIER_PATCHES = "one-marker-for-the-earlier-patches"
EARLIER_PATCHES = frozenset({
    PATCH_MERGE_CONFIRMS_TARGET,
    PATCH_PUBLISH_IN_ONE_ACTIVITY,
    PATCH_TICK_PASSED_THRESHOLDS,
    PATCH_REGISTRATION_LOCAL_LOADS,
    PATCH_BREACH_RULES,
    PATCH_LEVEL_WARNINGS,
    PATCH_ORIGINAL_CHANNEL_REPLIES,
    PATCH_MERGED_COMPLAINANTS,
    PATCH_TAKE_OVER,
    PATCH_REVIEW_WINDOW_FROM_RECEIPT,
    PATCH_QUIET_CALENDAR_RELOAD,
    PATCH_RECTIFICATION_CLOCK,
    PATCH_MERGE_BY_HANDLING_UNIT,
    PATCH_PERSIST_AS_LOCAL_ACTIVITY,
})
# A case that closes during a review tells the review child with a signal and waits for it to end, instead of
# cancelling it: a cancel can be swallowed by the child (see `ComplaintReview.case_closed`), and the closing
# decision then never returned.
PATCH_CLOSE_REVIEW_BY_SIGNAL = "close-review-by-signal"


def _validated_registration(raw: ComplaintRegistration | dict[str, Any]) -> ComplaintRegistration:
    if isinstance(raw, ComplaintRegistration):
        return raw
    try:
        return ComplaintRegistration.model_validate(raw)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(input)'}: {e['msg']}" for e in err.errors()
        )
        raise ApplicationError(
            f"invalid registration, no case opened: {problems}", type="InvalidInput", non_retryable=True
        ) from None


def _as_refusal(e: Exception) -> ApplicationError:
    return ApplicationError(str(e), type="DecisionRefused", non_retryable=True)


@workflow.defn(name=WORKFLOW_TYPE)
class ComplaintCase:
    """One case from registration to archive."""

    @workflow.init
    def __init__(self, registration: RegistrationInput, prior: PriorDecisions | None = None) -> None:
        # None when the input is invalid: `run` then fails the start with the fields named
        try:
            self._registration: ComplaintRegistration | None = _validated_registration(registration)
        except ApplicationError:
            self._registration = None
        self._taking_over = prior is not None
        self._state: CaseState | None = None
        self._calendar_version: str | None = None  # of the snapshot self._cal was built from
        self._cal: Any = None
        self._lock = asyncio.Lock()
        self._changed = False
        self._calendar_updates: list[CalendarUpdate] = []
        self._clock_updates: list[SlaClock] = []
        self._review: workflow.ChildWorkflowHandle[ComplaintReview, ReviewResult] | None = None
        self._search: dict[str, Any] = {}
        self._summarized: tuple[CaseState, CaseSummary] | None = None
        self._earlier_patches_in_one_marker: bool | None = None  # decided by the first `_patched`

    def _patched(self, patch_id: str) -> bool:
        """`workflow.patched(patch_id)`; a patch of EARLIER_PATCHES is taken without a marker of its own when the
        case recorded PATCH_ONE_MARKER_FOR_EARLIER_PATCHES. The first call decides that, in the case's first
        workflow task (`run` starts with a patch of the set), so a case that started before replays without it."""
        if patch_id in EARLIER_PATCHES:
            if self._earlier_patches_in_one_marker is None:
                self._earlier_patches_in_one_marker = workflow.patched(PATCH_ONE_MARKER_FOR_EARLIER_PATCHES)
            if self._earlier_patches_in_one_marker:
                return True
        return workflow.patched(patch_id)

    # ------------------------------------------------------------------------------------------ run
    @workflow.run
    async def run(self, registration: RegistrationInput, prior: PriorDecisions | None = None) -> CaseSummary:
        # the one registration object of the case: `__init__` validated this same argument (which arrives as a
        # dict, see workflows.payloads.RegistrationInput); validating again would keep a second copy in memory
        reg = self._registration if self._registration is not None else _validated_registration(registration)
        context_request = CaseContextRequest(
            case_no=reg.case_no, jurisdiction=reg.jurisdiction, category=reg.category.value
        )
        if self._patched(PATCH_REGISTRATION_LOCAL_LOADS):
            await self._set_calendar(await load_snapshot(reg.jurisdiction, reg.received_at, local=True))
            directory = await workflow.execute_local_activity_method(
                CaseActivities.load_case_context,
                context_request,
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=ACTIVITY_RETRY,
                local_retry_threshold=LOCAL_RETRY_THRESHOLD,
            )
        else:
            await self._set_calendar(await load_snapshot(reg.jurisdiction, reg.received_at))
            directory = await workflow.execute_activity_method(
                CaseActivities.load_case_context,
                context_request,
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=ACTIVITY_RETRY,
            )
        directory = shared_directory(directory)  # no I/O, no command: cases of one jurisdiction share the slice
        policy = policy_for(reg.kind, reg.jurisdiction)
        if not self._patched(PATCH_BREACH_RULES):
            policy = policy.model_copy(update={"red_after_due": False, "remind_pending_extension": False})
        # each choice is stored in the policy, so the case keeps the rules it registered with
        if not self._patched(PATCH_LEVEL_WARNINGS):
            policy = policy.model_copy(update={"level_warnings": RED_ONLY_WARNINGS})
        if not self._patched(PATCH_ORIGINAL_CHANNEL_REPLIES):
            policy = policy.model_copy(update={"reply_channels": SMS_REPLIES})
        if not self._patched(PATCH_MERGED_COMPLAINANTS):
            policy = policy.model_copy(update={"notify_merged_complainants": False})
        if not self._patched(PATCH_REVIEW_WINDOW_FROM_RECEIPT):
            policy = policy.model_copy(update={"review_window_from_receipt": False})
        async with self._lock:
            notify = True
            if prior is not None and self._patched(PATCH_TAKE_OVER):
                try:
                    state, events = take_over(reg, prior, directory, policy, workflow.now(), self._cal)
                except DecisionRefused as e:
                    raise ApplicationError(
                        f"prior decisions refused, no case opened: {e}", type="InvalidInput", non_retryable=True
                    ) from None
                notify = False  # the system that took them sent their notices
            else:
                state, events = register(reg, directory, policy, workflow.now(), self._cal)
            self._state = state
            if self._patched(PATCH_PUBLISH_IN_ONE_ACTIVITY):
                await self._publish(events, pii=self._pii_record(reg), notify=notify)
            else:
                await self._store_pii(reg)
                await self._publish(events)
        while True:
            await self._absorb_signals()
            if not self.state.is_open:
                break
            now = workflow.now()
            wake = next_wakeup(self.state, now)
            if needs_tick(self.state, now) and self._patched(PATCH_TICK_PASSED_THRESHOLDS):
                # thresholds already behind us (a case that starts late, or a long pause): record them now
                # instead of waiting for the next future threshold, which may never come
                wake = now
            self._changed = False
            if wake is None or wake > now:
                try:
                    await workflow.wait_condition(
                        lambda: self._changed or bool(self._calendar_updates or self._clock_updates),
                        timeout=(wake - now) if wake is not None else None,
                        timeout_summary="next SLA threshold",
                    )
                except TimeoutError:
                    pass
            async with self._lock:
                # most wake-ups are a decision, not a threshold: skip the transition's deep copy of the state
                # (a tick that records nothing issues no command either way)
                if self.state.is_open and needs_tick(self.state, workflow.now()):
                    new, events = tick(self.state, workflow.now())
                    self._state = new
                    await self._publish(events)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._summary()

    @property
    def state(self) -> CaseState:
        assert self._state is not None
        return self._state

    def _summary(self) -> CaseSummary:
        """`summarize(self.state)`, once per state: a step replaces the state object and never changes it in place,
        so a decision's projection, its update's answer and the queries until the next step share one summary."""
        state = self.state
        if self._summarized is None or self._summarized[0] is not state:
            self._summarized = (state, summarize(state))
        return self._summarized[1]

    # -------------------------------------------------------------------------------- queries, signals
    @workflow.query(name=SUMMARY_QUERY)
    def summary(self) -> CaseSummary:
        """Current state, stage, deadlines, SLA level and timeline (masked personal data only)."""
        if self._state is None:
            raise ApplicationError("the case is still registering")
        return self._summary()

    @workflow.query(name=ALLOWED_DECISIONS_QUERY)
    def allowed_decisions(self, actor: Actor) -> list[str]:
        """The decisions `actor` may take now (the validators' own stage/role/unit/deadline rules)."""
        if self._state is None:
            if self._registration is None or self._taking_over:
                return []  # a take-over's stage comes from its prior decisions, applied in a moment
            return allowed_for_new_case(self._registration, actor)
        allowed = []
        for name in DECISIONS:
            try:
                if refusal(self._state, name, actor, workflow.now(), self._cal) is None:
                    allowed.append(name)
            except CalendarRangeError:
                allowed.append(name)  # past the loaded calendar: the update handler loads more and decides
        return allowed

    @workflow.signal(name=CALENDAR_UPDATED_SIGNAL)
    def calendar_updated(self, update: CalendarUpdate) -> None:
        """New calendar data: future deadlines of running clocks are recomputed."""
        self._calendar_updates.append(update)

    @workflow.signal
    async def merged_from(self, merged: MergedFrom) -> None:
        """A duplicate was merged into this case: its number goes on this case's timeline."""
        await self._ready()
        async with self._lock:
            try:
                new, events = absorb_duplicate(
                    self.state, merged.duplicate_case_no, merged.actor, workflow.now(), merged.complainants
                )
            except DecisionRefused as refused:
                workflow.logger.warning("duplicate not absorbed: %s", refused)
                return
            self._state = new
            await self._publish(events)
            self._changed = True

    @workflow.signal(name=NOTICE_DELIVERED_SIGNAL)
    async def notice_delivered(self, delivery: NoticeDelivered) -> None:
        """The outbox delivered a complainant notice: a feedback notice starts the review window's count."""
        feedback_seq = delivery.event_seq()
        if feedback_seq is None:
            workflow.logger.warning("delivery report with a foreign key ignored: %s", delivery.key)
            return
        await self._ready()
        async with self._lock:
            try:
                new, events = feedback_delivered(
                    self.state, feedback_seq, delivery.delivered_at, workflow.now(), self._cal
                )
            except CalendarRangeError:
                # the window's end lies beyond the loaded calendar: reload up to two years from now, as decisions do
                reg = self.state.registration
                await self._set_calendar(await load_snapshot(reg.jurisdiction, reg.received_at, workflow.now()))
                try:
                    new, events = feedback_delivered(
                        self.state, feedback_seq, delivery.delivered_at, workflow.now(), self._cal
                    )
                except CalendarRangeError as beyond:
                    workflow.logger.warning("delivery of %s not applied: %s", delivery.key, beyond)
                    return
            if events:
                self._state = new
                await self._publish(events)
                self._changed = True

    @workflow.signal(name="review_clock")
    def review_clock(self, clock: SlaClock) -> None:
        """The review child reports its clock (start, level changes, escalation)."""
        self._clock_updates.append(clock)

    async def _absorb_signals(self) -> None:
        while self._calendar_updates or self._clock_updates:
            async with self._lock:
                if self._clock_updates:
                    clock = self._clock_updates.pop(0)
                    if self.state.stage is Stage.under_review and clock.cycle == self.state.reviews:
                        new, events = update_external_clock(self.state, clock, workflow.now())
                        self._state = new
                        await self._publish(events)
                    continue
                update = self._calendar_updates.pop(0)
                if update.version == self._calendar_version:
                    continue
                snap = update.snapshot
                if snap is None:
                    reg = self.state.registration
                    snap = await load_snapshot(reg.jurisdiction, reg.received_at, workflow.now())
                await self._set_calendar(snap)
                if self.state.is_open:
                    new, events = recompute_deadlines(
                        self.state,
                        self._cal,
                        workflow.now(),
                        report_unmoved=not self._patched(PATCH_QUIET_CALENDAR_RELOAD),
                    )
                    self._state = new
                    await self._publish(events)

    # ------------------------------------------------------------------------------------- decisions
    def _validate(self, decision: Any) -> None:
        if self._state is None:
            # still registering (calendar, directory): check what can be checked now; the handler waits for
            # the state and decides the rest
            if self._registration is None:
                raise ApplicationError("the case was not opened: its registration is invalid",
                                       type="DecisionRefused", non_retryable=True)
            if self._taking_over:
                return  # its stage comes from the prior decisions: the handler waits for them and decides
            try:
                precheck_new_case(self._registration, decision, decision.actor)
            except DecisionRefused as e:
                raise _as_refusal(e) from None
            return
        try:
            apply(self._state, decision, decision.actor, workflow.now(), self._cal)
        except DecisionRefused as e:
            raise _as_refusal(e) from None
        except CalendarRangeError:
            pass  # the handler loads more calendar data and decides
        # only here, never in the handler: a decision already in a history was accepted without these fields
        # and must replay (validators do not run on replay)
        problems = new_decision_problems(decision)
        if problems:
            raise _as_refusal(
                DecisionRefused(
                    f"{decision.decision} refused for case {self._state.case_no}: "
                    + "; ".join(f"{field}: {problem}" for field, problem in problems)
                )
            )

    async def _decide(self, decision: Any) -> tuple[CaseState, list[CaseEvent]]:
        try:
            new, events = apply(self.state, decision, decision.actor, workflow.now(), self._cal)
        except DecisionRefused as e:
            raise _as_refusal(e) from None
        except CalendarRangeError:
            # a deadline beyond the loaded calendar data: reload from receipt to about two years from now
            reg = self.state.registration
            await self._set_calendar(await load_snapshot(reg.jurisdiction, reg.received_at, workflow.now()))
            try:
                new, events = apply(self.state, decision, decision.actor, workflow.now(), self._cal)
            except (DecisionRefused, CalendarRangeError) as e:
                raise _as_refusal(e) from None
        self._state = new
        await self._publish(events)
        self._changed = True
        return new, events

    async def _ready(self) -> None:
        await workflow.wait_condition(lambda: self._state is not None)

    async def _simple(self, decision: Any) -> CaseSummary:
        await self._ready()
        async with self._lock:
            await self._decide(decision)
            return self._summary()

    @workflow.update
    async def accept(self, d: AcceptDecision) -> CaseSummary:
        """受理 (fraud reports: open an investigation; misconduct: transfer to 12388)."""
        return await self._simple(d)

    @accept.validator
    def _v_accept(self, d: AcceptDecision) -> None:
        self._validate(d)

    @workflow.update
    async def reject(self, d: RejectDecision) -> CaseSummary:
        """不予受理 with a reason and the right channel."""
        return await self._simple(d)

    @reject.validator
    def _v_reject(self, d: RejectDecision) -> None:
        self._validate(d)

    @workflow.update
    async def assign(self, d: AssignDecision) -> CaseSummary:
        """分类转办 to a handling unit (overrule: back to a unit that returned it)."""
        return await self._simple(d)

    @assign.validator
    def _v_assign(self, d: AssignDecision) -> None:
        self._validate(d)

    @workflow.update
    async def return_case(self, d: ReturnCaseDecision) -> CaseSummary:
        """退单 by the handling unit within the return window."""
        return await self._simple(d)

    @return_case.validator
    def _v_return_case(self, d: ReturnCaseDecision) -> None:
        self._validate(d)

    @workflow.update
    async def request_extension(self, d: RequestExtensionDecision) -> CaseSummary:
        """延期申请 before the investigation deadline."""
        return await self._simple(d)

    @request_extension.validator
    def _v_request_extension(self, d: RequestExtensionDecision) -> None:
        self._validate(d)

    @workflow.update
    async def decide_extension(self, d: DecideExtensionDecision) -> CaseSummary:
        """延期审批 by a supervisor; approval moves the deadline and tells the complainant."""
        return await self._simple(d)

    @decide_extension.validator
    def _v_decide_extension(self, d: DecideExtensionDecision) -> None:
        self._validate(d)

    @workflow.update
    async def complete_investigation(self, d: CompleteInvestigationDecision) -> CaseSummary:
        """调查完结: findings, legal basis, fault, rectification (its own clock)."""
        await self._ready()
        async with self._lock:
            if d.rectification_required:
                track = self._patched(PATCH_RECTIFICATION_CLOCK)
                policy = self.state.policy.model_copy(update={"track_rectification": track})
                self._state = self.state.model_copy(update={"policy": policy})
            await self._decide(d)
            return self._summary()

    @complete_investigation.validator
    def _v_complete_investigation(self, d: CompleteInvestigationDecision) -> None:
        self._validate(d)

    @workflow.update
    async def send_feedback(self, d: SendFeedbackDecision) -> CaseSummary:
        """处理反馈 through the original channel; the review window starts."""
        return await self._simple(d)

    @send_feedback.validator
    def _v_send_feedback(self, d: SendFeedbackDecision) -> None:
        self._validate(d)

    @workflow.update
    async def record_return_visit(self, d: RecordReturnVisitDecision) -> CaseSummary:
        """回访; unsatisfied may send the case back for re-handling 重办."""
        return await self._simple(d)

    @record_return_visit.validator
    def _v_record_return_visit(self, d: RecordReturnVisitDecision) -> None:
        self._validate(d)

    @workflow.update
    async def record_receipt(self, d: RecordReceiptDecision) -> CaseSummary:
        """回执: the day the feedback letter arrived; the review window counts from the day after."""
        return await self._simple(d)

    @record_receipt.validator
    def _v_record_receipt(self, d: RecordReceiptDecision) -> None:
        self._validate(d)

    @workflow.update
    async def request_review(self, d: RequestReviewDecision) -> CaseSummary:
        """复核申请 within the review window: starts `ComplaintReview` at the higher bureau."""
        await self._ready()
        async with self._lock:
            state, _ = await self._decide(d)
            unit = state.directory.unit(state.review_unit or "")
            clock = state.running("review")
            assert clock is not None
            self._review = await workflow.start_child_workflow(
                ComplaintReview.run,
                ReviewInput(
                    case_no=state.case_no,
                    review_no=state.reviews,
                    parent_workflow_id=workflow.info().workflow_id,
                    review_unit=unit.unit_id,
                    jurisdiction=unit.jurisdiction,
                    requested_at=clock.started_at,
                    working_days=state.policy.review_decision_wd,
                    blue_fraction=state.policy.blue_fraction,
                    escalation_wd=state.policy.escalation_wd,
                    red_after_due=state.policy.red_after_due,
                ),
                id=review_workflow_id(state.case_no, state.reviews),
                result_type=ReviewResult,
            )
            return self._summary()

    @request_review.validator
    def _v_request_review(self, d: RequestReviewDecision) -> None:
        self._validate(d)

    @workflow.update
    async def decide_review(self, d: DecideReviewDecision) -> CaseSummary:
        """复核决定 by the higher bureau, forwarded to the review child; overturn reopens the investigation."""
        await self._ready()
        async with self._lock:
            if self._review is None:
                raise _as_refusal(
                    DecisionRefused(
                        f"decide_review refused for case {self.state.case_no}: no review is running"
                    )
                )
            await self._review.signal(ComplaintReview.decide, d)
            result = await self._review
            self._review = None
            await self._decide(d)
            self._clock_updates = [c for c in self._clock_updates if c.cycle != result.clock.cycle]
            return self._summary()

    @decide_review.validator
    def _v_decide_review(self, d: DecideReviewDecision) -> None:
        self._validate(d)

    @workflow.update
    async def withdraw(self, d: WithdrawDecision) -> CaseSummary:
        """撤回 by the complainant (recorded by intake): closes the case in any open stage."""
        return await self._close_case(d)

    @withdraw.validator
    def _v_withdraw(self, d: WithdrawDecision) -> None:
        self._validate(d)

    @workflow.update
    async def merge_into(self, d: MergeIntoDecision) -> CaseSummary:
        """并单: a duplicate of an open case closes as merged; the target case records the duplicate."""
        await self._ready()
        async with self._lock:
            if d.actor.role is Role.caseworker and self._patched(PATCH_MERGE_BY_HANDLING_UNIT):
                target_view = await workflow.execute_activity_method(
                    CaseActivities.load_merge_target,
                    d.target_case_no,
                    start_to_close_timeout=ACTIVITY_TIMEOUT,
                    retry_policy=ACTIVITY_RETRY,
                )
                problem = merge_target_problem(
                    d.actor, d.target_case_no, target_view.open, target_view.handling_unit
                )
                if problem:
                    raise _as_refusal(
                        DecisionRefused(f"merge_into refused for case {self.state.case_no}: {problem}")
                    )
            if self._patched(PATCH_MERGE_CONFIRMS_TARGET):
                # The target is told first: a signal to a case that is closed or does not exist fails, and the
                # duplicate then stays open instead of pointing at a matter nobody handles.
                target = workflow.get_external_workflow_handle(workflow_id(d.target_case_no))
                reg = self.state.registration
                try:
                    await target.signal(
                        ComplaintCase.merged_from,
                        MergedFrom(
                            duplicate_case_no=self.state.case_no,
                            actor=d.actor,
                            complainants=[
                                MergedComplainant(
                                    case_no=reg.case_no, kind=reg.kind, channel=reg.channel,
                                    complainant=reg.complainant,
                                ),
                                *self.state.merged_complainants,
                            ],
                        ),
                    )
                except FailureError:
                    raise _as_refusal(
                        DecisionRefused(
                            f"merge_into refused for case {self.state.case_no}: target case "
                            f"{d.target_case_no} is not an open case"
                        )
                    ) from None
            await self._decide(d)
            return self._summary()

    @merge_into.validator
    def _v_merge_into(self, d: MergeIntoDecision) -> None:
        self._validate(d)

    @workflow.update
    async def record_administrative_remedy(self, d: RecordAdministrativeRemedyDecision) -> CaseSummary:
        """行政复议 / 行政诉讼: record where the complainant took the matter (body, reference, date); closes the
        case (from investigation on)."""
        return await self._close_case(d)

    @record_administrative_remedy.validator
    def _v_record_administrative_remedy(self, d: RecordAdministrativeRemedyDecision) -> None:
        self._validate(d)

    @workflow.update
    async def complete_rectification(self, d: CompleteRectificationDecision) -> CaseSummary:
        """整改完成: the handling unit records that the institution rectified; its clock stops."""
        return await self._simple(d)

    @complete_rectification.validator
    def _v_complete_rectification(self, d: CompleteRectificationDecision) -> None:
        self._validate(d)

    @workflow.update
    async def decide_reward(self, d: DecideRewardDecision) -> CaseSummary:
        """举报奖励 on a verified fraud report: granted or not, the amount band."""
        return await self._simple(d)

    @decide_reward.validator
    def _v_decide_reward(self, d: DecideRewardDecision) -> None:
        self._validate(d)

    async def _close_case(self, d: WithdrawDecision | RecordAdministrativeRemedyDecision) -> CaseSummary:
        """A decision that closes the case, also while it is under review: the running review child is
        cancelled."""
        await self._ready()
        async with self._lock:
            await self._decide(d)
            if self._review is not None:
                if workflow.patched(PATCH_CLOSE_REVIEW_BY_SIGNAL):
                    await self._review.signal(ComplaintReview.case_closed)
                else:
                    self._review.cancel()
                try:
                    await self._review
                except (ChildWorkflowError, asyncio.CancelledError):
                    pass
                self._review = None
            return self._summary()

    # ---------------------------------------------------------------------------------- side effects
    async def _set_calendar(self, snap: CalendarSnapshot) -> None:
        # the snapshot itself is not kept: cases on equal snapshots share one calendar (no I/O, no commands)
        self._calendar_version = snap.version
        self._cal = shared_calendar(snap)

    @staticmethod
    def _pii_record(reg: ComplaintRegistration) -> ComplainantPiiRecord:
        p = reg.complainant
        return ComplainantPiiRecord(
            case_no=reg.case_no,
            name=p.name,
            id_number=p.id_number,
            phone=p.phone,
            card_number=p.card_number,
            address=p.address,
            confidential_reporter=reg.kind is CaseKind.fraud_report,
        )

    async def _store_pii(self, reg: ComplaintRegistration) -> None:
        await workflow.execute_activity_method(
            CaseActivities.store_complainant_pii,
            self._pii_record(reg),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=ACTIVITY_RETRY,
        )

    def _contact(self, n: Notice) -> str | None:
        """The complainant's address for a letter, their phone (the platform and WeChat accounts are bound to
        it) for anything else; the merged duplicate's complainant for their own notices."""
        if not n.to_complainant:
            return None
        person = self.state.registration.complainant
        if n.merged_case_no is not None:
            person = next(m.complainant for m in self.state.merged_complainants if m.case_no == n.merged_case_no)
        if n.channel == "letter" and person.address:
            return person.address
        return person.phone

    def _event_record(self, ev: CaseEvent) -> CaseEventRecord:
        case_no = self.state.case_no
        return CaseEventRecord(
            case_no=case_no,
            seq=ev.seq,
            event_key=f"{case_no}:{ev.seq}:{ev.kind}",
            kind=ev.kind,
            stage=ev.stage.value,
            at=ev.at,
            actor_id=ev.actor_id,
            actor_role=ev.actor_role,
            actor_unit=ev.actor_unit,
            details=ev.details,
        )

    def _notifications(self, ev: CaseEvent) -> list[NotificationRequest]:
        state = self.state
        case_no = state.case_no
        return [
            NotificationRequest(
                key=notification_key(case_no, ev.seq, n.index, n.audience),
                case_no=case_no,
                audience=n.audience,  # type: ignore[arg-type]
                channel=n.channel,  # type: ignore[arg-type]
                recipient_ref=n.recipient_ref,
                recipient_contact=self._contact(n),
                template=n.template,
                params=n.params,
                at=ev.at,
            )
            for n in notices_for(state, ev)
        ]

    async def _publish(
        self, events: list[CaseEvent], pii: ComplainantPiiRecord | None = None, notify: bool = True
    ) -> None:
        """Audit trail + outbox for each event (no outbox when `notify` is False), one projection (one activity
        since PATCH_PUBLISH_IN_ONE_ACTIVITY), then the search attributes. `pii` and `notify` only on the new
        path."""
        if not events:
            return
        # not a command: replay does not see it, and the SDK's logger stays silent while replaying
        workflow.logger.info(
            "events %s, now in stage %s", ", ".join(ev.kind for ev in events), self.state.stage.value
        )
        if self._patched(PATCH_PUBLISH_IN_ONE_ACTIVITY):
            local = self._patched(PATCH_PERSIST_AS_LOCAL_ACTIVITY)
            changes = CaseChanges(
                events=[self._event_record(ev) for ev in events],
                notifications=[n for ev in events for n in self._notifications(ev)] if notify else [],
                projection=self._projection(),
                pii=pii,
                # the history keeps a local activity's result, not its input: the batch comes back in it
                echo=local,
            )
            if local:
                await workflow.execute_local_activity_method(
                    CaseActivities.persist_case_changes,
                    changes,
                    start_to_close_timeout=ACTIVITY_TIMEOUT,
                    retry_policy=ACTIVITY_RETRY,
                    local_retry_threshold=LOCAL_RETRY_THRESHOLD,
                )
            else:
                await workflow.execute_activity_method(
                    CaseActivities.persist_case_changes,
                    changes,
                    start_to_close_timeout=ACTIVITY_TIMEOUT,
                    retry_policy=ACTIVITY_RETRY,
                )
            self._upsert_search_attributes()
            return
        # the old path: the same records, one activity each (the order of the commands is what replay checks)
        calls = []
        for ev in events:
            calls.append(
                workflow.execute_activity_method(
                    CaseActivities.record_case_event,
                    self._event_record(ev),
                    start_to_close_timeout=ACTIVITY_TIMEOUT,
                    retry_policy=ACTIVITY_RETRY,
                )
            )
            calls += [
                workflow.execute_activity_method(
                    CaseActivities.enqueue_notification,
                    notification,
                    start_to_close_timeout=ACTIVITY_TIMEOUT,
                    retry_policy=ACTIVITY_RETRY,
                )
                for notification in self._notifications(ev)
            ]
        await asyncio.gather(*calls)
        await workflow.execute_activity_method(
            CaseActivities.project_case,
            self._projection(),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=ACTIVITY_RETRY,
        )
        self._upsert_search_attributes()

    def _projection(self) -> CaseProjection:
        s = self.state
        summ = self._summary()
        reg = s.registration
        person = MaskedPerson()
        if summ.complainant is not None:
            person = MaskedPerson(**summ.complainant.model_dump())
        return CaseProjection(
            case_no=reg.case_no,
            version=len(s.events),
            kind=reg.kind.value,
            channel=reg.channel.value,
            category=reg.category.value,
            jurisdiction=reg.jurisdiction,
            handling_unit=s.handling_unit,
            stage=s.stage.value,
            open=s.is_open,
            sla_level=summ.sla_level,
            due_at=summ.next_due_at,
            provisional=summ.any_provisional,
            extension_status=s.extension_status,
            returns=len(s.returned_by),
            rehandlings=s.rehandlings,
            satisfaction=s.satisfaction.value if s.satisfaction else None,
            review_outcome=s.review_outcome.value if s.review_outcome else None,
            close_reason=s.close_reason.value if s.close_reason else None,
            registered_at=reg.received_at,
            accepted_at=s.accepted_at,
            investigation_completed_at=s.investigation.completed_at if s.investigation else None,
            feedback_sent_at=s.feedback_sent_at,
            closed_at=s.closed_at,
            updated_at=workflow.now(),
            complainant=person,
            confidential_reporter=s.confidential_reporter,
            clocks=[SlaClockRecord.model_validate(c.model_dump()) for c in s.clocks],
        )

    def _upsert_search_attributes(self) -> None:
        s = self.state
        wanted: dict[str, Any] = {
            "CaseStage": s.stage.value,
            "SlaLevel": sla.overall_level(s.clocks),
            "DueAt": sla.next_due(s.clocks),
            "Jurisdiction": s.registration.jurisdiction,
            "HandlingUnit": s.handling_unit,
            "Channel": s.registration.channel.value,
            "CaseKind": s.registration.kind.value,
        }
        keys = SEARCH_ATTRIBUTE_KEYS
        updates: list[SearchAttributeUpdate[Any]] = []
        for name, value in wanted.items():
            if name in self._search and self._search[name] == value:
                continue
            if value is None:
                if name in self._search:
                    updates.append(keys[name].value_unset())
            else:
                updates.append(keys[name].value_set(value))
            self._search[name] = value
        if updates:
            workflow.upsert_search_attributes(updates)
