"""The API's commands: `complaints login` (a token the API's own verifier accepts), `complaints api-key
create|list|revoke` on PostgreSQL, and `complaints show --as/--role/--unit` listing the allowed decisions."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from helpers.api import DATA_DIR
from helpers.cli import invoke, runner
from helpers.client import registration, running_worker, task_queue
from temporalio.testing import WorkflowEnvironment

from api.auth import JWKS_FILE, TokenVerifier, machine
from api.settings import ApiSettings
from cases.org import load_bundled_directory
from clients.cli import app


def test_login_prints_a_token_the_api_accepts() -> None:
    res = runner.invoke(app, ["login", "--as", "cw-xd-1", "--role", "caseworker", "--unit", "SX-TY-XD"])
    assert res.exit_code == 0, res.output
    verifier = TokenVerifier(ApiSettings(), jwks_file=DATA_DIR / JWKS_FILE)
    who = verifier.person(res.stdout.strip(), load_bundled_directory())
    assert (who.actor.id, who.actor.role.value, who.actor.unit_id) == ("cw-xd-1", "caseworker", "SX-TY-XD")
    assert who.scope_units == {"SX-TY-XD"}


@pytest.mark.parametrize(("argv", "text"), [
    (["--as", "x", "--role", "caseworker", "--unit", "SX-NOWHERE"], "unknown unit"),
    (["--as", "x", "--role", "janitor", "--unit", "SX"], "janitor"),
])
def test_login_refuses_bad_identities(argv: list[str], text: str) -> None:
    res = runner.invoke(app, ["login", *argv])
    assert res.exit_code != 0 and text in res.output


def _cli(*argv: str) -> Any:
    # the command runs its own event loop: off the test's loop, in a thread
    return asyncio.to_thread(runner.invoke, app, list(argv))


async def test_api_key_create_list_revoke(pg_dsn: str, pg_pool: Any) -> None:
    db = ["--database-url", pg_dsn]
    res = await _cli(*db, "api-key", "create", "--name", "12393 desk", "--channel", "hotline_12393",
                     "--channel", "wechat", "--jurisdiction", "CN-SX")
    assert res.exit_code == 0, res.output
    key = res.stdout.strip()
    who = await machine(pg_pool, key)
    assert who.channels == {"hotline_12393", "wechat"} and who.jurisdiction == "CN-SX"
    key_id = who.actor.id.removeprefix("apikey:")
    stored = await pg_pool.fetchval("SELECT secret_sha256 FROM api_keys WHERE key_id = $1", key_id)
    assert key.split(".", 1)[1] not in stored  # only the hash is kept
    listed = await _cli(*db, "api-key", "list")
    assert key_id in listed.stdout and "12393 desk" in listed.stdout and key.split(".", 1)[1] not in listed.stdout
    assert (await _cli(*db, "api-key", "revoke", key_id)).exit_code == 0
    again = await _cli(*db, "api-key", "revoke", key_id)
    assert again.exit_code == 1 and "no active key" in again.output
    bad = await _cli(*db, "api-key", "create", "--name", "x", "--channel", "fax", "--jurisdiction", "CN-SX")
    assert bad.exit_code == 1 and "channels: unknown channel 'fax'" in bad.output


async def test_show_lists_what_the_person_may_do(dev_env: WorkflowEnvironment, pg_pool: Any, tmp_path: Path) -> None:
    q = task_queue()
    reg = registration()
    f = tmp_path / "reg.json"
    f.write_text(json.dumps(reg, ensure_ascii=False), encoding="utf-8")
    async with running_worker(dev_env.client, pg_pool, q):
        assert (await invoke(dev_env, q, "register", "--file", str(f))).exit_code == 0
        res = await invoke(dev_env, q, "show", reg["case_no"], "--as", "disp-01", "--role", "dispatcher", "--unit", "SX")
        assert res.exit_code == 0, res.output
        assert "disp-01 (dispatcher, SX) may: accept, reject, merge_into" in res.stdout
        res = await invoke(dev_env, q, "show", reg["case_no"], "--as", "cw-xd-1", "--role", "caseworker",
                           "--unit", "SX-TY-XD")
        assert "may: nothing now" in res.stdout
        res = await invoke(dev_env, q, "show", reg["case_no"], "--as", "disp-01")
        assert res.exit_code == 1 and "give all of --as, --role and --unit" in res.output
