"""Temporal workflows of the complaint system: `ComplaintCase` (one per case) and its `ComplaintReview` child.

Register both on a worker of task queue `complaints`: `Worker(client, task_queue="complaints",
workflows=WORKFLOWS, activities=activities.all_activities(pool))`.
"""

from common.contract import TASK_QUEUE, review_workflow_id, workflow_id
from workflows.complaint_case import CalendarUpdate, ComplaintCase
from workflows.review import ComplaintReview, ReviewInput, ReviewResult

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
