"""Temporal workflows of the complaint system: `ComplaintCase` (one per case) and its `ComplaintReview` child.

A worker registers both through the one recipe, `workers.main.build_worker` (task queue `complaints`, the
project's sandbox runner, every activity). May import the core, `common` and `activities`; never `clients`,
`dashboard` or `workers`.
"""

from common.contract import TASK_QUEUE, review_workflow_id, workflow_id
from workflows.complaint_case import ComplaintCase
from workflows.payloads import CalendarUpdate, ReviewInput, ReviewResult
from workflows.review import ComplaintReview

WORKFLOWS = [ComplaintCase, ComplaintReview]

__all__ = [
    "TASK_QUEUE",
    "WORKFLOWS",
    "CalendarUpdate",
    "ComplaintCase",
    "ComplaintReview",
    "ReviewInput",
    "ReviewResult",
    "review_workflow_id",
    "workflow_id",
]
