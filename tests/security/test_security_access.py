"""Access control, proved on the real system.

* A caseworker cannot decide a case of another unit: the real `ComplaintCase` refuses the update in its
  validator and the workflow history does not grow (nothing recorded); the same for a dispatcher of a unit that
  may not dispatch in the case's jurisdiction.
* A city supervisor's dashboard scope (the subtree of their unit, `dashboard.queries.subtree_ids`) shows only
  that city's cases in every query (board, overview counts, detail, extensions, unit league).
* Outside the embedded mode the dashboard requires login: the Streamlit app in `COMPLAINTS_MODE=production`
  shows the login prompt and no data at all.
* The local stack binds the dashboard (and Temporal, the codec server) to 127.0.0.1 only: checked on the
  argv `devstack.stack` builds and on the listening sockets of a dashboard it really starts.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
import uuid
from datetime import date, datetime
from pathlib import Path

import asyncpg
import psutil
import pytest
import pytest_asyncio
from helpers.cases import CST, DISPATCHER, HANDLING_UNIT, WRONG_UNIT, registration
from helpers.dashboard_seed import NOW, seed_dashboard
from helpers.reliability import free_port, unique_case_numbers
from streamlit.testing.v1 import AppTest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from cases.models import AcceptDecision, CompleteInvestigationDecision, RequestExtensionDecision, Role
from common.settings import Settings
from dashboard import queries as q
from devstack.stack import Stack
from workers.main import build_worker
from workflows import ComplaintCase
from workflows.client import start_case

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")


async def _history_length(handle) -> int:  # noqa: ANN001 - a WorkflowHandle
    return len((await handle.fetch_history()).events)


@pytest.mark.timeout(120)
async def test_caseworker_of_another_unit_cannot_decide(dev_env: WorkflowEnvironment, pg_pool: asyncpg.Pool) -> None:
    tq = f"complaints-sec-{uuid.uuid4().hex[:8]}"
    (no,) = unique_case_numbers(1)
    async with build_worker(dev_env.client, pg_pool, Settings(task_queue=tq)):
        h = await start_case(dev_env.client, registration(case_no=no, received_at=datetime.now(CST).isoformat()),
                             task_queue=tq)
        # a dispatcher of the national bureau may not accept a Shanxi case
        before = await _history_length(h)
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await h.execute_update(ComplaintCase.accept, AcceptDecision(actor=WRONG_UNIT[Role.dispatcher]))
        assert "NHSA" in str(err.value.cause)
        s = await h.execute_update(ComplaintCase.accept, AcceptDecision(actor=DISPATCHER, unit_id=HANDLING_UNIT))
        assert s.handling_unit == HANDLING_UNIT
        await asyncio.sleep(0.5)  # let the accept's activities settle
        before = await _history_length(h)
        other = WRONG_UNIT[Role.caseworker]  # a caseworker of SX-TY-YZ
        for decision, name in (
            (CompleteInvestigationDecision(actor=other, findings="不属实"), ComplaintCase.complete_investigation),
            (RequestExtensionDecision(actor=other, reason="需要更多时间"), ComplaintCase.request_extension),
        ):
            with pytest.raises(WorkflowUpdateFailedError) as err:
                await h.execute_update(name, decision)
            msg = str(err.value.cause)
            assert "not the handling unit" in msg and other.unit_id in msg, msg
        assert await _history_length(h) == before, "a refused decision left something in history"
        summ = await h.query(ComplaintCase.summary)
        assert summ.stage == "investigation" and summ.investigation is None
        rows = await pg_pool.fetch("SELECT actor_unit FROM case_events WHERE case_no = $1", no)
        assert other.unit_id not in {r["actor_unit"] for r in rows}


# ------------------------------------------------------------------------------------------ dashboard scope


@pytest_asyncio.fixture(scope="module")
async def seeded_dsn(pg_dsn: str) -> str:
    await seed_dashboard(pg_dsn)
    return pg_dsn


async def test_city_supervisor_sees_only_the_city_subtree(seeded_dsn: str) -> None:
    conn = await asyncpg.connect(seeded_dsn)
    try:
        scope = await q.subtree_ids(conn, "SX-TY")
        assert scope and all(u == "SX-TY" or u.startswith("SX-TY-") for u in scope), scope
        everything = await q.sla_board(conn, None, q.BoardFilters(levels=tuple(q.LEVELS)), NOW)
        board = await q.sla_board(conn, scope, q.BoardFilters(levels=tuple(q.LEVELS)), NOW)
        assert len(board) < len(everything)
        assert set(board["handling_unit"]) <= set(scope), set(board["handling_unit"])
        assert sum((await q.open_by_level(conn, scope)).values()) == len(board)
        # a case of another city: invisible in detail, even by number
        dt_case = everything[everything["handling_unit"] == "SX-DT-PC"]["case_no"].iloc[0]
        assert await q.case_detail(conn, dt_case, scope) is None
        assert await q.case_detail(conn, dt_case, None) is not None
        # unassigned cases belong to the provincial centre: not in a city's scope
        assert not board["handling_unit"].isna().any()
        ext = await q.pending_extensions(conn, scope)
        assert set(ext["handling_unit"]) <= set(scope)
        league = await q.unit_league(conn, q.Period(date(2026, 2, 1), date(2026, 3, 18)), scope)
        assert set(league["unit_id"]) <= set(scope), set(league["unit_id"])
    finally:
        await conn.close()


@pytest.fixture
def production_env(seeded_dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPLAINTS_DATABASE_URL", seeded_dsn)
    monkeypatch.setenv("COMPLAINTS_MODE", "production")
    monkeypatch.setenv("COMPLAINTS_DASHBOARD_REFRESH_SECONDS", "0")
    monkeypatch.setenv("COMPLAINTS_DASHBOARD_NOW", NOW.isoformat())


def test_production_dashboard_requires_login_and_shows_no_data(production_env: None) -> None:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    assert any("登录" in i.value for i in at.info), [i.value for i in at.info]
    assert any(b.key == "login" for b in at.button)
    assert len(at.metric) == 0 and len(at.dataframe) == 0 and len(at.table) == 0
    shown = " ".join(m.value for m in at.markdown) + " ".join(c.value for c in at.caption)
    assert "SX2026" not in shown  # no case number leaks before login


# ------------------------------------------------------------------------------------------ local binding


class _RecordingStack(Stack):
    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.argv: dict[str, list[str]] = {}

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> int:
        self.argv[name] = argv
        return 0


def _flag(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_local_stack_binds_to_loopback_only(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", dashboard_port=free_port())
    rec = _RecordingStack(settings)
    rec.start_dashboard()
    rec.start_temporal()
    assert _flag(rec.argv["dashboard"], "--server.address") == "127.0.0.1"
    assert _flag(rec.argv["temporal"], "--ip") == "127.0.0.1"
    assert settings.codec_server_host == "127.0.0.1" and settings.dashboard_address == "127.0.0.1"

    # and a dashboard really started by the stack listens on loopback only
    stack = Stack(settings)
    stack.start_dashboard()
    pid = int((stack.pids / "dashboard.pid").read_text())
    try:
        deadline = time.monotonic() + 60
        listening: list[str] = []
        while time.monotonic() < deadline and not listening:
            procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
            listening = [c.laddr.ip for p in procs for c in p.net_connections(kind="inet")
                         if c.status == psutil.CONN_LISTEN and c.laddr.port == settings.dashboard_port]
            time.sleep(0.3)
        assert listening and set(listening) == {"127.0.0.1"}, listening
        other = _non_loopback_ip()
        if other is not None:  # not reachable on another address of this machine
            with pytest.raises(OSError):
                socket.create_connection((other, settings.dashboard_port), timeout=2).close()
    finally:
        # stop exactly the process this test started (its own process group)
        try:
            os.killpg(pid, signal.SIGTERM)
            psutil.Process(pid).wait(20)
        except (ProcessLookupError, psutil.NoSuchProcess):
            pass
        except psutil.TimeoutExpired:
            os.killpg(pid, signal.SIGKILL)


def _non_loopback_ip() -> str | None:
    for addrs in psutil.net_if_addrs().values():
        for a in addrs:
            if a.family == socket.AF_INET and not a.address.startswith("127."):
                return a.address
    return None
