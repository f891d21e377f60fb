"""Errors raised by the pure case rules.

`DecisionRefused` is the one a caller sees when a decision does not fit the case: its message says why
(stage, role, unit, deadline passed, ...). The workflow turns it into a rejected Workflow Update, so a refused
decision leaves nothing in the workflow history.
"""

from __future__ import annotations


class CaseRuleError(Exception):
    """Base class of every error raised by the case rules."""


class DecisionRefused(CaseRuleError):
    """A decision is not allowed now: wrong stage, role, unit, a passed deadline, or bad content."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnknownUnit(CaseRuleError):
    """A unit id that is not in the organisation directory slice the case holds."""

    def __init__(self, unit_id: str) -> None:
        super().__init__(f"unit {unit_id!r} is not in the organisation directory")
        self.unit_id = unit_id
