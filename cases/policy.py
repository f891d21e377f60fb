"""Case policy as data: the time limits of each case kind, how answers reach a complainant and who is warned at
each SLA level, overridable per jurisdiction (`cases/data/policy_overrides.json`).

A case copies its policy into its state when it registers, so a later change of these defaults never changes
the deadlines, the notices (or the workflow history) of a running case.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from cases.models import CaseKind, Channel

# How an answer reaches the complainant: SMS, a recorded call-back by the hotline desk, a message on the
# national platform (app / web), a WeChat message, or a letter.
ReplyChannel = Literal["sms", "callback", "app", "web", "wechat", "letter"]
# Who is told when a clock reaches a level: the clock's unit, or that unit's supervisor.
WarningRecipient = Literal["handling_unit", "supervisor"]
WarnedLevel = Literal["blue", "yellow", "red"]

# The original channel back (seed 001: 通过原受理渠道): platform message for the app and websites, WeChat for
# WeChat, a call-back plus an SMS for the hotline; the service hall answers by SMS and the mail room by letter.
ORIGINAL_CHANNEL_REPLIES: dict[Channel, list[ReplyChannel]] = {
    Channel.hotline_12393: ["callback", "sms"],
    Channel.national_app: ["app"],
    Channel.national_web: ["web"],
    Channel.provincial_web: ["web"],
    Channel.wechat: ["wechat"],
    Channel.service_hall: ["sms"],
    Channel.mail: ["letter"],
}
# The replies of cases registered before answers went back through the original channel.
SMS_REPLIES: dict[Channel, list[ReplyChannel]] = {
    c: ["wechat"] if c is Channel.wechat else ["letter"] if c is Channel.mail else ["sms"] for c in Channel
}
LEVEL_WARNINGS: dict[WarnedLevel, list[WarningRecipient]] = {
    "blue": ["handling_unit"],
    "yellow": ["handling_unit"],
    "red": ["supervisor"],
}
# Only 督办 at red, for cases registered before the blue and yellow warnings.
RED_ONLY_WARNINGS: dict[WarnedLevel, list[WarningRecipient]] = {"red": ["supervisor"]}


class SlaPolicy(BaseModel):
    """Time limits of one case kind (WD = working days on the handling bureau's calendar), the channels that
    answer its complainants and who is warned at each SLA level."""

    acceptance_wd: int = Field(default=2, ge=1, description="accept or reject within this many WD of receipt")
    investigation_wd: int = Field(default=15, ge=1, description="from acceptance")
    investigation_max_wd: int = Field(default=30, ge=1, description="total from acceptance once extended")
    feedback_wd: int = Field(default=5, ge=1, description="after the investigation ends")
    return_visit_wd: int = Field(default=3, ge=1, description="after feedback")
    review_window_days: int = Field(default=30, ge=1, description="natural days after feedback is received")
    postal_allowance_days: int = Field(
        default=7,
        ge=0,
        le=60,
        description="a feedback letter counts as received this many natural days after it was sent, until a "
        "caseworker records the day it arrived (the review window is provisional until then)",
    )
    review_decision_wd: int = Field(default=15, ge=1, description="at the higher bureau, from the request")
    return_window_wd: int = Field(default=5, ge=0, description="a unit may return a misrouted case")
    reporter_notice_wd: int = Field(default=5, ge=1, description="fraud reports: tell a real-name reporter")
    blue_fraction: float = Field(default=0.2, gt=0, lt=1, description="blue when at most this share remains")
    escalation_wd: int = Field(default=5, ge=1, description="higher bureau alerted this many WD past due")
    red_after_due: bool = Field(
        default=True,
        description="red 超期 only after the due instant (a stage finished at it is on time); False keeps the "
        "earlier rule (red from the due instant on) for cases that registered under it",
    )
    review_window_from_receipt: bool = Field(
        default=True,
        description="the review window counts from the day after the complainant received the result (outbox "
        "delivery, recorded receipt of a letter) and ends at 24:00 of its last day (民法典 Art. 203); False keeps "
        "the earlier rule (from the sending day, ending at the service close) for cases that registered under it",
    )
    remind_pending_extension: bool = Field(
        default=True,
        description="remind the handling unit's supervisor of a pending extension request once the investigation "
        "clock it would extend is yellow 预警 (False for cases that registered before the reminder existed)",
    )
    reply_channels: dict[Channel, list[ReplyChannel]] = Field(
        default_factory=lambda: {c: list(v) for c, v in ORIGINAL_CHANNEL_REPLIES.items()},
        description="for each intake channel, the channels every notice to the complainant goes out on",
    )
    level_warnings: dict[WarnedLevel, list[WarningRecipient]] = Field(
        default_factory=lambda: {lv: list(v) for lv, v in LEVEL_WARNINGS.items()},
        description="who is told, once per clock, level and deadline, when a clock reaches the level",
    )
    notify_merged_complainants: bool = Field(
        default=True,
        description="the complainants of duplicates merged into a case (并单) get its notices and may ask for "
        "review (False for cases that registered before)",
    )

    @model_validator(mode="after")
    def _every_channel_answered(self) -> SlaPolicy:
        for channel in Channel:
            if not self.reply_channels.get(channel):
                raise ValueError(f"reply_channels.{channel.value}: at least one reply channel is required")
        return self


DEFAULT_POLICIES: dict[CaseKind, SlaPolicy] = {
    CaseKind.complaint: SlaPolicy(),
    CaseKind.consultation: SlaPolicy(),
    CaseKind.fraud_report: SlaPolicy(),
    CaseKind.misconduct: SlaPolicy(),
}

Overrides = dict[tuple[str, CaseKind | None], dict[str, Any]]

OVERRIDES_FILE = Path(__file__).with_name("data") / "policy_overrides.json"


def load_overrides(path: Path = OVERRIDES_FILE) -> Overrides:
    """Jurisdiction overrides from a data file: `{"jurisdictions": {"<code>": {"*" | "<kind>": {field: value}}}}`.
    Every entry is checked here, so a bad file fails at import with the jurisdiction and field named."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    table: Overrides = {}
    for jurisdiction, by_kind in doc.get("jurisdictions", {}).items():
        for kind_name, fields in by_kind.items():
            try:
                kind = None if kind_name == "*" else CaseKind(kind_name)
            except ValueError:
                raise ValueError(f"{path.name}: jurisdictions.{jurisdiction}: unknown case kind {kind_name!r}") from None
            table[(jurisdiction, kind)] = fields
    for jurisdiction, kind in table:
        try:
            policy_for(kind or CaseKind.complaint, jurisdiction, table)
        except ValueError as err:
            raise ValueError(f"{path.name}: jurisdictions.{jurisdiction}: {err}") from None
    return table


def _ancestors(jurisdiction: str) -> list[str]:
    """`CN-SX-0100` -> [`CN`, `CN-SX`, `CN-SX-0100`]: the most specific code is applied last and wins."""
    parts = jurisdiction.split("-")
    return ["-".join(parts[: i + 1]) for i in range(len(parts))]


def policy_for(kind: CaseKind, jurisdiction: str, overrides: Overrides | None = None) -> SlaPolicy:
    """The policy of `kind` in `jurisdiction`: the defaults, then for the country, the province and the area
    (most specific last) the jurisdiction-wide and the kind overrides. A mapping field (`reply_channels`,
    `level_warnings`) is overridden key by key: an area that changes one channel keeps the others."""
    table = JURISDICTION_OVERRIDES if overrides is None else overrides
    data = DEFAULT_POLICIES[kind].model_dump(mode="json")
    for code in _ancestors(jurisdiction):
        for layer in (table.get((code, None), {}), table.get((code, kind), {})):
            for name, value in layer.items():
                current = data.get(name)
                data[name] = current | value if isinstance(current, dict) and isinstance(value, dict) else value
    return SlaPolicy.model_validate(data)


# Jurisdiction overrides: {(jurisdiction, kind): {field: value}}; kind None applies to every kind.
JURISDICTION_OVERRIDES: Overrides = load_overrides()
