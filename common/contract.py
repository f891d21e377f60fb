"""The public contract's fixed names, each written once: what an intake system in any language must match.

Task queue, workflow types, workflow ids, the search attributes and the query and signal names. Update names
are the decision names of `cases.models.DECISION_MODELS`, one `ComplaintCase` method each; a test checks the
workflow, `docker-compose.yml` and `schemas/index.json` against this module. Imports nothing of the project.
"""

from __future__ import annotations

from typing import Any

from temporalio.common import SearchAttributeKey

TASK_QUEUE = "complaints"
WORKFLOW_TYPE = "ComplaintCase"
REVIEW_WORKFLOW_TYPE = "ComplaintReview"
WORKFLOW_ID_PREFIX = "complaint-"

SUMMARY_QUERY = "summary"
ALLOWED_DECISIONS_QUERY = "allowed_decisions"
CALENDAR_UPDATED_SIGNAL = "calendar_updated"
# The outbox sender tells a case when a complainant notice of one of these templates was delivered: the review
# window counts from the day the complainant received the result.
NOTICE_DELIVERED_SIGNAL = "notice_delivered"
DELIVERY_REPORTED_TEMPLATES: tuple[str, ...] = ("case_feedback",)

CASE_STAGE = SearchAttributeKey.for_keyword("CaseStage")
SLA_LEVEL = SearchAttributeKey.for_keyword("SlaLevel")
DUE_AT = SearchAttributeKey.for_datetime("DueAt")
JURISDICTION = SearchAttributeKey.for_keyword("Jurisdiction")
HANDLING_UNIT = SearchAttributeKey.for_keyword("HandlingUnit")
CHANNEL = SearchAttributeKey.for_keyword("Channel")
CASE_KIND = SearchAttributeKey.for_keyword("CaseKind")

# name -> key, in the order operators register them
SEARCH_ATTRIBUTE_KEYS: dict[str, SearchAttributeKey[Any]] = {
    key.name: key for key in (CASE_STAGE, SLA_LEVEL, DUE_AT, JURISDICTION, HANDLING_UNIT, CHANNEL, CASE_KIND)
}
# name -> Temporal's indexed value type, as `temporal operator search-attribute create --type` spells it
SEARCH_ATTRIBUTES: dict[str, str] = {
    name: "Datetime" if key is DUE_AT else "Keyword" for name, key in SEARCH_ATTRIBUTE_KEYS.items()
}


def workflow_id(case_no: str) -> str:
    """`complaint-<case_no>`: the one workflow of a case."""
    return f"{WORKFLOW_ID_PREFIX}{case_no}"


def review_workflow_id(case_no: str, review_no: int) -> str:
    """`complaint-<case_no>-review-<n>`: the review of a case at the higher bureau."""
    return f"{workflow_id(case_no)}-review-{review_no}"


def case_no_of(workflow_id: str) -> str | None:
    """The case number in a case's or a review's workflow id; None for any other workflow."""
    if not workflow_id.startswith(WORKFLOW_ID_PREFIX):
        return None
    case_no, _, _ = workflow_id.removeprefix(WORKFLOW_ID_PREFIX).partition("-review-")
    return case_no or None
