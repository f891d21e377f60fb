"""The codec server as it is deployed (`python -m clients.codec_server`, a real HTTP server in its own process):
a bearer token verified like the API's, a role allowed to decode, and only the Web UI's origin."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from helpers.cases import CASEWORKER, SUPERVISOR
from temporalio.api.common.v1 import Payload

from api.auth import login_token
from api.settings import ApiSettings
from common.codec import EncryptionCodec, KeyRing, new_key

ROOT = Path(__file__).resolve().parents[2]
UI = "http://ui.bureau.example:8080"
ELSEWHERE = "http://evil.example"
SECRET = "张三 13912345678"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wire(p: Payload) -> dict[str, object]:
    return {"metadata": {k: base64.b64encode(v).decode() for k, v in p.metadata.items()},
            "data": base64.b64encode(p.data).decode()}


@dataclass
class CodecServer:
    url: str
    data_dir: Path
    codec: EncryptionCodec
    log: Path

    def token(self, actor: object) -> str:
        return login_token(self.data_dir, actor, ApiSettings())  # type: ignore[arg-type]


def _spawn(env: dict[str, str], host: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "clients.codec_server", "--host", host, "--port", str(port)],
            cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )


@pytest.fixture
def codec_process(tmp_path: Path) -> Iterator[CodecServer]:
    key = new_key()
    env = {
        "COMPLAINTS_DATA_DIR": str(tmp_path),
        "COMPLAINTS_CODEC_KEYS": json.dumps({"k1": key}),
        "COMPLAINTS_CODEC_ACTIVE_KEY_ID": "k1",
        "COMPLAINTS_TEMPORAL_UI_URL": UI,
        "COMPLAINTS_CODEC_SERVER_CORS_ORIGINS": json.dumps([UI]),
        "COMPLAINTS_LOG_FORMAT": "json",
        "COMPLAINTS_CODEC_SERVER_AUTH": "true",
    }
    port = _free_port()
    log = tmp_path / "codec.log"
    proc = _spawn(env, "127.0.0.1", port, log)
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the codec server exited: {log.read_text(errors='replace')}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the codec server did not listen in 30 s") from None
                time.sleep(0.2)
        yield CodecServer(f"http://127.0.0.1:{port}", tmp_path, EncryptionCodec(KeyRing({"k1": key})), log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def _encrypted(server: CodecServer) -> dict[str, object]:
    payload = Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(SECRET).encode())
    return {"payloads": [_wire(p) for p in await server.codec.encode([payload])]}


async def test_decode_needs_a_valid_token_of_an_allowed_role(codec_process: CodecServer, tmp_path: Path) -> None:
    body = await _encrypted(codec_process)
    url = f"{codec_process.url}/decode"
    foreign = login_token(tmp_path / "another-stack", SUPERVISOR, ApiSettings())  # signed by a key it does not know
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json=body) as r:
            assert r.status == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
            assert "Authorization: Bearer" in (await r.json())["error"]
            assert SECRET not in await r.text()
        for bad in ("Bearer not-a-jwt", f"Bearer {foreign}", f"Basic {codec_process.token(SUPERVISOR)}"):
            async with http.post(url, json=body, headers={"Authorization": bad}) as r:
                assert r.status == 401, bad
                assert SECRET not in await r.text()
        async with http.post(url, json=body, headers={"Authorization": f"Bearer {codec_process.token(CASEWORKER)}"}) as r:
            assert r.status == 403 and "caseworker" in (await r.json())["error"]
        good = {"Authorization": f"Bearer {codec_process.token(SUPERVISOR)}", "X-Namespace": "default", "Origin": UI}
        async with http.post(url, json=body, headers=good) as r:
            assert r.status == 200, await r.text()
            assert r.headers["Access-Control-Allow-Origin"] == UI
            decoded = (await r.json())["payloads"]
        assert json.loads(base64.b64decode(decoded[0]["data"])) == SECRET
        async with http.get(f"{codec_process.url}/health") as r:  # liveness carries no data and needs no token
            assert r.status == 200
    # who decoded is on the record, as a JSON line of the codec server's log
    lines = [json.loads(line) for line in codec_process.log.read_text(encoding="utf-8").splitlines()]
    decodes = [line for line in lines if line["message"].startswith("decoded")]
    assert [line["actor"] for line in decodes] == [SUPERVISOR.id]


async def test_only_the_web_ui_origin_may_call(codec_process: CodecServer) -> None:
    url = f"{codec_process.url}/decode"
    preflight = {"Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization,content-type,x-namespace"}
    async with aiohttp.ClientSession() as http:
        async with http.options(url, headers={**preflight, "Origin": UI}) as r:
            assert r.status == 204
            assert r.headers["Access-Control-Allow-Origin"] == UI
            assert "Authorization" in r.headers["Access-Control-Allow-Headers"]
        async with http.options(url, headers={**preflight, "Origin": ELSEWHERE}) as r:
            assert r.status == 403 and "Access-Control-Allow-Origin" not in r.headers
        # a valid token does not open the door to a page on another origin
        token = {"Authorization": f"Bearer {codec_process.token(SUPERVISOR)}"}
        async with http.post(url, json=await _encrypted(codec_process), headers={**token, "Origin": ELSEWHERE}) as r:
            assert r.status == 403 and "Access-Control-Allow-Origin" not in r.headers
            assert SECRET not in await r.text()


async def test_no_token_mode_is_refused_off_loopback(tmp_path: Path) -> None:
    log = tmp_path / "codec.log"
    env = {"COMPLAINTS_DATA_DIR": str(tmp_path), "COMPLAINTS_CODEC_SERVER_AUTH": "false"}
    proc = _spawn(env, "0.0.0.0", _free_port(), log)
    try:
        code = await asyncio.to_thread(proc.wait, 30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert code == 1
    assert "COMPLAINTS_CODEC_SERVER_AUTH=false is only allowed on a loopback address" in log.read_text()


async def test_open_on_loopback_for_the_embedded_web_ui(tmp_path: Path) -> None:
    """The embedded stack's mode: no token, loopback only (the dev server's UI has no login to forward)."""
    port = _free_port()
    log = tmp_path / "codec.log"
    env = {"COMPLAINTS_DATA_DIR": str(tmp_path), "COMPLAINTS_CODEC_SERVER_AUTH": "false"}
    proc = _spawn(env, "127.0.0.1", port, log)
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(150):
                try:
                    async with http.post(f"http://127.0.0.1:{port}/decode", json={"payloads": []}) as r:
                        assert r.status == 200 and await r.json() == {"payloads": []}
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.2)
            else:
                raise AssertionError(f"no answer: {log.read_text(errors='replace')}")
    finally:
        proc.terminate()
        proc.wait(15)
    assert "no token required" in log.read_text()
