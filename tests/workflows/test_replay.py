"""Replay the checked-in histories of the workflow scenarios against the current workflow code.

A change to `ComplaintCase` / `ComplaintReview` / `BureauReports` that would break running cases (non-determinism) fails here.
Histories live in `tests/workflows/histories/*.json`; regenerate them with
`COMPLAINTS_RECORD_HISTORIES=1 .venv/bin/pytest tests/workflows/test_complaint_workflow.py` (they are encrypted with
the fixed test-only codec key of `helpers.cases`, so they replay on any machine). A deliberate
logic change must go behind `workflow.patched(...)` so the old histories still replay.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from helpers.cases import fixed_key_data_converter
from helpers.histories import HISTORIES
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from workflows import WORKFLOWS

RECORDED = sorted(HISTORIES.glob("*.json"))


def _history(path: Path) -> WorkflowHistory:
    doc = json.loads(path.read_text())
    return WorkflowHistory.from_json(f"recorded-{path.stem}", doc)


def test_histories_are_checked_in() -> None:
    names = {p.stem for p in RECORDED}
    assert {"happy_path", "rejected", "review_overturned", "sla_spring_festival", "calendar_update",
            "reports_first_working_day"} <= names


@pytest.mark.parametrize("path", RECORDED, ids=[p.stem for p in RECORDED])
async def test_replay(path: Path) -> None:
    history = _history(path)
    replayer = Replayer(workflows=WORKFLOWS, data_converter=fixed_key_data_converter())
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None


def _patch_markers(path: Path) -> set[str]:
    """Patch ids recorded in a history (MarkerRecorded events named core_patch)."""
    doc = json.loads(path.read_text())
    found: set[str] = set()
    for event in doc["events"]:
        attrs = event.get("markerRecordedEventAttributes")
        if attrs and attrs.get("markerName") == "core_patch":
            for payload in attrs["details"]["patch-data"]["payloads"]:
                found.add(json.loads(base64.b64decode(payload["data"]))["id"])
    return found


def test_merge_change_is_replayed_on_both_paths() -> None:
    """`merge_into` tells the target since PATCH_MERGE_CONFIRMS_TARGET: the history recorded before the
    change has no marker (old path), the one recorded after has it (new path); both replay above."""
    from workflows.complaint_case import PATCH_MERGE_CONFIRMS_TARGET

    before = _patch_markers(HISTORIES / "merged.json")
    after = _patch_markers(HISTORIES / "merged_into_open_target.json")
    assert PATCH_MERGE_CONFIRMS_TARGET not in before
    assert PATCH_MERGE_CONFIRMS_TARGET in after


def test_take_over_is_replayed_with_its_marker() -> None:
    """Only a start that carries prior decisions reaches PATCH_TAKE_OVER: the take-over history has the marker
    (new path, replayed above); histories without prior decisions never call it."""
    from workflows.complaint_case import PATCH_TAKE_OVER

    assert PATCH_TAKE_OVER in _patch_markers(HISTORIES / "taken_over.json")
    assert PATCH_TAKE_OVER not in _patch_markers(HISTORIES / "happy_path_batched.json")


def test_publish_change_is_replayed_on_both_paths() -> None:
    """`_publish` writes a decision with one `persist_case_changes` activity since PATCH_PUBLISH_IN_ONE_ACTIVITY:
    the happy path recorded before the change has no marker and one activity per record (old path), the one
    recorded after has the marker and only batched writes (new path); both replay above."""
    from workflows.complaint_case import PATCH_PUBLISH_IN_ONE_ACTIVITY

    before, after = HISTORIES / "happy_path.json", HISTORIES / "happy_path_batched.json"
    assert PATCH_PUBLISH_IN_ONE_ACTIVITY not in _patch_markers(before)
    assert PATCH_PUBLISH_IN_ONE_ACTIVITY in _patch_markers(after)
    assert {"record_case_event", "project_case", "store_complainant_pii"} <= _activity_types(before)
    assert "persist_case_changes" not in _activity_types(before)
    assert "persist_case_changes" in _activity_types(after)
    assert not {"record_case_event", "enqueue_notification", "project_case", "store_complainant_pii"} & (
        _activity_types(after)
    )


def _activity_types(path: Path) -> set[str]:
    doc = json.loads(path.read_text())
    return {
        attrs["activityType"]["name"]
        for event in doc["events"]
        if (attrs := event.get("activityTaskScheduledEventAttributes"))
    }


def test_registration_loads_change_is_replayed_on_both_paths() -> None:
    """Since PATCH_REGISTRATION_LOCAL_LOADS the calendar snapshot and the directory slice are local activities
    (markers in history, no scheduled activity tasks); the batched happy path recorded before has them as
    regular activities. Both replay above."""
    from workflows.complaint_case import PATCH_REGISTRATION_LOCAL_LOADS

    before, after = HISTORIES / "happy_path_batched.json", HISTORIES / "happy_path_local_loads.json"
    assert PATCH_REGISTRATION_LOCAL_LOADS not in _patch_markers(before)
    assert PATCH_REGISTRATION_LOCAL_LOADS in _patch_markers(after)
    assert {"load_calendar_snapshot", "load_case_context"} <= _activity_types(before)
    assert not {"load_calendar_snapshot", "load_case_context"} & _activity_types(after)
    assert _activity_types(after) == {"persist_case_changes"}


def test_breach_rules_change_is_replayed_on_both_paths() -> None:
    """Since PATCH_BREACH_RULES a clock turns red just after its due instant and a pending extension reminds its
    approver: the cases recorded before (red at the due instant itself, no reminder) replay on the old rules, the
    late approval recorded after has the marker and the reminder. Both replay above."""
    from workflows.complaint_case import PATCH_BREACH_RULES

    before, after = HISTORIES / "sla_golden_week.json", HISTORIES / "late_extension_approval.json"
    assert PATCH_BREACH_RULES not in _patch_markers(before)
    assert PATCH_BREACH_RULES in _patch_markers(after)


def test_notice_changes_are_replayed_on_both_paths() -> None:
    """Since the three notice patches a case registers with the warnings at blue and yellow, the replies through
    the original channel and the merged complainants in its policy: the cases recorded before carry none of the
    markers (and replay with red-only warnings, SMS replies, no merged complainants), the two recorded after carry
    them. All replay above."""
    from workflows.complaint_case import (
        PATCH_LEVEL_WARNINGS,
        PATCH_MERGED_COMPLAINANTS,
        PATCH_ORIGINAL_CHANNEL_REPLIES,
    )

    patches = {PATCH_LEVEL_WARNINGS, PATCH_ORIGINAL_CHANNEL_REPLIES, PATCH_MERGED_COMPLAINANTS}
    for before in ("late_extension_approval", "merged_into_open_target", "sla_golden_week"):
        assert not patches & _patch_markers(HISTORIES / f"{before}.json")
    for after in ("level_warnings_golden_week", "merged_complainant_answered"):
        assert patches <= _patch_markers(HISTORIES / f"{after}.json")


def _signals(path: Path) -> set[str]:
    doc = json.loads(path.read_text())
    return {
        attrs["signalName"]
        for event in doc["events"]
        if (attrs := event.get("workflowExecutionSignaledEventAttributes"))
    }


def test_review_window_change_is_replayed_on_both_paths() -> None:
    """Since PATCH_REVIEW_WINDOW_FROM_RECEIPT the review window counts from the complainant's receipt (the outbox's
    `notice_delivered` signal, a letter's `record_receipt`) and ends at 24:00: the happy path recorded before
    counts from the sending day, the two recorded after have the marker and the receipt. All replay above."""
    from workflows.complaint_case import PATCH_REVIEW_WINDOW_FROM_RECEIPT

    before = HISTORIES / "happy_path_local_loads.json"
    delivered, letter = HISTORIES / "review_window_from_delivery.json", HISTORIES / "review_window_letter_receipt.json"
    assert PATCH_REVIEW_WINDOW_FROM_RECEIPT not in _patch_markers(before)
    assert PATCH_REVIEW_WINDOW_FROM_RECEIPT in _patch_markers(delivered) & _patch_markers(letter)
    assert "notice_delivered" in _signals(delivered)
    updates = json.loads(letter.read_text())["events"]
    assert any(
        e.get("workflowExecutionUpdateAcceptedEventAttributes", {}).get("acceptedRequest", {}).get("input", {}).get(
            "name"
        )
        == "record_receipt"
        for e in updates
    )


def test_quiet_calendar_reload_is_replayed_on_both_paths() -> None:
    """Since PATCH_QUIET_CALENDAR_RELOAD a reload that moves no deadline writes nothing: the calendar update
    recorded before has no marker, the unmoved reload recorded after has it. Both replay above."""
    from workflows.complaint_case import PATCH_QUIET_CALENDAR_RELOAD

    assert PATCH_QUIET_CALENDAR_RELOAD not in _patch_markers(HISTORIES / "calendar_update.json")
    assert PATCH_QUIET_CALENDAR_RELOAD in _patch_markers(HISTORIES / "calendar_reload_unmoved.json")


def test_rectification_change_is_replayed_on_both_paths() -> None:
    """Since PATCH_RECTIFICATION_CLOCK a completion that requires rectification starts its own clock: the happy
    path completed that way before the change (no marker, no clock), the rectification scenario after it (the
    marker). Both replay above. A handling unit's merge reads
    its target since PATCH_MERGE_BY_HANDLING_UNIT (no history holds the old path: it was refused before)."""
    from workflows.complaint_case import PATCH_MERGE_BY_HANDLING_UNIT, PATCH_RECTIFICATION_CLOCK

    before, after = HISTORIES / "happy_path_local_loads.json", HISTORIES / "rectification_tracked.json"
    assert PATCH_RECTIFICATION_CLOCK not in _patch_markers(before)
    assert PATCH_RECTIFICATION_CLOCK in _patch_markers(after)
    merged = HISTORIES / "merged_in_investigation.json"
    assert PATCH_MERGE_BY_HANDLING_UNIT in _patch_markers(merged)
    assert "load_merge_target" in _activity_types(merged)
def test_local_persistence_change_is_replayed_on_both_paths() -> None:
    """Since PATCH_PERSIST_AS_LOCAL_ACTIVITY `persist_case_changes` is a local activity (a marker in the decision's
    workflow task, no scheduled activity task); the happy path recorded before schedules it through the task
    queue. Both replay above."""
    from workflows.complaint_case import PATCH_PERSIST_AS_LOCAL_ACTIVITY

    before, after = HISTORIES / "happy_path_local_loads.json", HISTORIES / "decisions_persisted_locally.json"
    assert PATCH_PERSIST_AS_LOCAL_ACTIVITY not in _patch_markers(before)
    assert PATCH_PERSIST_AS_LOCAL_ACTIVITY in _patch_markers(after)
    assert "persist_case_changes" in _activity_types(before)
    assert _activity_types(after) == set()


def test_review_closing_change_is_replayed_on_both_paths() -> None:
    """Since PATCH_CLOSE_REVIEW_BY_SIGNAL a case that closes during its review signals the review child
    (`case_closed`) instead of cancelling it; the administrative remedy recorded before cancels it. Both replay
    above."""
    from workflows.complaint_case import PATCH_CLOSE_REVIEW_BY_SIGNAL

    before, after = HISTORIES / "administrative_remedy_in_review.json", HISTORIES / "review_closed_by_signal.json"
    assert PATCH_CLOSE_REVIEW_BY_SIGNAL not in _patch_markers(before)
    assert PATCH_CLOSE_REVIEW_BY_SIGNAL in _patch_markers(after)
    assert _event_types(before) >= {"EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED"}
    assert "EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED" not in _event_types(after)
    assert "EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED" in _event_types(after)


def _event_types(path: Path) -> set[str]:
    return {str(event["eventType"]) for event in json.loads(path.read_text())["events"]}
