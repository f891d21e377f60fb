"""Records for the read-model tests: one case's timeline and projections, fixed instants and personal data."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from activities.contracts import CaseEventRecord, CaseProjection, MaskedPerson, SlaClockRecord
from cases.pii import id_number_check_digit

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
ID_NUMBER = "14010519900307123" + id_number_check_digit("14010519900307123")
PHONE = "13812345678"


def record_case_no() -> str:
    return "SX" + uuid.uuid4().hex[:10].upper()


def timeline(case_no: str) -> list[CaseEventRecord]:
    kinds = [
        ("registered", "registration", None),
        ("accepted", "dispatch", "dispatcher"),
        ("assigned", "investigation", "dispatcher"),
        ("sla_level_changed", "investigation", None),
        ("extension_requested", "investigation", "handler"),
        ("extension_decided", "investigation", "supervisor"),
        ("investigation_completed", "feedback", "handler"),
        ("feedback_sent", "return_visit", "handler"),
        ("notification_queued", "return_visit", None),
        ("return_visit_recorded", "review_window", "hotline"),
        ("closed", "closed", None),
    ]
    return [
        CaseEventRecord(
            case_no=case_no, seq=i, event_key=f"{case_no}:{i}:{kind}", kind=kind, stage=stage,
            at=T0 + timedelta(days=i), actor_id=f"u-{role}" if role else None, actor_role=role,
            actor_unit="SX-TY-XD" if role else None, details={"n": i, "deadline": T0 + timedelta(days=20)},
        )
        for i, (kind, stage, role) in enumerate(kinds, start=1)
    ]


def projection(case_no: str, version: int, stage: str, **kw: object) -> CaseProjection:
    base: dict[str, object] = dict(
        case_no=case_no, version=version, kind="complaint", channel="hotline", category="reimbursement",
        jurisdiction="CN-SX", handling_unit="SX-TY-XD", stage=stage, registered_at=T0,
        updated_at=T0 + timedelta(hours=version),
        complainant=MaskedPerson(name="张**", id_number="1401**********123X", phone="138****5678"),
        clocks=[SlaClockRecord(clock="acceptance", started_at=T0, original_due_at=T0 + timedelta(days=2),
                               due_at=T0 + timedelta(days=2), unit="SX")],
    )
    base.update(kw)
    return CaseProjection.model_validate(base)
