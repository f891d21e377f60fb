"""The contract's fixed names live in `common.contract`; the workflow, the published schemas index and the
compose file's operator setup all say the same, so an intake system that follows any of them gets it right."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from temporalio import workflow

from cases.models import DECISION_MODELS
from common import contract
from workflows import ComplaintCase, ComplaintReview

ROOT = Path(__file__).resolve().parents[2]


def test_the_workflow_answers_to_the_contract_names() -> None:
    case = workflow._Definition.from_class(ComplaintCase)
    review = workflow._Definition.from_class(ComplaintReview)
    assert case is not None and review is not None
    assert case.name == contract.WORKFLOW_TYPE and review.name == contract.REVIEW_WORKFLOW_TYPE
    assert contract.SUMMARY_QUERY in case.queries
    assert contract.CALENDAR_UPDATED_SIGNAL in case.signals
    # every decision of the core is an update of the same name, and nothing else is
    assert set(case.updates) == set(DECISION_MODELS)
    assert contract.workflow_id("SX2026112000123") == "complaint-SX2026112000123"
    assert contract.review_workflow_id("SX2026112000123", 2) == "complaint-SX2026112000123-review-2"


def test_the_published_schemas_index_matches_the_contract() -> None:
    index = json.loads((ROOT / "schemas" / "index.json").read_text(encoding="utf-8"))
    assert index["workflow_type"] == contract.WORKFLOW_TYPE
    assert index["task_queue"] == contract.TASK_QUEUE
    assert index["workflow_id"] == contract.workflow_id("<case_no>")
    assert set(index["queries"]) == {contract.SUMMARY_QUERY}
    assert set(index["updates"]) == set(DECISION_MODELS)
    assert index["search_attributes"] == contract.SEARCH_ATTRIBUTES


def test_the_compose_file_registers_exactly_the_contract_search_attributes() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    setup = " ".join(compose["services"]["temporal-setup"]["command"])
    registered = dict(re.findall(r"\b([A-Z][A-Za-z]+)=(Keyword|Datetime)\b", setup))
    assert registered == contract.SEARCH_ATTRIBUTES
    app_env = compose["x-app-env"]
    # the services run on the contract's task queue unless an operator sets another one on purpose
    assert app_env.get("COMPLAINTS_TASK_QUEUE", contract.TASK_QUEUE) == contract.TASK_QUEUE
