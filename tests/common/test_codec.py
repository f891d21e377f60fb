"""The AES-GCM payload codec: round trip, key rotation, unknown keys, personal data absent from the raw
Temporal history, the codec server over HTTP, and the encrypted dev key file."""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from pydantic import BaseModel
from temporalio import activity, workflow
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from cases.pii import id_number_check_digit, mask_id_number, mask_phone
from clients.codec_server import make_app
from common.codec import (
    ENCODING,
    KEY_ID_METADATA,
    CodecKeyError,
    EncryptionCodec,
    KeyRing,
    load_or_create_key_file,
    make_codec,
    new_key,
)
from common.converter import make_data_converter
from common.settings import Settings

ID_NUMBER = "14010519850612003" + id_number_check_digit("14010519850612003")
PHONE = "13698765432"


def _payload(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(text).encode())


# -------------------------------------------------------------------------------------------- the codec


async def test_round_trip_hides_the_data() -> None:
    codec = EncryptionCodec(KeyRing({"k1": new_key()}))
    original = [_payload(ID_NUMBER), _payload(PHONE)]
    encoded = await codec.encode(original)
    for p in encoded:
        assert p.metadata["encoding"] == ENCODING and p.metadata[KEY_ID_METADATA] == b"k1"
        assert ID_NUMBER.encode() not in p.data and PHONE.encode() not in p.data
    assert await codec.decode(encoded) == original
    plain = _payload("not encrypted")
    assert await codec.decode([plain]) == [plain]  # other encodings pass through


async def test_rotation_old_payloads_still_decode() -> None:
    old_key = new_key()
    before = EncryptionCodec(KeyRing({"2025": old_key}))
    encrypted_long_ago = await before.encode([_payload(ID_NUMBER)])
    after = EncryptionCodec(KeyRing({"2025": old_key, "2026": new_key()}, active_key_id="2026"))
    fresh = await after.encode([_payload(PHONE)])
    assert fresh[0].metadata[KEY_ID_METADATA] == b"2026"
    assert await after.decode(encrypted_long_ago) == [_payload(ID_NUMBER)]
    assert await after.decode(fresh) == [_payload(PHONE)]


async def test_unknown_key_id_is_a_clear_error() -> None:
    encrypted = await EncryptionCodec(KeyRing({"retired": new_key()})).encode([_payload(ID_NUMBER)])
    with pytest.raises(CodecKeyError, match="unknown encryption key id 'retired'.*knows \\['k2'\\]"):
        await EncryptionCodec(KeyRing({"k2": new_key()})).decode(encrypted)


async def test_wrong_key_material_or_tampering_is_detected() -> None:
    encrypted = await EncryptionCodec(KeyRing({"k": new_key()})).encode([_payload(ID_NUMBER)])
    with pytest.raises(CodecKeyError, match="does not decrypt with key 'k'"):
        await EncryptionCodec(KeyRing({"k": new_key()})).decode(encrypted)
    # relabelling a payload with another known key id fails too (key id is authenticated)
    ring = KeyRing({"a": new_key(), "b": new_key()}, "a")
    p = (await EncryptionCodec(ring).encode([_payload(PHONE)]))[0]
    p.metadata[KEY_ID_METADATA] = b"b"
    with pytest.raises(CodecKeyError):
        await EncryptionCodec(ring).decode([p])


def test_bad_key_configuration_is_explained() -> None:
    with pytest.raises(CodecKeyError, match="32 bytes"):
        KeyRing({"short": base64.b64encode(b"x" * 16).decode()})
    with pytest.raises(CodecKeyError, match="active codec key id 'nope'"):
        KeyRing({"k": new_key()}, "nope")
    with pytest.raises(CodecKeyError, match="COMPLAINTS_CODEC_KEYS is required"):
        KeyRing.from_settings(Settings(mode="production", codec_keys={}))


def test_settings_keys_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    k1, k2 = new_key(), new_key()
    monkeypatch.setenv("COMPLAINTS_CODEC_KEYS", json.dumps({"k1": k1, "k2": k2}))
    monkeypatch.setenv("COMPLAINTS_CODEC_ACTIVE_KEY_ID", "k1")
    ring = KeyRing.from_settings(Settings())
    assert ring.active_key_id == "k1" and ring.key_ids == ["k1", "k2"]


def test_dev_key_file_is_created_once_private_and_reused(tmp_path: Path) -> None:
    settings = Settings(mode="embedded", data_dir=tmp_path)
    first = KeyRing.from_settings(settings)
    path = tmp_path / "codec-keys.json"
    assert path.exists() and (path.stat().st_mode & 0o777) == 0o600
    second = KeyRing.from_settings(settings)
    assert first.active_key_id == second.active_key_id
    keys, active = load_or_create_key_file(path)
    assert list(keys) == [active]
    blob_key, blob = first.encrypt(b"x")
    assert second.decrypt(blob_key, blob) == b"x"
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".codec-keys-")]  # no temp files left


# ----------------------------------------------------------------- personal data in the Temporal history


class Complainant(BaseModel):
    name: str
    id_number: str
    phone: str


class Masked(BaseModel):
    id_number: str
    phone: str


@activity.defn
async def mask_person(p: Complainant) -> Masked:
    return Masked(id_number=mask_id_number(p.id_number), phone=mask_phone(p.phone))


@workflow.defn(sandboxed=False)
class HoldPerson:
    """A tiny stand-in for ComplaintCase: personal data in its input, an activity input and a result."""

    @workflow.run
    async def run(self, person: Complainant) -> Complainant:
        masked = await workflow.execute_activity(mask_person, person, start_to_close_timeout=timedelta(seconds=10))
        assert masked.phone.endswith(person.phone[-4:])
        return person


def _raw_history_bytes(events: list) -> bytes:
    return b"".join(e.SerializeToString() for e in events)


async def _run_hold_person(client: Client) -> str:
    queue = f"codec-{uuid.uuid4()}"
    wf_id = f"codec-{uuid.uuid4()}"
    async with Worker(client, task_queue=queue, workflows=[HoldPerson], activities=[mask_person],
                      workflow_runner=UnsandboxedWorkflowRunner()):
        result = await client.execute_workflow(
            HoldPerson.run, Complainant(name="张三", id_number=ID_NUMBER, phone=PHONE), id=wf_id, task_queue=queue
        )
    assert result.id_number == ID_NUMBER  # the client with the codec decodes
    return wf_id


async def test_history_holds_no_clear_personal_data(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    converter = make_data_converter(Settings(mode="embedded", data_dir=tmp_path))
    client = Client(dev_env.client.service_client, namespace=dev_env.client.namespace, data_converter=converter)
    wf_id = await _run_hold_person(client)

    without_codec = Client(dev_env.client.service_client, namespace=dev_env.client.namespace,
                           data_converter=pydantic_data_converter)
    history = await without_codec.get_workflow_handle(wf_id).fetch_history()
    raw = _raw_history_bytes(history.events)
    assert ID_NUMBER.encode() not in raw and PHONE.encode() not in raw and "张三".encode() not in raw
    assert ENCODING in raw
    # ... and with the codec the same history decodes to the personal data
    started = history.events[0].workflow_execution_started_event_attributes
    [decoded] = await converter.payload_codec.decode(started.input.payloads)  # type: ignore[union-attr]
    assert ID_NUMBER.encode() in decoded.data and PHONE.encode() in decoded.data


async def test_control_without_codec_the_check_would_see_the_data(dev_env: WorkflowEnvironment) -> None:
    # proves the assertion above can fail: without the codec the ID number is in the raw history
    plain = Client(dev_env.client.service_client, namespace=dev_env.client.namespace,
                   data_converter=pydantic_data_converter)
    wf_id = await _run_hold_person(plain)
    history = await plain.get_workflow_handle(wf_id).fetch_history()
    assert ID_NUMBER.encode() in _raw_history_bytes(history.events)


@activity.defn
async def reject_person(p: Complainant) -> None:
    raise ApplicationError(f"refusing {p.id_number} / {p.phone}", non_retryable=True)


@workflow.defn(sandboxed=False)
class FailOnPerson:
    """An activity failure whose message quotes personal data (as a validation error might)."""

    @workflow.run
    async def run(self, person: Complainant) -> str:
        try:
            await workflow.execute_activity(reject_person, person, start_to_close_timeout=timedelta(seconds=10))
        except ActivityError as err:
            return str(err.cause)
        return "no error"


async def test_failure_messages_are_encrypted_too(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    converter = make_data_converter(Settings(mode="embedded", data_dir=tmp_path))
    client = Client(dev_env.client.service_client, namespace=dev_env.client.namespace, data_converter=converter)
    queue, wf_id = f"codec-{uuid.uuid4()}", f"codec-{uuid.uuid4()}"
    async with Worker(client, task_queue=queue, workflows=[FailOnPerson], activities=[reject_person],
                      workflow_runner=UnsandboxedWorkflowRunner()):
        message = await client.execute_workflow(
            FailOnPerson.run, Complainant(name="张三", id_number=ID_NUMBER, phone=PHONE), id=wf_id, task_queue=queue
        )
    assert ID_NUMBER in message  # decoded for clients with the codec
    history = await client.get_workflow_handle(wf_id).fetch_history()
    raw = _raw_history_bytes(history.events)
    assert ID_NUMBER.encode() not in raw and PHONE.encode() not in raw


# ---------------------------------------------------------------------------------------- codec server


@pytest.fixture
async def codec_server() -> AsyncIterator[tuple[str, EncryptionCodec]]:
    codec = EncryptionCodec(KeyRing({"k1": new_key()}))
    runner = web.AppRunner(make_app(codec, auth=None, cors_origins=["http://localhost:8233"], namespaces=["default"]))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", codec
    finally:
        await runner.cleanup()


def _wire(p: Payload) -> dict:
    return {"metadata": {k: base64.b64encode(v).decode() for k, v in p.metadata.items()},
            "data": base64.b64encode(p.data).decode()}


async def test_codec_server_encode_decode_over_http(codec_server: tuple[str, EncryptionCodec]) -> None:
    url, codec = codec_server
    headers = {"X-Namespace": "default", "Origin": "http://localhost:8233"}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{url}/encode", json={"payloads": [_wire(_payload(ID_NUMBER))]}, headers=headers) as r:
            assert r.status == 200 and r.headers["Access-Control-Allow-Origin"] == "http://localhost:8233"
            encoded = (await r.json())["payloads"]
        enc_meta = {k: base64.b64decode(v) for k, v in encoded[0]["metadata"].items()}
        assert enc_meta["encoding"] == ENCODING and ID_NUMBER.encode() not in base64.b64decode(encoded[0]["data"])
        # what the workers encrypted, the server decrypts (same keys)
        worker_encrypted = await codec.encode([_payload(PHONE)])
        async with http.post(f"{url}/decode", json={"payloads": encoded + [_wire(worker_encrypted[0])]},
                             headers=headers) as r:
            assert r.status == 200
            decoded = (await r.json())["payloads"]
        assert [json.loads(base64.b64decode(p["data"])) for p in decoded] == [ID_NUMBER, PHONE]
        assert base64.b64decode(decoded[0]["metadata"]["encoding"]) == b"json/plain"


async def test_codec_server_cors_and_errors(codec_server: tuple[str, EncryptionCodec]) -> None:
    url, _ = codec_server
    async with aiohttp.ClientSession() as http:
        preflight = {"Origin": "http://localhost:8233", "Access-Control-Request-Method": "POST",
                     "Access-Control-Request-Headers": "content-type,x-namespace"}
        async with http.options(f"{url}/decode", headers=preflight) as r:
            assert r.status == 204
            assert r.headers["Access-Control-Allow-Origin"] == "http://localhost:8233"
            assert "X-Namespace" in r.headers["Access-Control-Allow-Headers"]
            assert "POST" in r.headers["Access-Control-Allow-Methods"]
        async with http.options(f"{url}/decode", headers={**preflight, "Origin": "http://evil.example"}) as r:
            assert "Access-Control-Allow-Origin" not in r.headers
        async with http.post(f"{url}/decode", data="not json") as r:
            assert r.status == 400 and "payloads" in (await r.json())["error"]
        foreign = await EncryptionCodec(KeyRing({"other": new_key()})).encode([_payload(PHONE)])
        async with http.post(f"{url}/decode", json={"payloads": [_wire(foreign[0])]}) as r:
            assert r.status == 400 and "unknown encryption key id 'other'" in (await r.json())["error"]
        async with http.post(f"{url}/decode", json={"payloads": []}, headers={"X-Namespace": "prod"}) as r:
            assert r.status == 403
        async with http.post(f"{url}/decode", json={"payloads": []}) as r:
            assert r.status == 200 and (await r.json()) == {"payloads": []}


def test_make_codec_uses_settings(tmp_path: Path) -> None:
    key = new_key()
    codec = make_codec(Settings(codec_keys={"prod-1": key}, data_dir=tmp_path))
    assert codec.keyring.active_key_id == "prod-1"
    assert not (tmp_path / "codec-keys.json").exists()  # configured keys: no dev key file
