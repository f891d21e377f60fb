"""Personal data, proved on a real `ComplaintCase`, a real worker and the real read model.

* Temporal history holds ciphertext only: fetched with a client WITHOUT the codec, no event contains the
  clear ID number, phone or name bytes; with the codec the input decodes and they are there.
* The read model masks: `cases` has the masked forms, `notifications` a masked recipient and an encrypted
  contact, `case_events` and notification params no personal data at all, `case_pii` only ciphertext.
* A fraud reporter's identity is visible to no handling unit: the `summary` (what every caseworker sees) has
  no complainant, the `cases` row and the dashboard's case detail are blank, nothing is kept in `case_pii`, and
  no notification to a unit or supervisor mentions them.
* Key rotation keeps old cases readable: a case started under key A continues on a worker whose key ring is
  {A, B} with B active (its old history decodes, new payloads use B); a process knowing only B fails with a
  clear unknown-key error instead of garbage.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Any

import asyncpg
import pytest
from helpers.cases import CST, DISPATCHER, HANDLING_UNIT, INTAKE, registration
from helpers.reliability import unique_case_numbers
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.case_activities import load_complainant_pii
from cases.models import AcceptDecision, CaseSummary, WithdrawDecision
from cases.pii import id_number_check_digit, mask_id_number, mask_name, mask_phone
from common.codec import KEY_ID_METADATA, CodecKeyError, EncryptionCodec, KeyRing, new_key
from common.converter import make_data_converter
from common.settings import Settings
from dashboard import queries as q
from workers.main import build_worker
from workflows import ComplaintCase
from workflows.client import start_case

pytestmark = pytest.mark.timeout(180)

NAME = "欧阳明月"
ID17 = "14010519851122431"
ID_NUMBER = ID17 + id_number_check_digit(ID17)
PHONE = "13987654321"
REPORTER = "司马光华"
REPORTER_ID17 = "14020219720819152"
REPORTER_ID = REPORTER_ID17 + id_number_check_digit(REPORTER_ID17)
REPORTER_PHONE = "13700001111"


def _person(name: str, id_number: str, phone: str) -> dict[str, Any]:
    return {"name": name, "id_number": id_number, "phone": phone, "card_number": "SX1401009988776655",
            "address": "太原市迎泽区某街2号", "real_name": True}


async def _summary(h: WorkflowHandle[Any, Any]) -> CaseSummary:
    for _ in range(100):
        try:
            return await h.query(ComplaintCase.summary)
        except Exception:  # noqa: BLE001 - still registering
            await asyncio.sleep(0.1)
    raise AssertionError("no summary")


async def _raw_history_bytes(target: str, namespace: str, workflow_id: str) -> bytes:
    raw = await Client.connect(target, namespace=namespace)  # the default converter: no codec
    hist = await raw.get_workflow_handle(workflow_id).fetch_history()
    return b"".join(e.SerializeToString() for e in hist.events)


async def _rows_text(pool: asyncpg.Pool, table: str, case_no: str, where: str = "") -> str:
    rows = await pool.fetch(f"SELECT row_to_json(t)::text AS j FROM {table} t WHERE case_no = $1 {where}", case_no)
    return "\n".join(r["j"] for r in rows)


async def test_personal_data_encrypted_in_history_and_masked_in_read_model(
    dev_env: WorkflowEnvironment, pg_pool: asyncpg.Pool
) -> None:
    client = dev_env.client
    tq = f"complaints-pii-{uuid.uuid4().hex[:8]}"
    no, fraud_no = unique_case_numbers(2)
    now = datetime.now(CST).isoformat()
    async with build_worker(client, pg_pool, Settings(task_queue=tq)):
        h = await start_case(client, registration(case_no=no, received_at=now,
                                                  complainant=_person(NAME, ID_NUMBER, PHONE)), task_queue=tq)
        await h.execute_update(ComplaintCase.accept, AcceptDecision(actor=DISPATCHER, unit_id=HANDLING_UNIT))
        await h.execute_update(ComplaintCase.withdraw, WithdrawDecision(actor=INTAKE, reason="已解决"))
        final = await h.result()
        fraud = await start_case(client, registration(
            case_no=fraud_no, received_at=now, kind="fraud_report", category="fund_fraud",
            complainant=_person(REPORTER, REPORTER_ID, REPORTER_PHONE)), task_queue=tq)
        fsum = await fraud.execute_update(ComplaintCase.accept,
                                          AcceptDecision(actor=DISPATCHER, unit_id=HANDLING_UNIT))
        await asyncio.sleep(1.0)  # the accept's notifications and projection settle

    # 1. Temporal history: ciphertext without the codec, clear with it
    target = client.service_client.config.target_host
    for wid, secrets in ((h.id, (NAME, ID_NUMBER, PHONE)), (fraud.id, (REPORTER, REPORTER_ID, REPORTER_PHONE))):
        blob = await _raw_history_bytes(target, client.namespace, wid)
        for secret in secrets:
            assert secret.encode() not in blob, f"clear {secret} in the history of {wid}"
    hist = await h.fetch_history()
    started = hist.events[0].workflow_execution_started_event_attributes.input.payloads
    assert started[0].metadata["encoding"] == b"binary/encrypted"
    codec = client.data_converter.payload_codec
    assert codec is not None
    clear = b"".join(p.data for p in await codec.decode(list(started)))
    assert ID_NUMBER.encode() in clear and PHONE.encode() in clear and NAME.encode() in clear

    # 2. the read model: masked, encrypted, or absent
    row = await pg_pool.fetchrow("SELECT * FROM cases WHERE case_no = $1", no)
    assert row["complainant_name"] == mask_name(NAME)
    assert row["complainant_id_number"] == mask_id_number(ID_NUMBER)
    assert row["complainant_phone"] == mask_phone(PHONE)
    for table in ("cases", "notifications", "case_events", "sla_clocks"):
        text = await _rows_text(pg_pool, table, no)
        for secret in (NAME, ID_NUMBER, PHONE):
            assert secret not in text, f"clear {secret} in {table}"
    events_text = await _rows_text(pg_pool, "case_events", no)
    for masked in (mask_name(NAME), mask_id_number(ID_NUMBER), mask_phone(PHONE)):
        assert masked not in events_text, "personal data (even masked) in the audit trail"
    pii = await pg_pool.fetchrow("SELECT key_id, ciphertext FROM case_pii WHERE case_no = $1", no)
    assert pii is not None and ID_NUMBER.encode() not in bytes(pii["ciphertext"])
    contacts = await pg_pool.fetch("SELECT recipient_contact, recipient_masked FROM notifications "
                                   "WHERE case_no = $1 AND audience = 'complainant'", no)
    assert contacts, "the complainant was told of acceptance and withdrawal"
    for c in contacts:
        assert c["recipient_contact"] is None or PHONE.encode() not in bytes(c["recipient_contact"])
        assert c["recipient_masked"] in (None, mask_phone(PHONE))
    assert [e.kind for e in final.events][-1] == "archived"

    # 3. the fraud reporter: nobody on the handling side sees who they are
    assert fsum.confidential_reporter and fsum.complainant is None
    frow = await pg_pool.fetchrow("SELECT * FROM cases WHERE case_no = $1", fraud_no)
    assert frow["confidential_reporter"]
    assert not any(frow[k] for k in ("complainant_name", "complainant_id_number", "complainant_phone",
                                     "complainant_card_number"))
    assert await pg_pool.fetchval("SELECT count(*) FROM case_pii WHERE case_no = $1", fraud_no) == 0
    unit_side = await _rows_text(pg_pool, "notifications", fraud_no, "AND audience <> 'complainant'")
    everything = unit_side + await _rows_text(pg_pool, "case_events", fraud_no) + await _rows_text(
        pg_pool, "cases", fraud_no)
    for secret in (REPORTER, REPORTER_ID, REPORTER_PHONE, mask_name(REPORTER), mask_phone(REPORTER_PHONE)):
        assert secret not in everything, f"reporter identity {secret} visible to the handling side"
    async with pg_pool.acquire() as conn:
        detail = await q.case_detail(conn, fraud_no, [HANDLING_UNIT])
    assert detail is not None and not detail.case["complainant_name"] and not detail.case["complainant_phone"]


async def test_key_rotation_keeps_old_cases_readable(dev_env: WorkflowEnvironment, pg_pool: asyncpg.Pool) -> None:
    target, ns = dev_env.client.service_client.config.target_host, dev_env.client.namespace
    tq = f"complaints-rot-{uuid.uuid4().hex[:8]}"
    key_a, key_b = new_key(), new_key()
    s_a = Settings(codec_keys={"k-a": key_a}, codec_active_key_id="k-a", task_queue=tq)
    s_ab = Settings(codec_keys={"k-a": key_a, "k-b": key_b}, codec_active_key_id="k-b", task_queue=tq)
    (no,) = unique_case_numbers(1)
    client_a = await Client.connect(target, namespace=ns, data_converter=make_data_converter(s_a))
    async with build_worker(client_a, pg_pool, s_a):
        h = await start_case(client_a, registration(case_no=no, received_at=datetime.now(CST).isoformat(),
                                                    complainant=_person(NAME, ID_NUMBER, PHONE)), task_queue=tq)
        assert (await _summary(h)).stage == "acceptance"

    # rotate: B active, A still known. The old case replays (A) and continues (B).
    client_ab = await Client.connect(target, namespace=ns, data_converter=make_data_converter(s_ab))
    h_ab = client_ab.get_workflow_handle_for(ComplaintCase.run, h.id)
    async with build_worker(client_ab, pg_pool, s_ab):
        s = await h_ab.execute_update(ComplaintCase.accept, AcceptDecision(actor=DISPATCHER, unit_id=HANDLING_UNIT))
        assert s.stage == "investigation" and s.complainant is not None
        assert s.complainant.id_number == mask_id_number(ID_NUMBER)
    hist = await h_ab.fetch_history()
    started = hist.events[0].workflow_execution_started_event_attributes.input.payloads[0]
    assert started.metadata[KEY_ID_METADATA] == b"k-a"
    accepted = [e for e in hist.events if e.HasField("workflow_execution_update_accepted_event_attributes")]
    assert accepted, "the accept update is in history"
    upd = accepted[-1].workflow_execution_update_accepted_event_attributes.accepted_request.input.args.payloads[0]
    assert upd.metadata[KEY_ID_METADATA] == b"k-b"
    # personal data at rest written under A is still readable with the rotated ring
    rec = await load_complainant_pii(pg_pool, no, KeyRing(s_ab.codec_keys, s_ab.codec_active_key_id))
    assert rec is not None and rec.id_number == ID_NUMBER
    # a process that dropped A cannot read the old input, and says why
    only_b = EncryptionCodec(KeyRing({"k-b": key_b}))
    with pytest.raises(CodecKeyError, match="unknown encryption key id 'k-a'"):
        await only_b.decode([started])
