"""Dashboard queries at scale: N cases (default 1,000,000) with ~2 SLA clocks, ~6 audit events and one outbox
notification (the complainant's acknowledgement; ~0.5% given up: attempts exhausted or no contact) each, bulk
loaded with COPY (`asyncpg.copy_records_to_table`) into an embedded PostgreSQL with the project's migrations,
then every query of `dashboard/queries.py` timed (p50/p95 over repeats), province-wide and for one city's
subtree. Baseline: a plain `SELECT count(*) FROM cases` in the same run; each query's ratio to it is printed.

Distributions: units from the Shanxi directory (`cases/data/org_units.json`, Taiyuan weighted up), receipt
dates over the last two years, ~6% of cases open (recent cases mostly open, old ones archived), open cases'
next deadlines spread around "now" with SLA levels consistent with them, extensions, returns, reviews,
return visits with a realistic satisfaction mix.

Loading: the secondary indexes are dropped before COPY and rebuilt after it (the usual bulk-load path), then
`ANALYZE`. Both the COPY rate and the index build time are reported.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import Report, create_database, machine_line, percentile, postgres, temp_dir

DAY_US = 86_400 * 1_000_000
HOUR_US = 3_600 * 1_000_000
CHUNK = 100_000
PG_TUNING = {  # a modest server for a 24 GB machine; the figures are recorded with the results
    "shared_buffers": "2GB",
    "work_mem": "64MB",
    "maintenance_work_mem": "1GB",
    "max_wal_size": "8GB",
    "checkpoint_timeout": "30min",
    "effective_cache_size": "8GB",
    "random_page_cost": "1.1",
    "max_parallel_workers_per_gather": "2",
    "wal_level": "minimal",  # bulk load inside the truncating transaction skips the WAL
    "max_wal_senders": "0",
}

KINDS = (["complaint", "fraud_report", "consultation", "misconduct"], [78, 10, 8, 4])
CHANNELS = (
    ["hotline_12393", "national_app", "service_hall", "wechat", "provincial_web", "national_web", "mail"],
    [44, 18, 12, 11, 8, 4, 3],
)
CATEGORIES = (["reimbursement", "designated_institution", "pharmacy", "enrolment", "other"], [40, 22, 14, 14, 10])
SATISFACTION = (["satisfied", "basically_satisfied", "unsatisfied", "unreachable"], [62, 22, 9, 7])


def _w(rng: np.random.Generator, choices: tuple[list[str], list[int]], n: int) -> np.ndarray:
    names, weights = choices
    p = np.array(weights, dtype=float)
    return rng.choice(np.array(names, dtype=object), size=n, p=p / p.sum())


def _units() -> tuple[list[str], np.ndarray, dict[str, str]]:
    data = json.loads((Path(__file__).resolve().parent.parent / "cases" / "data" / "org_units.json").read_text())
    units = [u for u in data["units"] if u["level"] in ("city", "county")]
    ids = [u["unit_id"] for u in units]
    weights = np.array([4.0 if u["unit_id"].startswith("SX-TY") else 1.0 for u in units])
    parents = {u["unit_id"]: u["parent_id"] for u in units}
    return ids, weights / weights.sum(), parents


def _ts(us: np.ndarray) -> list[datetime]:
    """Microseconds since the epoch -> aware datetimes (None where NaT)."""
    out = us.astype("datetime64[us]").astype(object)
    return [None if d is None else d.replace(tzinfo=UTC) for d in out]


def generate_chunk(rng: np.random.Generator, start: int, n: int, now: datetime) -> dict[str, list[tuple[Any, ...]]]:
    """Rows of `cases`, `sla_clocks` and `case_events` for cases number start..start+n-1."""
    unit_ids, unit_p, _ = _units()
    now_us = int(now.timestamp() * 1_000_000)
    age_days = rng.uniform(0, 730, n) ** 1.0
    reg = now_us - (age_days * DAY_US).astype(np.int64)
    kind = _w(rng, KINDS, n)
    channel = _w(rng, CHANNELS, n)
    category = _w(rng, CATEGORIES, n)
    category[kind == "fraud_report"] = "fund_fraud"
    category[kind == "misconduct"] = "staff_conduct"
    p_open = np.select([age_days < 2, age_days < 20, age_days < 45, age_days < 90], [1.0, 0.85, 0.5, 0.12], 0.01)
    is_open = (rng.random(n) < p_open) & (kind != "consultation")
    # how far each case got: 0 registered, 1 accepted, 2 assigned, 3 investigated, 4 feedback, 5 visited,
    # 6 review requested, 7 review decided
    closed_progress = rng.choice([0, 1, 5, 5, 5, 5, 5, 5, 5, 7], size=n)
    open_progress = np.where(
        age_days < 2,
        rng.choice([0, 0, 0, 1, 2, 2], size=n),
        rng.choice([0, 1, 2, 2, 2, 2, 2, 2, 3, 4, 4, 6], size=n),
    )
    progress = np.where(is_open, open_progress, closed_progress)
    progress[kind == "consultation"] = 0
    stage = np.select(
        [~is_open, progress == 0, progress == 1, progress == 2, progress == 3, progress == 4, progress == 5],
        ["archived", "acceptance", "dispatch", "investigation", "feedback", "return_visit", "review_window"],
        "under_review",
    ).astype(object)
    unit = rng.choice(np.array(unit_ids, dtype=object), size=n, p=unit_p)
    unit[progress < 2] = None
    accepted = reg + (rng.gamma(2.0, 0.6, n) * DAY_US).astype(np.int64)
    extended = (progress >= 2) & (rng.random(n) < 0.12)
    ext_requested = is_open & (progress == 2) & ~extended & (rng.random(n) < 0.04)
    inv_len = np.where(extended, rng.uniform(15, 42, n), rng.uniform(4, 24, n))
    investigated = accepted + HOUR_US + (inv_len * DAY_US).astype(np.int64)
    feedback = investigated + (rng.uniform(0.2, 7, n) * DAY_US).astype(np.int64)
    visited = feedback + (rng.uniform(0.5, 5, n) * DAY_US).astype(np.int64)
    review_req = visited + (rng.uniform(1, 28, n) * DAY_US).astype(np.int64)
    review_dec = review_req + (rng.uniform(3, 20, n) * DAY_US).astype(np.int64)
    # open cases: the next deadline spread around now (late ones overdue, fresh ones ahead)
    due_offset_days = np.where(age_days < 5, rng.uniform(-1, 20, n), rng.uniform(-25, 25, n))
    due = np.where(is_open, now_us + (due_offset_days * DAY_US).astype(np.int64), 0)
    level = np.select(
        [~is_open, due_offset_days < 0, due_offset_days < 1, due_offset_days < 3], ["on_track", "red", "yellow", "blue"],
        "on_track",
    ).astype(object)
    # closed cases: their timeline ended in the past
    closed = np.where(~is_open, np.maximum(reg + DAY_US, np.where(progress >= 5, review_req, accepted)), 0)
    satisfaction = _w(rng, SATISFACTION, n)
    satisfaction[progress < 5] = None
    outcome = rng.choice(np.array(["uphold", "uphold", "uphold", "overturn"], dtype=object), size=n)
    review_outcome = np.where(progress >= 7, outcome, None)
    close_reason = np.select(
        [is_open, kind == "consultation", progress == 0, progress == 1, progress >= 7],
        [None, "answered_on_spot", "rejected", "transferred_12388", "review_upheld"], "review_window_lapsed",
    ).astype(object)
    ext_status = np.select([extended, ext_requested], ["approved", "requested"], None).astype(object)
    returns = (rng.random(n) < 0.03) & (progress >= 2)
    version = 4 + 2 * progress

    nat = np.iinfo(np.int64).min

    def when(mask: np.ndarray, us: np.ndarray) -> list[datetime | None]:
        return _ts(np.where(mask, us, nat))

    case_nos = [f"SX{d:%Y%m%d}{start + i:07d}" for i, d in enumerate(_ts(reg))]
    reg_t, acc_t = _ts(reg), when(progress >= 1, accepted)
    inv_t, fb_t = when(progress >= 3, investigated), when(progress >= 4, feedback)
    closed_t, due_t = when(~is_open, closed), when(is_open, due)
    now_dt = now
    names = rng.choice(np.array(list("王李张刘陈杨赵黄周吴"), dtype=object), size=n)
    confidential = kind == "fraud_report"
    cases = list(
        zip(
            case_nos, version.tolist(), kind.tolist(), channel.tolist(), category.tolist(), ["CN-SX"] * n,
            unit.tolist(), stage.tolist(), is_open.tolist(), level.tolist(), due_t, [False] * n,
            ext_status.tolist(), returns.astype(int).tolist(), [0] * n, satisfaction.tolist(),
            review_outcome.tolist(), close_reason.tolist(), reg_t, acc_t, inv_t, fb_t, closed_t,
            [now_dt] * n, [f"{x}*" for x in names], ["1401**********123X"] * n, ["138****5678"] * n,
            ["SX14****5678"] * n, confidential.tolist(),
            strict=True,
        )
    )
    # -- clocks: acceptance for every case, investigation once assigned
    acc_due = reg + (2.2 * DAY_US)
    acc_stop_mask = progress >= 1
    acc_level = np.where(acc_stop_mask, np.where(accepted > acc_due, "red", "on_track"), level).astype(object)
    acc_breached = np.where(acc_stop_mask, accepted > acc_due, is_open & (due_offset_days < 0))
    inv_mask = progress >= 2
    inv_due_orig = accepted + 21 * DAY_US
    inv_due = np.where(is_open & (progress == 2), due, inv_due_orig + np.where(extended, 21 * DAY_US, 0))
    inv_stop_mask = progress >= 3
    inv_breached = np.where(inv_stop_mask, investigated > inv_due, inv_due < now_us)
    inv_level = np.where(inv_stop_mask, np.where(inv_breached, "red", "on_track"), level).astype(object)
    clocks = list(
        zip(
            case_nos, ["acceptance"] * n, [1] * n, ["SX"] * n, reg_t, _ts(acc_due.astype(np.int64)),
            _ts(acc_due.astype(np.int64)), [False] * n, when(acc_stop_mask, accepted), acc_level.tolist(),
            acc_breached.tolist(), [False] * n, strict=True,
        )
    )
    idx = np.nonzero(inv_mask)[0]
    inv_started = _ts(accepted[idx])
    clocks += list(
        zip(
            [case_nos[i] for i in idx], ["investigation"] * len(idx), [1] * len(idx), unit[idx].tolist(),
            inv_started, _ts(inv_due_orig[idx]), _ts(inv_due[idx]), extended[idx].tolist(),
            when(inv_stop_mask[idx], investigated[idx]), inv_level[idx].tolist(), inv_breached[idx].tolist(),
            [False] * len(idx), strict=True,
        )
    )
    # -- events: up to 8 per case, ~6 on average
    events: list[tuple[Any, ...]] = []
    cw_unit = unit

    def slot(seq: int, mask: np.ndarray, kind_: np.ndarray | str, at: np.ndarray, stage_: str,
             actor_unit: np.ndarray | str | None, details: list[str] | str) -> None:
        ix = np.nonzero(mask)[0]
        if not len(ix):
            return
        kinds = [kind_] * len(ix) if isinstance(kind_, str) else kind_[ix].tolist()
        units_ = [actor_unit] * len(ix) if actor_unit is None or isinstance(actor_unit, str) else actor_unit[ix].tolist()
        dets = [details] * len(ix) if isinstance(details, str) else [details[i] for i in ix]
        nos = [case_nos[i] for i in ix]
        events.extend(
            zip(
                [f"{c}:{seq}:{k}" for c, k in zip(nos, kinds, strict=True)], nos, [seq] * len(ix), kinds,
                [stage_] * len(ix), _ts(at[ix]), [f"actor-{seq}"] * len(ix), ["caseworker"] * len(ix), units_,
                dets, strict=True,
            )
        )

    allm = np.ones(n, dtype=bool)
    slot(1, allm, "registered", reg, "acceptance", "SX", '{"channel": "hotline_12393"}')
    late = (accepted - reg) > 2.2 * DAY_US
    slot(2, late | (progress == 0), "sla_level_changed", reg + int(1.5 * DAY_US), "acceptance", None,
         '{"clock": "acceptance", "level": "blue"}')
    slot(3, progress >= 1, "accepted", accepted, "acceptance", "SX", "{}")
    ret_details = [f'{{"unit": "{u}"}}' if u else "{}" for u in unit.tolist()]
    slot(4, returns, "returned", accepted + HOUR_US, "investigation", cw_unit, ret_details)
    slot(5, progress >= 2, "assigned", accepted + 2 * HOUR_US, "dispatch", "SX", "{}")
    slot(6, extended, "extension_approved", accepted + 10 * DAY_US, "investigation", None, "{}")
    slot(7, progress >= 3, "investigation_completed", investigated, "investigation", cw_unit, "{}")
    slot(8, progress >= 4, "feedback_sent", feedback, "feedback", cw_unit, "{}")
    slot(9, progress >= 5, "return_visit_recorded", visited, "return_visit", "SX", "{}")
    slot(10, progress >= 6, "review_requested", review_req, "review_window", "SX", "{}")
    dec_details = [f'{{"outcome": "{o}"}}' if o else "{}" for o in review_outcome.tolist()]
    slot(11, progress >= 7, "review_decided", review_dec, "under_review", None, dec_details)
    slot(12, ~is_open, "archived", closed, "archived", None, "{}")
    # -- outbox: the acknowledgement to the complainant; a few the sender gave up on (attempts exhausted or
    # refused for good) or could not send (no contact)
    fate = rng.random(n)
    n_status = np.select([fate < 0.003, fate < 0.005], ["failed", "undeliverable"], "sent").astype(object)
    n_attempts = np.select([fate < 0.003, fate < 0.005], [8, 0], 1)
    sent = n_status == "sent"
    notifications = list(
        zip(
            [f"{c}:ack" for c in case_nos], case_nos, ["complainant"] * n, ["sms"] * n, [f"case:{c}" for c in case_nos],
            ["138****5678"] * n, ["acknowledgement"] * n, reg_t, n_status.tolist(), n_attempts.tolist(), reg_t,
            np.where(n_status == "failed", "gateway: 5xx", None).tolist(), when(sent, reg + 60_000_000), reg_t,
            strict=True,
        )
    )
    return {"cases": cases, "sla_clocks": clocks, "case_events": events, "notifications": notifications}


CASE_COLS = [
    "case_no", "version", "kind", "channel", "category", "jurisdiction", "handling_unit", "stage", "open",
    "sla_level", "due_at", "provisional", "extension_status", "returns", "rehandlings", "satisfaction",
    "review_outcome", "close_reason", "registered_at", "accepted_at", "investigation_completed_at",
    "feedback_sent_at", "closed_at", "updated_at", "complainant_name", "complainant_id_number",
    "complainant_phone", "complainant_card_number", "confidential_reporter",
]
CLOCK_COLS = ["case_no", "clock", "cycle", "unit", "started_at", "original_due_at", "due_at", "extended",
              "stopped_at", "level", "breached", "provisional"]
EVENT_COLS = ["event_key", "case_no", "seq", "kind", "stage", "at", "actor_id", "actor_role", "actor_unit",
              "details"]
NOTIFICATION_COLS = ["key", "case_no", "audience", "channel", "recipient_ref", "recipient_masked", "template",
                     "requested_at", "status", "attempts", "next_attempt_at", "last_error", "sent_at", "created_at"]
COLS = {"cases": CASE_COLS, "sla_clocks": CLOCK_COLS, "case_events": EVENT_COLS, "notifications": NOTIFICATION_COLS}


async def load(dsn: str, n: int, now: datetime, rep: Report, seed: int = 8) -> dict[str, int]:
    """Drop secondary indexes, COPY `n` cases with clocks, events and notifications, rebuild the indexes, ANALYZE.

    Two connections copy at once (cases + clocks on one, events + notifications on the other) so both cores
    work; each
    loads inside the transaction that truncated its tables, which with `wal_level=minimal` skips the WAL.
    """
    import asyncpg

    a = await asyncpg.connect(dsn)
    b = await asyncpg.connect(dsn)
    rows = {"cases": 0, "sla_clocks": 0, "case_events": 0, "notifications": 0}
    try:
        idx = await a.fetch(
            """
            SELECT i.indexname, i.indexdef FROM pg_indexes i
            WHERE i.schemaname = 'public' AND i.tablename IN ('cases', 'sla_clocks', 'case_events', 'notifications')
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
            """
        )
        for r in idx:
            await a.execute(f'DROP INDEX "{r["indexname"]}"')
        rng = np.random.default_rng(seed)
        gen_s = 0.0
        t0 = time.perf_counter()
        for conn in (a, b):
            await conn.execute("SET session_replication_role = replica")  # bulk load: no FK/trigger checks
            await conn.execute("BEGIN")
        await a.execute("TRUNCATE cases, sla_clocks")
        await b.execute("TRUNCATE case_events, notifications")
        pending: asyncio.Future[Any] | None = None

        async def copy(conn: Any, chunk: dict[str, list[tuple[Any, ...]]], tables: tuple[str, ...]) -> None:
            for table in tables:
                await conn.copy_records_to_table(table, records=chunk[table], columns=COLS[table])
                rows[table] += len(chunk[table])

        for start in range(0, n, CHUNK):
            g0 = time.perf_counter()
            chunk = generate_chunk(rng, start, min(CHUNK, n - start), now)
            gen_s += time.perf_counter() - g0
            if pending is not None:
                await pending
            pending = asyncio.gather(copy(a, chunk, ("cases", "sla_clocks")), copy(b, chunk, ("case_events", "notifications")))
            await asyncio.sleep(0)
        if pending is not None:
            await pending
        for conn in (a, b):
            await conn.execute("COMMIT")
            await conn.execute("SET session_replication_role = origin")
        load_s = time.perf_counter() - t0
        total = sum(rows.values())
        rep.add("load_cases", rows["cases"], "cases")
        rep.add("load_clocks", rows["sla_clocks"], "rows")
        rep.add("load_events", rows["case_events"], "rows")
        rep.add("load_notifications", rows["notifications"], "rows")
        rep.add("load_copy_wall", load_s, "s")
        rep.add("load_generate_cpu", gen_s, "s")
        rep.add("load_rate", total / load_s, "rows/s")
        rep.add("load_case_rate", rows["cases"] / load_s, "cases/s")
        t1 = time.perf_counter()
        by_table: dict[str, list[str]] = {}
        for r in idx:
            table = next((t for t in ("case_events", "notifications", "sla_clocks")
                          if f" ON public.{t} " in r["indexdef"]), "cases")
            by_table.setdefault(table, []).append(r["indexdef"])

        async def build(conn: Any, defs: list[str]) -> None:
            await conn.execute("SET maintenance_work_mem = '512MB'")
            for d in defs:
                await conn.execute(d)

        await asyncio.gather(
            build(a, by_table.get("cases", []) + by_table.get("sla_clocks", [])),
            build(b, by_table.get("case_events", []) + by_table.get("notifications", [])),
        )
        rep.add("load_index_build", time.perf_counter() - t1, "s")
        t2 = time.perf_counter()
        await asyncio.gather(a.execute("VACUUM ANALYZE cases"), b.execute("VACUUM ANALYZE case_events"))
        await asyncio.gather(a.execute("VACUUM ANALYZE sla_clocks"), b.execute("VACUUM ANALYZE notifications"))
        rep.add("load_vacuum_analyze", time.perf_counter() - t2, "s")
        size = await a.fetchval("SELECT pg_database_size(current_database())")
        rep.add("database_size", round(size / 2**20), "MiB")
    finally:
        await a.close()
        await b.close()
    return rows


async def _time(fn: Callable[[], Awaitable[Any]], repeats: int) -> list[float]:
    await fn()  # warm the cache and the plan
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        await fn()
        out.append(time.perf_counter() - t0)
    return out


def query_suite(pool: Any, now: datetime, scope: list[str] | None, case_no: str) -> dict[str, Callable[[], Awaitable[Any]]]:
    """Every query function of `dashboard.queries`, bound to realistic arguments, and the exports built on them
    (every row in scope, rendered as a workbook)."""
    from dashboard import queries as q
    from dashboard import reports

    today = now.date()
    period = q.Period(today - timedelta(days=29), today)
    month_cases = q.CaseListFilters(registered=period)

    async def export_board_xlsx() -> bytes:
        return (await reports.load_board(pool, scope, q.BoardFilters(), now)).render("xlsx")

    async def export_case_list_xlsx() -> bytes:
        return (await reports.load_case_list(pool, scope, month_cases)).render("xlsx")

    return {
        "unit_tree": lambda: q.unit_tree(pool),
        "subtree_ids": lambda: q.subtree_ids(pool, "SX-TY"),
        "open_by_level": lambda: q.open_by_level(pool, scope),
        "due_today_tomorrow": lambda: q.due_today_tomorrow(pool, scope, now),
        "period_metrics": lambda: q.period_metrics(pool, period, scope),
        "overview": lambda: q.overview(pool, period, scope, now),
        "sla_board": lambda: q.sla_board(pool, scope, q.BoardFilters(), now),
        "sla_board_unit_red": lambda: q.sla_board(
            pool, scope, q.BoardFilters(unit="SX-TY-XD", levels=("red",)), now
        ),
        "sla_board_total": lambda: q.sla_board_total(pool, scope, q.BoardFilters()),
        "case_list": lambda: q.case_list(pool, scope, month_cases),
        "case_list_total": lambda: q.case_list_total(pool, scope, month_cases),
        "export_sla_board_xlsx": export_board_xlsx,
        "export_case_list_month_xlsx": export_case_list_xlsx,
        "unit_league": lambda: q.unit_league(pool, period, scope),
        "stage_durations": lambda: q.stage_durations(pool, period, scope),
        "breach_trend": lambda: q.breach_trend(pool, scope, now),
        "case_detail": lambda: q.case_detail(pool, case_no, scope),
        "pending_extensions": lambda: q.pending_extensions(pool, scope),
        "intake_per_day": lambda: q.intake_per_day(pool, period, scope),
        "open_by_level_per_day": lambda: q.open_by_level_per_day(pool, period, scope, now),
        "on_time_per_month": lambda: q.on_time_per_month(pool, scope, now),
        "overdue_by_unit_and_stage": lambda: q.overdue_by_unit_and_stage(pool, scope),
        "report_list": lambda: q.report_list(pool, scope),
        "undelivered_notifications": lambda: q.undelivered_notifications(pool, scope),
    }


async def explain(dsn: str, sql: str, *args: Any) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) text of one statement."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + sql, *args)
        return "\n".join(r[0] for r in rows)
    finally:
        await conn.close()


async def run(n: int = 1_000_000, repeats: int = 7) -> Report:
    """Load `n` cases, then time every dashboard query against the `count(*)` baseline."""
    from activities.db import create_pool

    rep = Report("dashboard_queries")
    rep.params = {"cases": n, "repeats": repeats, "postgres_settings": PG_TUNING}
    print(machine_line(), flush=True)
    now = datetime.now(UTC).replace(microsecond=0)
    with temp_dir("bench-dash-") as root:
        async with postgres(root, tuned=PG_TUNING) as server:
            dsn = await create_database(server, "dash")
            await load(dsn, n, now, rep)
            pool = await create_pool(dsn, min_size=1, max_size=4)
            try:
                sample = await pool.fetchval("SELECT case_no FROM cases WHERE open ORDER BY case_no LIMIT 1")
                base = await _time(lambda: pool.fetchval("SELECT count(*) FROM cases"), repeats)
                rep.add("baseline_count_p50", percentile(base, 50) * 1000, "ms")
                rep.add("baseline_count_p95", percentile(base, 95) * 1000, "ms")
                from dashboard.queries import subtree_ids

                city = await subtree_ids(pool, "SX-TY")
                for label, scope in (("province", None), ("city", city)):
                    for name, fn in query_suite(pool, now, scope, sample).items():
                        if label == "city" and name in ("unit_tree", "subtree_ids"):
                            continue
                        if name == "open_by_level_per_day":
                            # the days that have ended are stored by the first view (migration 0630); the
                            # repeats below read them, as every later view does until a late write
                            await pool.execute("TRUNCATE open_level_days, open_level_days_stored")
                            t0 = time.perf_counter()
                            await fn()
                            first = (time.perf_counter() - t0) * 1000
                            rep.add(f"{label}.{name}_first_view", first, "ms", baseline="baseline_count_p50")
                        ts = await _time(fn, repeats)
                        rep.add(f"{label}.{name}_p50", percentile(ts, 50) * 1000, "ms", baseline="baseline_count_p50")
                        rep.add(f"{label}.{name}_p95", percentile(ts, 95) * 1000, "ms", baseline="baseline_count_p95")
            finally:
                await pool.close()
    rep.write()
    return rep


def main(argv: list[str] | None = None) -> None:
    """`python -m bench.dashboard_queries [N]`."""
    import sys

    args = argv if argv is not None else sys.argv[1:]
    asyncio.run(run(int(args[0]) if args else 1_000_000))


if __name__ == "__main__":
    main()
