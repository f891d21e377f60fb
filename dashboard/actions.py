"""The dashboard's only write: a supervisor approves or refuses an extension, as a Workflow Update
(`decide_extension`) sent with the supervisor's identity through the typed client `clients.case_client`.
The workflow's validator decides whether the supervisor may (role, unit in the supervisor chain, stage)."""

from __future__ import annotations

import asyncio
from typing import Any

from cases.models import Actor, DecideExtensionDecision, Role
from clients.case_client import CaseClient
from common.settings import Settings


def extension_decision(actor_id: str, unit_id: str, approve: bool, note: str = "") -> DecideExtensionDecision:
    """The Update input: the supervisor's identity and the decision."""
    return DecideExtensionDecision(
        actor=Actor(id=actor_id, role=Role.supervisor, unit_id=unit_id), approve=approve, note=note
    )


async def decide_extension_async(
    settings: Settings, case_no: str, decision: DecideExtensionDecision, client: Any = None
) -> str | None:
    """Send the decision; returns the case's extension status after it. Refusals raise
    `clients.case_client.CaseClientError` subclasses (with a message fit for a person)."""
    cc = client or await CaseClient.connect(settings)
    summary = await cc.decide(case_no, "decide_extension", decision)
    return summary.extension_status


def decide_extension(settings: Settings, case_no: str, decision: DecideExtensionDecision) -> str | None:
    """Synchronous wrapper for the Streamlit script thread."""
    return asyncio.run(decide_extension_async(settings, case_no, decision))
