"""The HTTP API against the Python client on the same embedded stack: what the door costs.

One dev server (SQLite file), one in-process worker, one embedded PostgreSQL, and the API as its own process
(`python -m api`, uvicorn, the stack's signing key). N cases are registered and accepted by C concurrent
clients through `CaseClient` (the same-run baseline) and N others through HTTP with a bearer token and an
`Idempotency-Key` on every decision. Printed: registrations/s (one phase each) and accept round trip p50/p95 for
both (the two kinds interleaved in one phase, so both see the same load), the API's as ratios to the
client's. An API decision is more than the update: the token is verified, the case's
summary is read for the caller's scope, the outcome is stored for the key, and the answer carries the
decisions the caller may take next (a query).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from activities.db import create_pool
from api.auth import login_token
from api.settings import ApiSettings
from bench.common import (
    Report,
    connect_client,
    create_database,
    dev_server,
    free_port,
    machine_line,
    percentile,
    postgres,
    settings_for,
    temp_dir,
    wait_namespace_ready,
)
from bench.intake import DISPATCHER, _pool_run, registrations, unit_of
from cases.models import Actor
from clients.case_client import CaseClient
from workers.main import build_worker

ROOT = Path(__file__).resolve().parent.parent


def _start_api(port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "api", "--host", "127.0.0.1", "--port", str(port)],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def run(n_cases: int = 100, clients: int = 4) -> Report:
    rep = Report("api")
    rep.params = {"cases_each": n_cases, "clients": clients,
                  "temporal": "dev server (temporal server start-dev) on a SQLite file",
                  "api": "python -m api (uvicorn, one process), bearer token, Idempotency-Key on decisions"}
    print(machine_line(), flush=True)
    with temp_dir("bench-api-") as root:
        data = root / "data"
        settings = settings_for(data)
        async with postgres(root) as server, dev_server(root) as ds:
            dsn = await create_database(server, "api")
            pool = await create_pool(dsn, 2, 20)
            client = await connect_client(ds.address, settings)
            await wait_namespace_ready(client)
            tq = f"bench-api-{uuid.uuid4().hex[:6]}"
            worker = build_worker(client, pool, settings, task_queue=tq)
            port = free_port()
            env = {**os.environ, "COMPLAINTS_DATA_DIR": str(data), "COMPLAINTS_TEMPORAL_ADDRESS": ds.address,
                   "COMPLAINTS_TASK_QUEUE": tq, "COMPLAINTS_DATABASE_URL": dsn}
            api = None
            try:
                async with worker:
                    # the API process signs with (and so creates) the key in `data`; wait until it is ready
                    api = _start_api(port, env, root / "api.log")
                    base = f"http://127.0.0.1:{port}"
                    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
                        for _ in range(300):
                            try:
                                if (await http.get("/readyz")).status_code == 200:
                                    break
                            except httpx.TransportError:
                                pass
                            await asyncio.sleep(0.2)
                        else:
                            raise RuntimeError(f"the API did not start; see {root / 'api.log'}")
                        dispatcher = Actor.model_validate(DISPATCHER)
                        token = login_token(data, dispatcher, ApiSettings())
                        auth = {"Authorization": f"Bearer {token}"}
                        cc = CaseClient(client, task_queue=tq)
                        regs = registrations(2 * n_cases + 1)
                        warm, via_client, via_api = regs[0], regs[1:n_cases + 1], regs[n_cases + 1:]
                        # warm both paths (sandbox imports, first connections)
                        await cc.register(warm)
                        await http.get(f"/v1/cases/{warm.case_no}", headers=auth)

                        # -- baseline: the Python client
                        wall = await _pool_run(via_client, clients, lambda r: cc.register(r))
                        rep.add("client_registrations_per_s", n_cases / wall, "cases/s")
                        await _ready(cc, via_client)
                        client_times: list[float] = []

                        async def client_accept(reg: Any) -> None:
                            t1 = time.perf_counter()
                            await cc.decide(reg.case_no, "accept", {"unit_id": unit_of(reg)}, actor=DISPATCHER)
                            client_times.append(time.perf_counter() - t1)

                        # -- the same through HTTP
                        failures: list[str] = []

                        async def api_register(reg: Any) -> None:
                            r = await http.post("/v1/cases", content=reg.model_dump_json(),
                                                headers={**auth, "Content-Type": "application/json"})
                            if r.status_code != 201:
                                failures.append(f"register {reg.case_no}: {r.status_code} {r.text[:200]}")

                        wall = await _pool_run(via_api, clients, api_register)
                        rep.add("api_registrations_per_s", n_cases / wall, "cases/s",
                                baseline="client_registrations_per_s")
                        await _ready(cc, via_api)
                        api_times: list[float] = []

                        async def api_accept(reg: Any) -> None:
                            t1 = time.perf_counter()
                            r = await http.post(f"/v1/cases/{reg.case_no}/decisions/accept", json={"unit_id": unit_of(reg)},
                                                headers={**auth, "Idempotency-Key": f"accept-{reg.case_no}"})
                            api_times.append(time.perf_counter() - t1)
                            if r.status_code != 200:
                                failures.append(f"accept {reg.case_no}: {r.status_code} {r.text[:200]}")

                        # both kinds of accept interleaved in one run, so both see the same load on the machine
                        pairs = [(client_accept, r) for r in via_client] + [(api_accept, r) for r in via_api]
                        pairs = [p for pair in zip(pairs[:n_cases], pairs[n_cases:], strict=True) for p in pair]

                        async def accept(job: Any) -> None:
                            await job[0](job[1])

                        await _pool_run(pairs, clients, accept)
                        rep.add("client_accept_p50", percentile(client_times, 50) * 1000, "ms")
                        rep.add("client_accept_p95", percentile(client_times, 95) * 1000, "ms")
                        rep.add("api_accept_p50", percentile(api_times, 50) * 1000, "ms", baseline="client_accept_p50")
                        rep.add("api_accept_p95", percentile(api_times, 95) * 1000, "ms", baseline="client_accept_p95")
                        rep.add("failures", len(failures), "requests")
                        if failures:
                            rep.note(f"first failure: {failures[0]}")
            finally:
                if api is not None:
                    _stop(api)
                await pool.close()
    rep.write()
    return rep


async def _ready(cc: Any, regs: list[Any]) -> None:
    """Wait until every case answers its summary (registration done), so accepts measure only the decision."""
    await asyncio.gather(*[cc.summary(r.case_no) for r in regs])


def main(argv: list[str] | None = None) -> None:
    """`python -m bench.api [N] [C]`."""
    args = argv if argv is not None else sys.argv[1:]
    asyncio.run(run(int(args[0]) if args else 100, int(args[1]) if len(args) > 1 else 4))


if __name__ == "__main__":
    main()
