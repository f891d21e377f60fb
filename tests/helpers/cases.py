"""Shared builders for the case-rule and workflow tests: a valid registration, actors at the right units,
the Shanxi directory and the real CN-SX calendar. Plain helpers (no pytest fixtures) so any test imports them.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from temporalio.converter import DataConverter

from cases.models import Actor, ComplaintRegistration, Role
from cases.pii import id_number_check_digit

CST = timezone(timedelta(hours=8))
ID17 = "14010519900307123"
VALID_ID = ID17 + id_number_check_digit(ID17)

DISPATCHER = Actor(id="disp-01", role=Role.dispatcher, unit_id="SX")
INTAKE = Actor(id="agent-07", role=Role.intake_agent, unit_id="SX")
CASEWORKER = Actor(id="cw-xd-1", role=Role.caseworker, unit_id="SX-TY-XD")
SUPERVISOR = Actor(id="sup-SX-TY", role=Role.supervisor, unit_id="SX-TY")
REVIEWER = Actor(id="rev-ty-1", role=Role.reviewer, unit_id="SX-TY")
HANDLING_UNIT = "SX-TY-XD"

# the same roles acting for the wrong unit
WRONG_UNIT: dict[Role, Actor] = {
    Role.dispatcher: Actor(id="disp-x", role=Role.dispatcher, unit_id="NHSA"),
    Role.intake_agent: Actor(id="agent-x", role=Role.intake_agent, unit_id="NHSA"),
    Role.caseworker: Actor(id="cw-x", role=Role.caseworker, unit_id="SX-TY-YZ"),
    Role.supervisor: Actor(id="sup-x", role=Role.supervisor, unit_id="SX-DT"),
    Role.reviewer: Actor(id="rev-x", role=Role.reviewer, unit_id="SX-DT"),
}
RIGHT_UNIT: dict[Role, Actor] = {
    Role.dispatcher: DISPATCHER,
    Role.intake_agent: INTAKE,
    Role.caseworker: CASEWORKER,
    Role.supervisor: SUPERVISOR,
    Role.reviewer: REVIEWER,
}


def cst(y: int, m: int, d: int, hh: int = 10, mm: int = 0) -> datetime:
    """An Asia/Shanghai instant."""
    return datetime(y, m, d, hh, mm, tzinfo=CST)


def registration_data(**over: Any) -> dict[str, Any]:
    """JSON-like data of a valid complaint registration; keyword arguments override top-level fields."""
    data: dict[str, Any] = {
        "case_no": "SX2025092600001",
        "kind": "complaint",
        "channel": "hotline_12393",
        "received_at": "2025-09-26T10:00:00+08:00",
        "jurisdiction": "CN-SX",
        "category": "reimbursement",
        "complainant": {
            "name": "张三丰",
            "id_number": VALID_ID,
            "phone": "13812345678",
            "card_number": "SX1401000012345678",
            "address": "太原市小店区长风街1号",
            "real_name": True,
        },
        "matter": {
            "occurred_at": "2025-09-20T09:30:00+08:00",
            "place": "太原市小店区",
            "institution": "山西某医院",
            "locality_unit": "SX-TY-XD",
            "description": "住院费用报销被拒，理由不明。",
        },
        "demand": "按规定报销住院费用",
        "evidence": [{"uri": "s3://evidence/SX2025092600001/invoice.pdf", "sha256": "a" * 64}],
        "intake_actor": INTAKE.model_dump(mode="json"),
    }
    data.update(over)
    return data


def registration(**over: Any) -> ComplaintRegistration:
    """A valid registration (see `registration_data`)."""
    return ComplaintRegistration.model_validate(registration_data(**over))


# A fixed, test-only payload key: the recorded histories in tests/workflows/histories/ are encrypted with it, so the
# replay test can decode them on any machine. Never use it outside tests.
TEST_CODEC_KEY_ID = "test-only-2025"
TEST_CODEC_KEY = (
    "dGVzdC1vbmx5LWtleS1mb3ItcmVwbGF5LWhpc3Rvcnk="  # base64 of b"test-only-key-for-replay-history"
)


def fixed_key_data_converter() -> DataConverter:
    """The project's data converter (pydantic JSON + AES-GCM codec) keyed with the fixed test key."""
    from common.converter import make_data_converter
    from common.settings import Settings

    return make_data_converter(
        Settings(codec_keys={TEST_CODEC_KEY_ID: TEST_CODEC_KEY}, codec_active_key_id=TEST_CODEC_KEY_ID)
    )
