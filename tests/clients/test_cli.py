"""The `complaints` CLI against the real dev server with a real worker: register, decide, show, list, import,
demo data as intake lines (the whole demo: tests/clients/test_demo.py), calendar, and the exit codes (0 ok, 1
refused/invalid with the field named on stderr, 2 usage).

Commands run in a worker thread (`asyncio.to_thread`) because each one runs its own event loop, while the
test's loop runs the Temporal worker.
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
from pathlib import Path

from helpers.cli import invoke, runner, write_json
from helpers.client import EXAMPLES, decision, new_case_no, registration, running_worker, task_queue
from temporalio.testing import WorkflowEnvironment

from clients.case_client import CaseClient
from clients.cli import app

# ------------------------------------------------------------------------------------ no server needed


def test_usage_errors_exit_2() -> None:
    assert runner.invoke(app, ["accept"]).exit_code == 2  # missing CASE
    assert runner.invoke(app, ["accept", "SX2026112000123", "--role", "janitor"]).exit_code == 2
    assert runner.invoke(app, ["no-such-command"]).exit_code == 2
    assert runner.invoke(app, ["register"]).exit_code == 2  # --file is required


def test_console_script_exit_codes() -> None:
    exe = Path(sys.executable).with_name("complaints")
    proc = subprocess.run([str(exe), "frobnicate"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    bad = EXAMPLES.parent.parent / "schemas" / "examples" / "updates" / "accept.json"  # not a registration
    proc = subprocess.run([str(exe), "register", "--file", str(bad)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "case_no" in proc.stderr
    proc = subprocess.run(
        [str(exe), "calendar", "add-working-days", "2026-09-28", "15"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0 and "2026-10-" in proc.stdout


def test_invalid_registration_file_names_the_field_before_any_call(tmp_path: Path) -> None:
    reg = registration()
    reg["complainant"]["phone"] = "110"
    # the address is unreachable: validation happens first, so the error is about the field, not the server
    res = runner.invoke(app, ["--address", "127.0.0.1:1", "register", "--file", write_json(tmp_path, "r.json", reg)])
    assert res.exit_code == 1
    assert "complainant.phone" in res.stderr
    res = runner.invoke(app, ["register", "--file", str(tmp_path / "missing.json")])
    assert res.exit_code == 1 and "--file" in res.stderr
    (tmp_path / "broken.json").write_text("{not json", encoding="utf-8")
    res = runner.invoke(app, ["register", "--file", str(tmp_path / "broken.json")])
    assert res.exit_code == 1 and "not valid JSON" in res.stderr


def test_request_review_on_behalf_of_a_merged_case_is_checked_before_any_call() -> None:
    base = ["--address", "127.0.0.1:1", "request-review", "SX2026112000123", "--as", "agent-07",
            "--role", "intake_agent", "--unit", "SX", "--reason", "不服处理结果"]
    res = runner.invoke(app, [*base, "--on-behalf-of", "not-a-case"])
    assert res.exit_code == 1 and "on_behalf_of" in res.stderr, res.output
    cc = CaseClient.offline()
    payload = {"actor": {"id": "agent-07", "role": "intake_agent", "unit_id": "SX"}, "reason": "不服处理结果",
               "on_behalf_of": "SX2026112000124"}
    assert cc.validate_decision("request_review", payload).on_behalf_of == "SX2026112000124"  # type: ignore[attr-defined]


def test_calendar_is_mounted() -> None:
    res = runner.invoke(app, ["calendar", "add-working-days", "2026-09-28", "15"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["calendar", "is-working-day", "2026-02-14"])
    assert res.exit_code == 0  # a makeup Saturday is a working day


def test_demo_jsonl_lines_are_valid_registrations() -> None:
    res = runner.invoke(app, ["demo", "--cases", "30", "--seed", "7", "--start", "2026-06-01", "--jsonl"])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert len(lines) == 30
    cc = CaseClient.offline()
    regs = [cc.validate_registration(line) for line in lines]
    assert len({r.case_no for r in regs}) == 30
    assert {r.channel.value for r in regs} >= {"hotline_12393"}
    res = runner.invoke(app, ["demo", "--cases", "3", "--start", "2099-01-01", "--jsonl"])
    assert res.exit_code == 1 and "--start" in res.stderr


# ------------------------------------------------------------------------------------ against dev server


async def test_register_decide_show_list_round_trip(dev_env: WorkflowEnvironment, pg_pool, tmp_path: Path) -> None:  # noqa: ANN001
    q = task_queue()
    reg = registration()
    no = reg["case_no"]
    f = write_json(tmp_path, "reg.json", reg)
    async with running_worker(dev_env.client, pg_pool, q):
        res = await invoke(dev_env, q, "register", "--file", f)
        assert res.exit_code == 0, res.output
        assert res.stdout.strip() == no
        res = await invoke(dev_env, q, "register", "--file", f)  # idempotent
        assert res.exit_code == 0 and res.stdout.strip() == no

        res = await invoke(dev_env, q, "show", no)
        assert res.exit_code == 0, res.output
        assert "acceptance" in res.stdout and "registered" in res.stdout and "deadlines" in res.stdout
        assert reg["complainant"]["id_number"] not in res.stdout  # masked

        # refused by the workflow: exit 1, the validator's reason on stderr
        res = await invoke(dev_env, q, "send-feedback", no, "--as", "cw-xd-1", "--role", "caseworker", "--unit", "SX-TY-XD", "--message", "done")
        assert res.exit_code == 1 and "send_feedback refused" in res.stderr
        # invalid option value for the model: exit 1 naming the field
        res = await invoke(dev_env, q, "reject", no, "--as", "disp-01", "--role", "dispatcher", "--unit", "SX", "--reason", "x", "--redirect-to", "12345")
        assert res.exit_code == 1 and "reason" in res.stderr

        res = await invoke(dev_env, q, "accept", no, "--as", "disp-01", "--role", "dispatcher", "--unit", "SX", "--assign-to", "SX-TY-YZ")
        assert res.exit_code == 0, res.output
        assert "stage=investigation" in res.stdout and "unit=SX-TY-YZ" in res.stdout
        # --file payload with options overriding it
        res = await invoke(
            dev_env, q, "request-extension", no, "--file", str(EXAMPLES / "updates" / "request_extension.json"),
            "--unit", "SX-TY-YZ", "--as", "cw-yz-1",
        )
        assert res.exit_code == 0, res.output
        res = await invoke(dev_env, q, "decide-extension", no, "--as", "sup-SX-TY", "--role", "supervisor", "--unit", "SX-TY", "--approve", "--json")
        assert res.exit_code == 0, res.output
        summary = json.loads(res.stdout)
        assert summary["extension_status"] == "approved"
        assert any(c["clock"] == "investigation" and c["extended"] for c in summary["clocks"])

        for _ in range(100):
            res = await invoke(dev_env, q, "list", "--unit", "SX-TY-YZ", "--stage", "investigation", "--json")
            assert res.exit_code == 0, res.output
            rows = [json.loads(line) for line in res.stdout.splitlines()]
            if any(r["case_no"] == no for r in rows):
                break
            await asyncio.sleep(0.1)
        assert any(r["case_no"] == no and r["handling_unit"] == "SX-TY-YZ" for r in rows)
        res = await invoke(dev_env, q, "list", "--unit", "SX-TY-YZ")
        assert res.exit_code == 0 and no in res.stdout
        res = await invoke(dev_env, q, "list", "--level", "purple")
        assert res.exit_code == 1 and "level" in res.stderr

        res = await invoke(dev_env, q, "show", new_case_no())
        assert res.exit_code == 1 and "not found" in res.stderr
        res = await invoke(dev_env, q, "withdraw", no, "--file", write_json(tmp_path, "w.json", decision("withdraw")))
        assert res.exit_code == 0 and "closed: withdrawn" in res.stdout


async def test_import_1000_lines_with_10_bad(dev_env: WorkflowEnvironment, pg_pool, tmp_path: Path) -> None:  # noqa: ANN001
    from clients import demo

    q = task_queue()
    plans = demo.generate(1000, seed=20261125)
    lines = [p.registration.model_dump_json() for p in plans]
    rng = random.Random(3)
    bad_lines = sorted(rng.sample(range(1, 1001), 10))
    breakers = [
        lambda d: d["complainant"].update(id_number=d["complainant"]["id_number"][:17] + ("1" if d["complainant"]["id_number"][17] != "1" else "2")),
        lambda d: d["complainant"].update(phone="12345678"),
        lambda d: d.update(received_at="2026-02-30T10:00:00+08:00"),
        lambda d: d.update(channel="telegram"),
        lambda d: d["matter"].update(locality_unit="SX-XX"),
    ]
    expected_field = ["complainant.id_number", "complainant.phone", "received_at", "channel", "matter.locality_unit"]
    for i, line_no in enumerate(bad_lines):
        if i == 9:
            lines[line_no - 1] = "{this is not json"
            continue
        d = json.loads(lines[line_no - 1])
        breakers[i % len(breakers)](d)
        lines[line_no - 1] = json.dumps(d, ensure_ascii=False)
    f = tmp_path / "cases.jsonl"
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = tmp_path / "errors.jsonl"
    # intake alone (registration = starting the workflow; the worker runs the cases afterwards)
    res = await invoke(dev_env, q, "import", str(f), "--concurrency", "20", "--report", str(report), "--quiet")
    print(res.stdout, file=sys.stderr)  # throughput, e.g. "registered 990 of 1000 lines ... cases/s"
    assert res.exit_code == 1, res.output  # some lines refused
    assert "registered 990 of 1000 lines, refused 10" in res.stdout
    errs = [json.loads(x) for x in report.read_text(encoding="utf-8").splitlines()]
    assert [e["line"] for e in errs] == bad_lines
    for i, e in enumerate(errs[:9]):
        assert e["field"] == expected_field[i % len(expected_field)], e
    assert errs[9]["field"] == "(json)"
    for ln in bad_lines:
        assert f"line {ln}: " in res.stderr
    cc = CaseClient(dev_env.client, task_queue=q)
    good = [p.registration.case_no for i, p in enumerate(plans, start=1) if i not in bad_lines]
    bad = [plans[i - 1].registration.case_no for i in bad_lines]
    sem = asyncio.Semaphore(20)  # the dev server's store has one connection: ask as a client would, not all at once

    async def exists(no: str) -> bool:
        async with sem:
            return await cc.exists(no)

    exists = await asyncio.gather(*(exists(n) for n in good + bad))
    assert all(exists[: len(good)]) and not any(exists[len(good) :])
    async with running_worker(dev_env.client, pg_pool, q):
        # importing the same file again (while the worker runs the cases) creates nothing new
        res = await invoke(dev_env, q, "import", str(f), "--concurrency", "20", "--quiet")
        assert "registered 990 of 1000" in res.stdout
        # the cases really run: the earliest registered one answers its summary query
        first_good = good[0]
        summary = await asyncio.wait_for(cc.summary(first_good, attempts=600), timeout=120)
        assert summary.case_no == first_good and summary.stage.value in ("acceptance", "archived")
    for _ in range(300):  # visibility catches up (eventually consistent)
        total = (await dev_env.client.count_workflows(f"TaskQueue = '{q}'")).count
        if total == 990:
            break
        await asyncio.sleep(0.2)
    assert total == 990


async def test_bureau_calendar_commands_move_open_deadlines(
    dev_env: WorkflowEnvironment, pg_pool, pg_dsn: str, tmp_path: Path  # noqa: ANN001
) -> None:
    """An administrator records a closure and a later service close for CN-SX; `publish` (run by each command)
    makes the open case reload its calendar, and its acceptance deadline moves to the day and minute; clearing
    both brings the published deadline back. Bad input exits 1 naming the field and writes nothing."""
    from datetime import datetime, time
    from zoneinfo import ZoneInfo

    from calendars import get_calendar

    CST = ZoneInfo("Asia/Shanghai")  # noqa: N806

    q = task_queue()
    received = datetime.now(CST).replace(microsecond=0)
    reg = registration(received_at=received.isoformat())
    no = reg["case_no"]
    published = get_calendar("CN-SX")
    first_wd = published.add_working_days(received.date(), 1)
    db = ["--database-url", pg_dsn]

    async def acceptance_due() -> datetime:
        res = await invoke(dev_env, q, "show", no, "--json")
        assert res.exit_code == 0, res.output
        clock = next(c for c in json.loads(res.stdout)["clocks"] if c["clock"] == "acceptance")
        return datetime.fromisoformat(clock["due_at"])

    async def settles_at(expected: datetime) -> None:
        for _ in range(100):
            if await acceptance_due() == expected:
                return
            await asyncio.sleep(0.2)
        assert await acceptance_due() == expected

    async with running_worker(dev_env.client, pg_pool, q):
        res = await invoke(dev_env, q, "register", "--file", write_json(tmp_path, "reg.json", reg))
        assert res.exit_code == 0, res.output
        await settles_at(published.deadline_at(received, 2))
        # `publish` finds open cases through visibility, which lags the case's first search-attribute upsert
        from clients.case_client import open_cases_query

        for _ in range(100):
            if no in {w.id.removeprefix("complaint-") async for w in dev_env.client.list_workflows(
                    open_cases_query("CN-SX", [q]))}:
                break
            await asyncio.sleep(0.1)

        res = await invoke(dev_env, q, *db, "bureau-calendar", "close", first_wd.isoformat(), "-j", "cn-sx",
                           "--note", "系统割接闭馆", "--as", "adm-sx")
        assert res.exit_code == 0, res.output
        assert f"CN-SX closed on {first_wd}" in res.stdout and "1 open case(s) of CN-SX reload" in res.stdout
        await settles_at(get_calendar("CN-SX", [first_wd]).deadline_at(received, 2))

        res = await invoke(dev_env, q, *db, "bureau-calendar", "close-time", "17:45", "-j", "CN-SX",
                           "--note", "延时服务", "--as", "adm-sx")
        assert res.exit_code == 0, res.output
        moved = get_calendar("CN-SX", [first_wd], close_time=time(17, 45)).deadline_at(received, 2)
        await settles_at(moved)
        assert moved.astimezone(CST).time() == time(17, 45)

        res = await invoke(dev_env, q, *db, "bureau-calendar", "show", "-j", "CN-SX")
        assert res.exit_code == 0, res.output
        assert "系统割接闭馆" in res.stdout and "17:45" in res.stdout and "adm-sx" in res.stdout

        for args, field in [
            (["close", "2026-13-01", "-j", "CN-SX", "--note", "x", "--as", "a"], "day"),
            (["close", first_wd.isoformat(), "-j", "CN-ZZ", "--note", "x", "--as", "a"], "jurisdiction"),
            (["open", first_wd.isoformat(), "-j", "CN-SX", "--note", " ", "--as", "a"], "note"),
            (["close-time", "25:00", "-j", "CN-SX", "--note", "x", "--as", "a"], "close_time"),
            (["close-time", "03:00", "-j", "CN-SX", "--note", "x", "--as", "a"], "close_time"),
        ]:
            res = await invoke(dev_env, q, *db, "bureau-calendar", *args)
            assert res.exit_code == 1 and f"error: {field}:" in res.stderr, (args, res.output)
        assert await pg_pool.fetchval("SELECT count(*) FROM bureau_calendar_days") == 1

        res = await invoke(dev_env, q, *db, "bureau-calendar", "clear", first_wd.isoformat(), "-j", "CN-SX")
        assert res.exit_code == 0, res.output
        res = await invoke(dev_env, q, *db, "bureau-calendar", "close-time", "default", "-j", "CN-SX")
        assert res.exit_code == 0 and "17:00 (default)" in res.stdout, res.output
        await settles_at(published.deadline_at(received, 2))
        res = await invoke(dev_env, q, *db, "bureau-calendar", "clear", first_wd.isoformat(), "-j", "CN-SX")
        assert res.exit_code == 1 and "nothing recorded" in res.stderr
        res = await invoke(dev_env, q, "withdraw", no, "--file", write_json(tmp_path, "w.json", decision("withdraw")))
        assert res.exit_code == 0, res.output
