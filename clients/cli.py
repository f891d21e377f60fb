"""The `complaints` command line: intake, caseworker decisions, status, bulk import, demo data, calendar.

    complaints register --file complaint.json                      # prints the case number
    complaints accept SX2026112000123 --as disp-01 --role dispatcher --unit SX --assign-to SX-TY-XD
    complaints show SX2026112000123                                # stage, deadlines, timeline
    complaints list --level red --unit SX-TY-XD --stage investigation
    complaints import cases.jsonl --concurrency 20                 # per-line error report
    complaints demo --cases 200 --start 2026-01-05
    complaints calendar add-working-days 2026-09-28 15
    complaints bureau-calendar close 2026-12-03 -j CN-SX --note 系统割接闭馆 --as adm-sx
    complaints db backup --output backups/2026-12-01                 # read model (+ dev server file, embedded)
    complaints db restore backups/2026-12-01 --replace
    complaints db rebuild                                            # read model from Temporal, no backup
    complaints report sla-board --scope SX-TY --format xlsx --output 时限督办.xlsx

Connection settings come from `COMPLAINTS_*` environment variables (see `common.settings`), or
`--address/--namespace/--task-queue/--database-url` before the command. Exit codes: 0 ok, 1 refused or invalid (the
message on stderr names the field or the reason), 2 usage error.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import asyncpg
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from activities import bureau_calendar as bc
from api.auth import create_api_key, list_api_keys, login_token, revoke_api_key
from api.settings import get_api_settings
from calendars.cli import app as calendar_app
from cases.models import Actor, CaseKind, CaseSummary, Channel, Role, Satisfaction, Stage
from cases.org import load_bundled_directory
from clients import backup as b
from clients import demo as demo_mod
from clients import rebuild as rb
from clients.case_client import (
    CaseClient,
    CaseClientError,
    CaseFilters,
    CaseListItem,
    InvalidInput,
    LineError,
)
from common.connect import connect
from common.process import run_command
from common.settings import Settings, get_settings
from dashboard import queries as dq
from dashboard import reports
from dashboard.exports import FORMATS

CST = ZoneInfo("Asia/Shanghai")
T = TypeVar("T")

app = typer.Typer(
    name="complaints",
    help="Complaint cases of the medical-insurance (医保) bureaus on Temporal: intake, decisions, status.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(calendar_app, name="calendar", help="Working-day calendar: is-working-day, add-working-days, between, show.")



class _Lazy:
    """A rich Console bound to the *current* sys.stdout/stderr (test runners swap them), wide when piped."""

    def __init__(self, stderr: bool) -> None:
        self.stderr = stderr

    def __getattr__(self, name: str) -> Any:
        stream = sys.stderr if self.stderr else sys.stdout
        width = None if stream.isatty() else 160
        console = Console(file=stream, highlight=False, emoji=False, soft_wrap=True, width=width)
        return getattr(console, name)


out: Console = _Lazy(stderr=False)  # type: ignore[assignment]
err: Console = _Lazy(stderr=True)  # type: ignore[assignment]


class _State:
    settings: Settings | None = None
    # an explicit --task-queue also narrows what visibility reads see (one bureau's queue on a shared cluster)
    queue_scope: list[str] | None = None


STATE = _State()


@app.callback()
def _root(
    address: str | None = typer.Option(None, "--address", help="Temporal frontend host:port (env COMPLAINTS_TEMPORAL_ADDRESS)"),
    namespace: str | None = typer.Option(None, "--namespace", help="Temporal namespace (env COMPLAINTS_TEMPORAL_NAMESPACE)"),
    task_queue: str | None = typer.Option(
        None, "--task-queue",
        help="task queue new cases start on (default: complaints); when given, `list` and `bureau-calendar` see only"
             " the cases on it",
    ),
    database_url: str | None = typer.Option(None, "--database-url", help="read-model PostgreSQL, for bureau-calendar and report (env COMPLAINTS_DATABASE_URL)"),
) -> None:
    """Complaint cases of the medical-insurance (医保) bureaus on Temporal."""
    given = {"temporal_address": address, "temporal_namespace": namespace, "task_queue": task_queue,
             "database_url": database_url}
    update = {k: v for k, v in given.items() if v is not None}
    STATE.settings = get_settings().model_copy(update=update)
    STATE.queue_scope = [task_queue] if task_queue is not None else None


# ------------------------------------------------------------------------------------------ plumbing


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"error: {message}", markup=False)
    return typer.Exit(code)


def _run(fn: Callable[[CaseClient], Awaitable[T]]) -> T:
    """Connect, run `fn(case_client)`, map domain errors to exit code 1 with the message on stderr."""

    async def go() -> T:
        cc = await CaseClient.connect(STATE.settings or get_settings())
        return await fn(cc)

    try:
        return asyncio.run(go())
    except InvalidInput as e:
        raise _fail(str(e)) from None
    except CaseClientError as e:
        raise _fail(str(e)) from None


def _check(fn: Callable[[CaseClient], T]) -> T:
    """Validate locally, before connecting: `InvalidInput` -> exit 1 naming the field."""
    try:
        return fn(CaseClient.offline())
    except InvalidInput as e:
        raise _fail(str(e)) from None


def _read_json(path: Path, what: str) -> Any:
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    except OSError as e:
        raise _fail(f"--file: cannot read {path}: {e.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise _fail(f"--file: {path} is not valid JSON ({e.msg}, line {e.lineno} column {e.colno})") from None


def _fmt(dt: datetime | None) -> str:
    return dt.astimezone(CST).strftime("%Y-%m-%d %H:%M") if dt else "-"


def _print_summary_line(s: CaseSummary) -> None:
    unit = s.handling_unit or "-"
    extra = f", closed: {s.close_reason.value}" if s.close_reason else ""
    out.print(
        f"{s.case_no}  stage={s.stage.value}  unit={unit}  sla={s.sla_level}  next_due={_fmt(s.next_due_at)}{extra}",
        markup=False,
    )


# ------------------------------------------------------------------------------------------ intake


@app.command()
def register(
    file: Path = typer.Option(..., "--file", "-f", help="registration JSON (schemas/ComplaintRegistration.json); - for stdin"),
) -> None:
    """Register a complaint (start its case) and print the case number. Same number twice = same case."""
    data = _read_json(file, "registration")
    if not isinstance(data, dict):
        raise _fail("--file: the registration must be one JSON object")
    reg = _check(lambda v: v.validate_registration(data))
    case_no = _run(lambda cc: cc.register(reg))
    typer.echo(case_no)


@app.command("import")
def import_(
    file: Path = typer.Argument(..., help="JSON Lines file: one registration per line", exists=True, dir_okay=False),
    concurrency: int = typer.Option(20, "--concurrency", "-c", min=1, max=500, help="registrations in flight"),
    report: Path | None = typer.Option(None, "--report", help="also write refused lines as JSON Lines here"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress indicator"),
) -> None:
    """Bulk intake: register every line; a bad line is reported by number and never stops the others.

    Exit code 0 if every line was registered, 1 if any was refused (the good ones are registered anyway).
    """
    lines = file.read_text(encoding="utf-8").splitlines()
    total = sum(1 for ln in lines if ln.strip())

    async def go(cc: CaseClient) -> Any:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(
            TextColumn("importing"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[bad]} refused"),
            TimeElapsedColumn(),
            console=err,
            disable=quiet,
            transient=False,
        ) as progress:
            task = progress.add_task("import", total=total, bad=0)
            bad = 0

            def tick(_line: int, e: LineError | None) -> None:
                nonlocal bad
                bad += e is not None
                progress.update(task, advance=1, bad=bad)

            return await cc.bulk_register(lines, concurrency=concurrency, on_progress=tick)

    rep = _run(go)
    for e in rep.errors:
        err.print(str(e), markup=False)
    if report is not None:
        report.write_text(
            "".join(json.dumps({"line": e.line, "field": e.field, "message": e.message}, ensure_ascii=False) + "\n" for e in rep.errors),
            encoding="utf-8",
        )
    rate = len(rep.registered) / rep.seconds if rep.seconds else 0.0
    out.print(
        f"registered {len(rep.registered)} of {rep.total} lines, refused {len(rep.errors)} "
        f"({rep.seconds:.1f}s, {rate:.0f} cases/s)",
        markup=False,
    )
    if rep.errors:
        raise typer.Exit(1)


# ------------------------------------------------------------------------------------------ decisions

AS_OPT = typer.Option(None, "--as", help="actor id (person) sending the decision")
ROLE_OPT = typer.Option(None, "--role", help="actor role")
UNIT_OPT = typer.Option(None, "--unit", help="org unit the actor acts for, e.g. SX or SX-TY-XD")
FILE_OPT = typer.Option(None, "--file", "-f", help="decision payload JSON (schemas/updates/<name>.json); options override it")
JSON_OPT = typer.Option(False, "--json", help="print the full summary as JSON")
CASE_ARG = typer.Argument(..., help="case number, e.g. SX2026112000123")


def _decide(
    name: str,
    case_no: str,
    actor_id: str | None,
    role: Role | None,
    unit: str | None,
    file: Path | None,
    as_json: bool,
    **fields: Any,
) -> None:
    payload: dict[str, Any] = {}
    if file is not None:
        data = _read_json(file, name)
        if not isinstance(data, dict):
            raise _fail("--file: the decision must be one JSON object")
        payload.update(data)
    payload.update({k: v for k, v in fields.items() if v is not None})
    actor = dict(payload.get("actor") or {})
    for key, value in (("id", actor_id), ("role", role.value if role else None), ("unit_id", unit)):
        if value is not None:
            actor[key] = value
    if not actor:
        raise _fail("actor: give --as ID --role ROLE --unit UNIT (or an actor in --file)")
    payload["actor"] = actor
    _check(lambda v: v.validate_decision(name, payload))
    summary = _run(lambda cc: cc.decide(case_no, name, payload))
    if as_json:
        typer.echo(summary.model_dump_json(indent=2))
    else:
        _print_summary_line(summary)


@app.command()
def accept(
    case_no: str = CASE_ARG,
    actor_id: str | None = AS_OPT,
    role: Role | None = ROLE_OPT,
    unit: str | None = UNIT_OPT,
    assign_to: str | None = typer.Option(None, "--assign-to", help="assign this handling unit at once"),
    use_catalogue: bool | None = typer.Option(None, "--use-catalogue/--no-catalogue", help="assign the dispatch catalogue's unit"),
    note: str | None = typer.Option(None, "--note"),
    file: Path | None = FILE_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """受理: accept the case (dispatcher), optionally assigning a handling unit."""
    _decide("accept", case_no, actor_id, role, unit, file, as_json, unit_id=assign_to, use_catalogue=use_catalogue, note=note)


@app.command()
def reject(
    case_no: str = CASE_ARG,
    actor_id: str | None = AS_OPT,
    role: Role | None = ROLE_OPT,
    unit: str | None = UNIT_OPT,
    reason: str | None = typer.Option(None, "--reason"),
    redirect_to: str | None = typer.Option(None, "--redirect-to", help="the right channel / authority"),
    file: Path | None = FILE_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """不予受理: reject with a reason and the channel the complainant should use."""
    _decide("reject", case_no, actor_id, role, unit, file, as_json, reason=reason, redirect_to=redirect_to)


@app.command()
def assign(
    case_no: str = CASE_ARG,
    actor_id: str | None = AS_OPT,
    role: Role | None = ROLE_OPT,
    unit: str | None = UNIT_OPT,
    to: str | None = typer.Option(None, "--to", help="handling unit id"),
    overrule: bool | None = typer.Option(None, "--overrule/--no-overrule", help="re-assign a unit that returned the case"),
    note: str | None = typer.Option(None, "--note"),
    file: Path | None = FILE_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """分类转办: assign a handling unit (dispatcher)."""
    _decide("assign", case_no, actor_id, role, unit, file, as_json, unit_id=to, overrule=overrule, note=note)


@app.command("return-case")
def return_case(
    case_no: str = CASE_ARG,
    actor_id: str | None = AS_OPT,
    role: Role | None = ROLE_OPT,
    unit: str | None = UNIT_OPT,
    reason: str | None = typer.Option(None, "--reason"),
    file: Path | None = FILE_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """退单: the handling unit returns a misrouted case (within the return window)."""
    _decide("return_case", case_no, actor_id, role, unit, file, as_json, reason=reason)


@app.command("request-extension")
def request_extension(
    case_no: str = CASE_ARG,
    actor_id: str | None = AS_OPT,
    role: Role | None = ROLE_OPT,
    unit: str | None = UNIT_OPT,
    reason: str | None = typer.Option(None, "--reason"),
    file: Path | None = FILE_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """延期申请: the handling unit asks for the longer limit, before the deadline."""
    _decide("request_extension", case_no, actor_id, role, unit, file, as_json, reason=reason)


@app.command("decide-extension")
def decide_extension(
    case_no: str = CASE_ARG,
    actor_id: str | None = AS_OPT,
    role: Role | None = ROLE_OPT,
    unit: str | None = UNIT_OPT,
    approve: bool | None = typer.Option(None, "--approve/--refuse", help="approve or refuse the extension"),
    note: str | None = typer.Option(None, "--note"),
    file: Path | None = FILE_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """延期审批: a supervisor approves or refuses the extension."""
    _decide("decide_extension", case_no, actor_id, role, unit, file, as_json, approve=approve, note=note)


@app.command("complete-investigation")
def complete_investigation(
    case_no: str = CASE_ARG,
    actor_id: str | None = AS_OPT,
    role: Role | None = ROLE_OPT,
    unit: str | None = UNIT_OPT,
    findings: str | None = typer.Option(None, "--findings"),
    legal_basis: str | None = typer.Option(None, "--legal-basis"),
    at_fault: bool | None = typer.Option(None, "--at-fault/--not-at-fault", help="was the institution at fault"),
    rectify: bool | None = typer.Option(None, "--rectify/--no-rectify", help="rectification required"),
    file: Path | None = FILE_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """调查完结: findings, legal basis, fault and rectification."""
    _decide(
        "complete_investigation", case_no, actor_id, role, unit, file, as_json,
        findings=findings, legal_basis=legal_basis, institution_at_fault=at_fault, rectification_required=rectify,
    )


@app.command("send-feedback")
def send_feedback(
    case_no: str = CASE_ARG,
    actor_id: str | None = AS_OPT,
    role: Role | None = ROLE_OPT,
    unit: str | None = UNIT_OPT,
    message: str | None = typer.Option(None, "--message"),
    file: Path | None = FILE_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """处理反馈: send the result to the complainant through the original channel."""
    _decide("send_feedback", case_no, actor_id, role, unit, file, as_json, message=message)


@app.command("record-return-visit")
def record_return_visit(
    case_no: str = CASE_ARG,
    actor_id: str | None = AS_OPT,
    role: Role | None = ROLE_OPT,
    unit: str | None = UNIT_OPT,
    outcome: Satisfaction | None = typer.Option(None, "--outcome"),
    rehandle: bool | None = typer.Option(None, "--rehandle/--no-rehandle", help="unsatisfied: re-handling 重办"),
    note: str | None = typer.Option(None, "--note"),
    file: Path | None = FILE_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """回访: record the hotline's return visit."""
    _decide(
        "record_return_visit", case_no, actor_id, role, unit, file, as_json,
        outcome=outcome.value if outcome else None, request_rehandling=rehandle, note=note,
    )


@app.command("record-receipt")
def record_receipt(
    case_no: str = CASE_ARG,
    actor_id: str | None = AS_OPT,
    role: Role | None = ROLE_OPT,
    unit: str | None = UNIT_OPT,
    received_on: str | None = typer.Option(None, "--received-on", help="date on the postal receipt, YYYY-MM-DD"),
    note: str | None = typer.Option(None, "--note"),
    file: Path | None = FILE_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """回执: the day the feedback letter reached the complainant (the review window counts from the day after)."""
    _decide("record_receipt", case_no, actor_id, role, unit, file, as_json, received_on=received_on, note=note)


@app.command("request-review")
def request_review(
    case_no: str = CASE_ARG,
    actor_id: str | None = AS_OPT,
    role: Role | None = ROLE_OPT,
    unit: str | None = UNIT_OPT,
    reason: str | None = typer.Option(None, "--reason"),
    on_behalf_of: str | None = typer.Option(
        None, "--on-behalf-of", help="the number of a duplicate merged into CASE_NO whose complainant asks (并单)"
    ),
    file: Path | None = FILE_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """复核申请: record the complainant's review request (within the review window)."""
    _decide("request_review", case_no, actor_id, role, unit, file, as_json, reason=reason, on_behalf_of=on_behalf_of)


class _ReviewOutcome(StrEnum):
    uphold = "uphold"
    overturn = "overturn"


@app.command("decide-review")
def decide_review(
    case_no: str = CASE_ARG,
    actor_id: str | None = AS_OPT,
    role: Role | None = ROLE_OPT,
    unit: str | None = UNIT_OPT,
    outcome: _ReviewOutcome | None = typer.Option(None, "--outcome"),
    reasons: str | None = typer.Option(None, "--reasons"),
    file: Path | None = FILE_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """复核决定: the higher bureau upholds or overturns."""
    _decide(
        "decide_review", case_no, actor_id, role, unit, file, as_json,
        outcome=outcome.value if outcome else None, reasons=reasons,
    )


@app.command()
def withdraw(
    case_no: str = CASE_ARG,
    actor_id: str | None = AS_OPT,
    role: Role | None = ROLE_OPT,
    unit: str | None = UNIT_OPT,
    reason: str | None = typer.Option(None, "--reason"),
    file: Path | None = FILE_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """撤回: the complainant withdraws (recorded by intake)."""
    _decide("withdraw", case_no, actor_id, role, unit, file, as_json, reason=reason)


@app.command("merge-into")
def merge_into(
    case_no: str = CASE_ARG,
    actor_id: str | None = AS_OPT,
    role: Role | None = ROLE_OPT,
    unit: str | None = UNIT_OPT,
    target: str | None = typer.Option(None, "--target", help="the open case this one duplicates"),
    file: Path | None = FILE_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """并单: merge a duplicate into an open case."""
    _decide("merge_into", case_no, actor_id, role, unit, file, as_json, target_case_no=target)


# ------------------------------------------------------------------------------------------ status


def render_summary(s: CaseSummary, console: Console) -> None:
    """Header, deadlines (SLA clocks) and timeline of a case as readable tables."""
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    rows: list[tuple[str, str]] = [
        ("case", s.case_no),
        ("kind / channel / category", f"{s.kind.value} / {s.channel.value} / {s.category.value}"),
        ("jurisdiction", s.jurisdiction),
        ("stage", s.stage.value + ("" if s.open else f" (closed: {s.close_reason.value if s.close_reason else '-'})")),
        ("handling unit", f"{s.handling_unit or '-'}{' ' + s.handling_unit_name if s.handling_unit_name else ''}"),
        ("SLA level", s.sla_level + (" (provisional deadlines)" if s.any_provisional else "")),
        ("next due", _fmt(s.next_due_at)),
        ("received / accepted / closed", f"{_fmt(s.received_at)} / {_fmt(s.accepted_at)} / {_fmt(s.closed_at)}"),
    ]
    if s.extension_status:
        rows.append(("extension", s.extension_status))
    if s.review_window_ends_at:
        window = _fmt(s.review_window_ends_at)
        if s.feedback_received_on:
            window += f" (result received {s.feedback_received_on.isoformat()})"
        if s.review_window_provisional:
            window += " (provisional: receipt not yet known, or provisional calendar data)"
        rows.append(("review window ends", window))
    if s.returns or s.rehandlings or s.reviews:
        rows.append(("returns / re-handlings / reviews", f"{s.returns} / {s.rehandlings} / {s.reviews}"))
    if s.satisfaction:
        rows.append(("satisfaction", s.satisfaction.value))
    if s.review_outcome:
        rows.append(("review outcome", s.review_outcome.value))
    if s.merged_into:
        rows.append(("merged into", s.merged_into))
    if s.complainant:
        c = s.complainant
        rows.append(("complainant (masked)", f"{c.name}  {c.id_number}  {c.phone}"))
    elif s.confidential_reporter:
        rows.append(("complainant", "confidential reporter"))
    for k, v in rows:
        head.add_row(k, v)
    console.print(head)

    clocks = Table(title="deadlines", title_justify="left")
    for col in ("clock", "cycle", "unit", "WD", "started", "due", "level", "stopped", "notes"):
        clocks.add_column(col)
    for c in s.clocks:
        notes = ", ".join(
            n for n, on in (("extended", c.extended), ("breached", c.breached), ("escalated", c.escalated), ("provisional", c.provisional)) if on
        )
        clocks.add_row(
            c.clock, str(c.cycle), c.unit or "-", str(c.working_days), _fmt(c.started_at), _fmt(c.due_at),
            c.level, _fmt(c.stopped_at), notes,
        )
    console.print(clocks)

    tl = Table(title="timeline", title_justify="left")
    for col in ("#", "at", "event", "stage", "actor", "details"):
        tl.add_column(col)
    for ev in s.events:
        actor = "/".join(x for x in (ev.actor_id, ev.actor_role, ev.actor_unit) if x) or "-"
        details = ", ".join(f"{k}={v}" for k, v in ev.details.items() if v is not None)
        tl.add_row(str(ev.seq), _fmt(ev.at), ev.kind, ev.stage.value, actor, details)
    console.print(tl)


@app.command()
def show(
    case_no: str = CASE_ARG,
    as_json: bool = JSON_OPT,
    actor_id: str | None = AS_OPT,
    role: Role | None = ROLE_OPT,
    unit: str | None = UNIT_OPT,
) -> None:
    """Show a case: stage, SLA level, deadlines and the timeline (personal data masked); with --as/--role/--unit
    also the decisions that person may take now."""
    actor = None
    if actor_id or role or unit:
        if not (actor_id and role and unit):
            raise _fail("give all of --as, --role and --unit to see the decisions that person may take")
        actor = {"id": actor_id, "role": role.value, "unit_id": unit}

    async def go(cc: CaseClient) -> tuple[CaseSummary, list[str] | None]:
        summary = await cc.summary(case_no)
        allowed = await cc.allowed_decisions(case_no, actor) if actor is not None and summary.open else None
        return summary, ([] if actor is not None and allowed is None else allowed)

    s, allowed = _run(go)
    if as_json:
        typer.echo(s.model_dump_json(indent=2))
    else:
        render_summary(s, out)
    if allowed is not None:
        may = ", ".join(allowed) if allowed else "nothing now"
        (err if as_json else out).print(f"{actor_id} ({role.value if role else ''}, {unit}) may: {may}", markup=False)


def _parse_dt(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise _fail(f"{name}: {value!r} is not a date or datetime (YYYY-MM-DD[THH:MM[+08:00]])") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=CST)


@app.command("list")
def list_(
    level: list[str] | None = typer.Option(None, "--level", help="SLA level: on_track, blue, yellow, red (repeatable)"),
    stage: list[str] | None = typer.Option(None, "--stage", help="stage (repeatable)"),
    unit: list[str] | None = typer.Option(None, "--unit", help="handling unit (repeatable)"),
    jurisdiction: list[str] | None = typer.Option(None, "--jurisdiction"),
    channel: list[str] | None = typer.Option(None, "--channel"),
    kind: list[str] | None = typer.Option(None, "--kind"),
    due_before: str | None = typer.Option(None, "--due-before", help="DueAt before (Asia/Shanghai if no offset)"),
    due_after: str | None = typer.Option(None, "--due-after"),
    open_only: bool = typer.Option(False, "--open", help="only running cases"),
    limit: int = typer.Option(200, "--limit", min=1, max=10_000),
    as_json: bool = typer.Option(False, "--json", help="JSON Lines output"),
) -> None:
    """List cases by search attributes (Temporal visibility), soonest due first."""
    try:
        filters = CaseFilters(
            level=level or None, stage=stage or None, unit=unit or None, jurisdiction=jurisdiction or None,
            channel=channel or None, kind=kind or None, due_before=_parse_dt(due_before, "--due-before"),
            due_after=_parse_dt(due_after, "--due-after"), open_only=open_only, task_queue=STATE.queue_scope,
        )
    except ValidationError as e:
        raise _fail(str(InvalidInput.from_validation(e))) from None
    items: list[CaseListItem] = _run(lambda cc: cc.list_cases(filters, limit=limit))
    if as_json:
        for i in items:
            typer.echo(i.model_dump_json())
        return
    t = Table()
    for col in ("case", "status", "kind", "channel", "stage", "unit", "SLA", "due"):
        t.add_column(col)
    for i in items:
        t.add_row(
            i.case_no, i.status, i.kind or "-", i.channel or "-", i.stage or "-", i.handling_unit or "-",
            i.sla_level or "-", _fmt(i.due_at),
        )
    out.print(t)
    out.print(f"{len(items)} case(s)", markup=False)


# ------------------------------------------------------------------------------------------ demo


@app.command()
def demo(
    cases: int = typer.Option(50, "--cases", "-n", min=1, max=100_000, help="how many cases"),
    start: str | None = typer.Option(None, "--start", help="earliest received date YYYY-MM-DD (default: 90 days ago)"),
    seed: int | None = typer.Option(None, "--seed", help="random seed (default: from the clock)"),
    concurrency: int = typer.Option(20, "--concurrency", "-c", min=1, max=500),
    jsonl: bool = typer.Option(False, "--jsonl", help="only print the registrations as JSON Lines (no server)"),
) -> None:
    """A bureau's past months (closed cases, simulated on a shifted clock into the read model) and its open
    cases, live on the server with their past decisions taken over. Needs the development stack."""
    try:
        start_day = datetime.strptime(start, "%Y-%m-%d").date() if start else None
    except ValueError:
        raise _fail(f"--start: {start!r} is not a date (YYYY-MM-DD)") from None
    try:
        plans = demo_mod.generate(cases, start=start_day, seed=seed)
    except ValueError as e:
        raise _fail(f"--start: {e}") from None
    if jsonl:
        for p in plans:
            typer.echo(p.registration.model_dump_json())
        return
    # the past runs a worker on a time-skipping server: development tooling, in its own process
    if importlib.util.find_spec("devstack") is None:
        raise _fail("demo: needs the development stack (the source tree's devstack package); --jsonl does not")
    settings = STATE.settings or get_settings()
    env = {**os.environ, "COMPLAINTS_TEMPORAL_ADDRESS": settings.temporal_address,
           "COMPLAINTS_TEMPORAL_NAMESPACE": settings.temporal_namespace, "COMPLAINTS_TASK_QUEUE": settings.task_queue,
           "COMPLAINTS_DATABASE_URL": settings.database_url, "COMPLAINTS_DATA_DIR": str(settings.data_dir)}
    argv = [sys.executable, "-m", "devstack.demo", "--cases", str(cases), "--concurrency", str(concurrency)]
    argv += ["--start", start_day.isoformat()] if start_day else []
    argv += ["--seed", str(seed)] if seed is not None else []
    err.print(f"demo: {cases} cases; the closed past runs on a simulated clock, then the open cases start live",
              markup=False)
    try:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    except OSError as e:
        raise _fail(f"demo: cannot start the development stack's demo ({e})") from None
    out.print(done.stdout.rstrip(), markup=False)
    if done.returncode != 0:
        err.print(done.stderr.rstrip(), markup=False)
        raise _fail("demo failed (its messages are above)")


# ------------------------------------------------------------------------------------ bureau calendar

bureau_app = typer.Typer(
    help="A bureau's own calendar in PostgreSQL: closures, opening days, end of the service day; publish to open cases.",
    no_args_is_help=True,
)
app.add_typer(bureau_app, name="bureau-calendar")
JURISDICTION_OPT = typer.Option(..., "--jurisdiction", "-j", help="ISO 3166-2:CN code, e.g. CN-SX or CN-SX-0100")
NOTE_OPT = typer.Option(..., "--note", help="why (shown to auditors), e.g. 系统割接闭馆")
BY_OPT = typer.Option(..., "--as", help="who records it (administrator id)")
NO_PUBLISH_OPT = typer.Option(False, "--no-publish", help="record only; open cases reload at their next change")


def _parse_day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _fail(f"day: {value!r} is not a date (YYYY-MM-DD)") from None


def _bureau(
    fn: Callable[[Any], Awaitable[T]] | None, publish_to: str | None = None, describe: Callable[[T], str] | None = None
) -> T | None:
    """Run `fn(connection)` on the read-model database (if given) and print `describe(result)`; then (unless
    `publish_to` is None) tell the open cases of `publish_to` to reload their calendar."""
    settings = STATE.settings or get_settings()

    async def go() -> T | None:
        result = None
        if fn is not None:
            conn = await asyncpg.connect(settings.database_url)
            try:
                result = await fn(conn)
            finally:
                await conn.close()
            if describe is not None:
                out.print(describe(result), markup=False)
        if publish_to is not None:
            cc = await CaseClient.connect(settings)
            told = await cc.reload_calendars(publish_to, task_queues=STATE.queue_scope)
            out.print(f"{told} open case(s) of {bc.normalise_code(publish_to)} reload their calendar", markup=False)
        return result

    try:
        return asyncio.run(go())
    except bc.BureauCalendarError as e:
        raise _fail(str(e)) from None
    except (OSError, asyncpg.PostgresError) as e:
        raise _fail(f"database {settings.database_url.split('@')[-1]}: {e}") from None


def _record_day(day: str, jurisdiction: str, note: str, by: str, no_publish: bool, *, working: bool) -> None:
    d = _parse_day(day)
    state = "open" if working else "closed"
    _bureau(lambda c: bc.record_day(c, jurisdiction, d, working=working, note=note, recorded_by=by),
            None if no_publish else jurisdiction, lambda row: f"{row.jurisdiction} {state} on {row.day}: {row.note}")


@bureau_app.command("close")
def bureau_close(day: str, jurisdiction: str = JURISDICTION_OPT, note: str = NOTE_OPT, by: str = BY_OPT,
                 no_publish: bool = NO_PUBLISH_OPT) -> None:
    """Record a closure 闭馆: DAY is not a working day for this bureau (and the codes below it)."""
    _record_day(day, jurisdiction, note, by, no_publish, working=False)


@bureau_app.command("open")
def bureau_open(day: str, jurisdiction: str = JURISDICTION_OPT, note: str = NOTE_OPT, by: str = BY_OPT,
                no_publish: bool = NO_PUBLISH_OPT) -> None:
    """Record an opening: DAY (a weekend or holiday) is a working day for this bureau."""
    _record_day(day, jurisdiction, note, by, no_publish, working=True)


@bureau_app.command("clear")
def bureau_clear(day: str, jurisdiction: str = JURISDICTION_OPT, no_publish: bool = NO_PUBLISH_OPT) -> None:
    """Remove the bureau's entry for DAY: the published calendar applies again."""
    d = _parse_day(day)
    async def clear(c: Any) -> bool:
        if not await bc.clear_day(c, jurisdiction, d):
            raise bc.BureauCalendarError(f"day: nothing recorded for {d} at {jurisdiction}")
        return True

    _bureau(clear, None if no_publish else jurisdiction, lambda _: f"{jurisdiction} {d}: back to the published calendar")


@bureau_app.command("close-time")
def bureau_close_time(
    close_time: str = typer.Argument(..., help="end of the service day, HH:MM (Asia/Shanghai), or 'default'"),
    jurisdiction: str = JURISDICTION_OPT,
    note: str = typer.Option("", "--note", help="why, e.g. 夏季作息"),
    by: str = typer.Option("", "--as", help="who records it"),
    no_publish: bool = NO_PUBLISH_OPT,
) -> None:
    """Set when the service day ends (deadlines fall at this time); 'default' goes back to 17:00."""
    try:
        t = None if close_time.strip().lower() == "default" else bc.parse_close_time(close_time)
    except bc.BureauCalendarError as e:
        raise _fail(str(e)) from None
    _bureau(lambda c: bc.set_close_time(c, jurisdiction, t, note=note, recorded_by=by),
            None if no_publish else jurisdiction,
            lambda _: f"{jurisdiction}: the service day ends at {t.isoformat('minutes') if t else '17:00 (default)'}")


@bureau_app.command("show")
def bureau_show(jurisdiction: str = JURISDICTION_OPT) -> None:
    """The bureau rows recorded for a jurisdiction and the codes below it."""
    rows: Any = _bureau(lambda c: bc.list_rows(c, jurisdiction))
    days, hours = rows
    t = Table(title=f"bureau calendar {jurisdiction}")
    for col in ("jurisdiction", "day", "kind", "note", "recorded by"):
        t.add_column(col)
    for h in hours:
        t.add_row(h.jurisdiction, "-", f"service day ends {h.close_time.isoformat('minutes')}", h.note, h.recorded_by)
    for r in days:
        t.add_row(r.jurisdiction, r.day.isoformat(), "open 开放" if r.working else "closed 闭馆", r.note,
                  r.recorded_by)
    out.print(t)


@bureau_app.command("publish")
def bureau_publish(jurisdiction: str = JURISDICTION_OPT) -> None:
    """Tell the open cases of a jurisdiction (and below) to reload their calendar (also after new national data)."""
    _bureau(None, jurisdiction)


# ------------------------------------------------------------------------------------------ backup

db_app = typer.Typer(
    help="Back up and restore the read-model database (and, embedded, the dev server's SQLite file), or rebuild"
         " it from Temporal.",
    no_args_is_help=True,
)
app.add_typer(db_app, name="db")


def _temporal_db(path: Path | None, skip: bool) -> Path | None:
    """The dev server's SQLite file to back up or restore: the given path, else the embedded stack's own."""
    if skip:
        return None
    if path is not None:
        return path
    settings = STATE.settings or get_settings()
    return settings.temporal_db_file if settings.mode == "embedded" else None


def _human(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    scaled = size / 1024
    for unit in ("KiB", "MiB"):
        if scaled < 1024:
            return f"{scaled:.1f} {unit}"
        scaled /= 1024
    return f"{scaled:.1f} GiB"


def _backup_call(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except b.BackupError as e:
        raise _fail(str(e)) from None


@db_app.command("backup")
def db_backup(
    output: Path = typer.Option(..., "--output", "-o", help="new (or empty) folder to write the backup into"),
    temporal_db: Path | None = typer.Option(
        None, "--temporal-db", help="the dev server's SQLite file (default in embedded mode: <data_dir>/temporal.db)"
    ),
    no_temporal_db: bool = typer.Option(False, "--no-temporal-db", help="back up the read model only"),
) -> None:
    """pg_dump of the read model (custom format), the dev server's SQLite file (embedded), a manifest.

    The codec keys are NOT in the backup: keep them apart (docs/operations.md)."""
    settings = STATE.settings or get_settings()
    manifest = _backup_call(lambda: b.backup(settings, output, temporal_db=_temporal_db(temporal_db, no_temporal_db)))
    for name, entry in manifest["files"].items():
        out.print(f"{output / name}  {_human(entry['bytes'])}  sha256 {entry['sha256'][:16]}…", markup=False)
    out.print(
        f"backup of {len(manifest['migrations'])} migration(s) written to {output}; it needs codec key(s) "
        f"{', '.join(manifest['codec_key_ids']) or '(none used yet)'}, which it does not contain",
        markup=False,
    )


@db_app.command("restore")
def db_restore(
    source: Path = typer.Argument(..., help="a folder written by `complaints db backup`"),
    replace: bool = typer.Option(False, "--replace", help="swap out a database that already holds tables"),
    temporal_db: Path | None = typer.Option(
        None, "--temporal-db", help="where to restore the dev server's SQLite file (default in embedded mode:"
        " <data_dir>/temporal.db); the dev server must be stopped"
    ),
    no_temporal_db: bool = typer.Option(False, "--no-temporal-db", help="restore the read model only"),
) -> None:
    """Check the backup against its manifest, then restore the read model (and the dev server's file)."""
    settings = STATE.settings or get_settings()
    report = _backup_call(lambda: b.restore(
        settings, source, replace=replace, temporal_db=_temporal_db(temporal_db, no_temporal_db)
    ))
    out.print(f"read model restored into {report.database}"
              + (" (the previous database was replaced)" if report.replaced_database else ""), markup=False)
    if report.temporal_db is not None:
        out.print(f"dev server database restored at {report.temporal_db}", markup=False)
    for note in report.notes:
        out.print(f"note: {note}", markup=False)


@db_app.command("rebuild")
def db_rebuild(
    replace: bool = typer.Option(
        False, "--replace",
        help="rebuild into case tables that hold rows (rows there as new or newer stay; nothing is deleted)",
    ),
    concurrency: int = typer.Option(4, "--concurrency", "-c", help="cases read and written at once"),
    requeue_notifications_since: str | None = typer.Option(
        None, "--requeue-notifications-since",
        help="re-queue the notifications requested at or after this instant (ISO 8601 with offset); default: none"
             " (their delivery state was in the lost database, older ones would be sent twice)",
    ),
) -> None:
    """Re-create cases, SLA clocks, the audit trail and personal data from Temporal (no backup needed).

    Lists the cases on visibility (only the --task-queue's when given), open and closed within retention, and
    writes what each history's completed activities wrote. Needs the codec keys the histories were written with."""
    settings = STATE.settings or get_settings()
    since = _parse_dt(requeue_notifications_since, "--requeue-notifications-since")

    def progress(n: int, case: rb.CaseRebuilt) -> None:
        extra = f", {case.in_flight} write(s) in flight" if case.in_flight else ""
        out.print(
            f"[{n}] {case.case_no} v{case.version}: {case.events} events, {case.clocks} clocks"
            f"{', personal data' if case.pii else ''}"
            f"{f', {case.notifications} notifications re-queued' if case.notifications else ''}{extra}",
            markup=False,
        )

    async def go() -> rb.RebuildReport:
        try:
            client = await connect(settings)
        except RuntimeError as e:
            raise rb.RebuildError(f"Temporal at {settings.temporal_address}: {e}") from None
        return await rb.rebuild(
            client, settings.database_url, task_queues=STATE.queue_scope, replace=replace, requeue_since=since,
            concurrency=concurrency, on_case=progress,
        )

    try:
        report = asyncio.run(go())
    except (rb.RebuildError, InvalidInput) as e:
        raise _fail(str(e)) from None
    in_flight = sum(c.in_flight for c in report.cases)
    out.print(
        f"rebuilt {len(report.cases)} case(s) into {settings.database_url.split('@')[-1]}"
        + (f"; {len(report.skipped)} workflow(s) had written nothing" if report.skipped else "")
        + (f"; {in_flight} write(s) still in flight, left to the worker" if in_flight else "")
        + (f"; {report.notifications_not_requeued} notification(s) not re-queued"
           if report.notifications_not_requeued else ""),
        markup=False,
    )


# ------------------------------------------------------------------------------------------ reports

report_app = typer.Typer(
    help="The monitor's tables (SLA board, unit league, stage durations, case list) as .xlsx or CSV, from PostgreSQL.",
    no_args_is_help=True,
)
app.add_typer(report_app, name="report")
FORMAT_OPT = typer.Option(None, "--format", "-f", help="xlsx or csv (default: from the --output suffix)")
OUTPUT_OPT = typer.Option(..., "--output", "-o", help="file to write (replaced whole, never half-written)")
SCOPE_OPT = typer.Option(None, "--scope", help="a unit: only its subtree (default: the whole directory)")
UNIT_FILTER_OPT = typer.Option(None, "--unit", help="handling unit")
STAGE_FILTER_OPT = typer.Option(None, "--stage", help="stage, e.g. investigation")
KIND_FILTER_OPT = typer.Option(None, "--kind", help="complaint, consultation, fraud_report, misconduct")
CHANNEL_FILTER_OPT = typer.Option(None, "--channel", help="intake channel, e.g. hotline_12393")
LEVEL_FILTER_OPT = typer.Option(None, "--level", help="SLA level: on_track, blue, yellow, red (repeatable)")
FROM_OPT = typer.Option(None, "--from", help="first day YYYY-MM-DD (Asia/Shanghai)")
TO_OPT = typer.Option(None, "--to", help="last day YYYY-MM-DD (default: today)")


def _one_of(value: str | None, allowed: Any, name: str) -> str | None:
    values = [str(getattr(a, "value", a)) for a in allowed]
    if value is not None and value not in values:
        raise _fail(f"{name}: {value!r} is not one of {', '.join(values)}")
    return value


def _levels(levels: list[str] | None) -> tuple[str, ...] | None:
    for level in levels or []:
        _one_of(level, dq.LEVELS, "--level")
    return tuple(levels) if levels else None


def _report_format(fmt: str | None, output: Path) -> str:
    chosen = fmt if fmt is not None else output.suffix.lstrip(".").lower()
    if chosen not in FORMATS:
        if fmt is None:
            raise _fail(f"--format: cannot tell from {output.name!r}; give --format {' or '.join(FORMATS)}")
        raise _fail(f"--format: {fmt!r} is not one of {', '.join(FORMATS)}")
    parent = output.resolve().parent
    if not parent.is_dir():
        raise _fail(f"--output: directory {parent} does not exist")
    if output.is_dir():
        raise _fail(f"--output: {output} is a directory")
    return chosen


def _period(start: str | None, end: str | None, *, default_this_month: bool) -> dq.Period | None:
    """The period `--from`/`--to` give; without either, this month to date (or None when that is not wanted)."""
    today = datetime.now(CST).date()
    if start is None and end is None:
        return dq.Period(today.replace(day=1), today) if default_this_month else None
    if start is None:
        raise _fail("--from: give the first day too (--to alone is not a period)")
    first = _parse_report_day(start, "--from")
    last = _parse_report_day(end, "--to") if end is not None else today
    if last < first:
        raise _fail(f"--to: {last} is before --from {first}")
    return dq.Period(first, last)


def _parse_report_day(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _fail(f"{name}: {value!r} is not a date (YYYY-MM-DD)") from None


def _write_report(
    output: Path, fmt: str, scope: str | None, unit: str | None,
    build: Callable[[Any, list[str] | None], Awaitable[reports.Report]],
) -> None:
    """Resolve `--scope` (a unit's subtree), build the table, write it whole (temporary file + rename)."""
    settings = STATE.settings or get_settings()

    async def go() -> reports.Report:
        conn = await asyncpg.connect(settings.database_url)
        try:
            known = {r["unit_id"] for r in await conn.fetch("SELECT unit_id FROM org_units")}
            for name, value in (("--scope", scope), ("--unit", unit)):
                if value is not None and value not in known:
                    raise _fail(f"{name}: unknown unit {value!r}")
            scope_ids = await dq.subtree_ids(conn, scope) if scope is not None else None
            return await build(conn, scope_ids)
        finally:
            await conn.close()

    try:
        report = asyncio.run(go())
    except (OSError, asyncpg.PostgresError) as e:
        raise _fail(f"database {settings.database_url.split('@')[-1]}: {e}") from None
    data = report.render(fmt)
    target = output.resolve()
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, target)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise _fail(f"--output: cannot write {output}: {e.strerror}") from None
    out.print(f"{reports.TITLES[report.name]}: {len(report.frame)} row(s) -> {output}", markup=False)


@report_app.command("sla-board")
def report_sla_board(
    output: Path = OUTPUT_OPT, fmt: str | None = FORMAT_OPT, scope: str | None = SCOPE_OPT,
    unit: str | None = UNIT_FILTER_OPT, stage: str | None = STAGE_FILTER_OPT, kind: str | None = KIND_FILTER_OPT,
    channel: str | None = CHANNEL_FILTER_OPT, level: list[str] | None = LEVEL_FILTER_OPT,
) -> None:
    """时限督办: every open case needing attention (blue, yellow, red unless --level), soonest breach first."""
    chosen = _report_format(fmt, output)
    filters = dq.BoardFilters(
        unit=unit, stage=_one_of(stage, Stage, "--stage"), kind=_one_of(kind, CaseKind, "--kind"),
        channel=_one_of(channel, Channel, "--channel"), levels=_levels(level) or dq.ATTENTION_LEVELS,
    )
    now = datetime.now(CST)
    _write_report(output, chosen, scope, unit, lambda c, ids: reports.load_board(c, ids, filters, now))


@report_app.command("units")
def report_units(
    output: Path = OUTPUT_OPT, fmt: str | None = FORMAT_OPT, scope: str | None = SCOPE_OPT,
    start: str | None = FROM_OPT, end: str | None = TO_OPT,
) -> None:
    """单位排名: per handling unit, open and overdue now, completions, returns and extensions in the period
    (default: this month to date)."""
    chosen = _report_format(fmt, output)
    period = _period(start, end, default_this_month=True)
    assert period is not None
    _write_report(output, chosen, scope, None, lambda c, ids: reports.load_league(c, period, ids))


@report_app.command("stages")
def report_stages(
    output: Path = OUTPUT_OPT, fmt: str | None = FORMAT_OPT, scope: str | None = SCOPE_OPT,
    start: str | None = FROM_OPT, end: str | None = TO_OPT,
) -> None:
    """各环节用时: working days per stage clock stopped in the period, per unit (count, median, 90th percentile)."""
    chosen = _report_format(fmt, output)
    period = _period(start, end, default_this_month=True)
    assert period is not None
    _write_report(output, chosen, scope, None, lambda c, ids: reports.load_durations(c, period, ids))


@report_app.command("cases")
def report_cases(
    output: Path = OUTPUT_OPT, fmt: str | None = FORMAT_OPT, scope: str | None = SCOPE_OPT,
    unit: str | None = UNIT_FILTER_OPT, stage: str | None = STAGE_FILTER_OPT, kind: str | None = KIND_FILTER_OPT,
    channel: str | None = CHANNEL_FILTER_OPT, level: list[str] | None = LEVEL_FILTER_OPT,
    status: str = typer.Option("all", "--status", help="all, open or closed"),
    start: str | None = typer.Option(None, "--from", help="registered on or after YYYY-MM-DD"),
    end: str | None = typer.Option(None, "--to", help="registered on or before YYYY-MM-DD (default: today)"),
) -> None:
    """工单列表: the cases in scope matching the filters (masked columns only), newest registration first."""
    chosen = _report_format(fmt, output)
    filters = dq.CaseListFilters(
        unit=unit, stage=_one_of(stage, Stage, "--stage"), kind=_one_of(kind, CaseKind, "--kind"),
        channel=_one_of(channel, Channel, "--channel"), levels=_levels(level),
        status=_one_of(status, dq.CASE_STATUSES, "--status") or "all",
        registered=_period(start, end, default_this_month=False),
    )
    _write_report(output, chosen, scope, unit, lambda c, ids: reports.load_case_list(c, ids, filters))


# ------------------------------------------------------------------------------ the HTTP API's credentials

api_key_app = typer.Typer(help="Intake systems' API keys for the HTTP API: create, list, revoke.", no_args_is_help=True)
app.add_typer(api_key_app, name="api-key")


@app.command()
def login(
    actor_id: str = typer.Option(..., "--as", help="person id"),
    role: Role = typer.Option(..., "--role", help="role"),
    unit: str = typer.Option(..., "--unit", help="org unit the person acts for, e.g. SX-TY-XD"),
) -> None:
    """Print a bearer token for the local API (embedded mode: signed with the stack's key in the data folder)."""
    api_settings = get_api_settings()
    if api_settings.jwks_url:
        raise _fail("login issues local tokens only; in production sign in with the identity provider")
    try:
        actor = Actor(id=actor_id, role=role, unit_id=unit)
    except ValidationError as e:
        raise _fail(str(InvalidInput.from_validation(e))) from None
    if not load_bundled_directory().has(unit):
        raise _fail(f"--unit: unknown unit {unit!r}")
    settings = STATE.settings or get_settings()
    typer.echo(login_token(settings.data_dir, actor, api_settings))


def _keys(fn: Callable[[Any], Awaitable[T]]) -> T:
    settings = STATE.settings or get_settings()

    async def go() -> T:
        conn = await asyncpg.connect(settings.database_url)
        try:
            return await fn(conn)
        finally:
            await conn.close()

    try:
        return asyncio.run(go())
    except ValueError as e:
        raise _fail(str(e)) from None
    except (OSError, asyncpg.PostgresError) as e:
        raise _fail(f"database {settings.database_url.split('@')[-1]}: {e}") from None


@api_key_app.command("create")
def api_key_create(
    name: str = typer.Option(..., "--name", help="the intake system, e.g. 12393 hotline desk"),
    channel: list[str] = typer.Option(..., "--channel", help="channel it registers for (repeatable)"),
    jurisdiction: str = typer.Option(..., "--jurisdiction", help="the one jurisdiction it acts in, e.g. CN-SX"),
    unit: str | None = typer.Option(None, "--unit", help="unit it acts for (default: the provincial centre)"),
) -> None:
    """Create a key; it is printed once (only its hash is stored)."""
    key, row = _keys(lambda c: create_api_key(c, name, channel, jurisdiction, load_bundled_directory(), unit))
    err.print(f"key {row.key_id} for {row.name}: channels {', '.join(row.channels)}, {row.jurisdiction}, "
              f"acting for {row.unit_id}. Store it now: it is not shown again.", markup=False)
    typer.echo(key)


@api_key_app.command("list")
def api_key_list() -> None:
    """The keys (never their secrets), revoked ones marked."""
    rows = _keys(list_api_keys)
    t = Table("key id", "name", "channels", "jurisdiction", "unit", "created", "revoked")
    for r in rows:
        t.add_row(r.key_id, r.name, ", ".join(r.channels), r.jurisdiction, r.unit_id,
                  f"{r.created_at.astimezone(CST):%Y-%m-%d %H:%M}",
                  f"{r.revoked_at.astimezone(CST):%Y-%m-%d %H:%M}" if r.revoked_at else "")
    out.print(t)


@api_key_app.command("revoke")
def api_key_revoke(key_id: str = typer.Argument(..., help="key id (from `api-key list`)")) -> None:
    """Revoke a key: requests with it are refused from now on."""
    if not _keys(lambda c: revoke_api_key(c, key_id)):
        raise _fail(f"no active key {key_id}")
    out.print(f"key {key_id} revoked", markup=False)


def main() -> None:
    """Console-script entry point (`complaints`); ends via `exit_now` (see common.process)."""
    run_command(app)  # standalone mode: app always ends in SystemExit with click's exit code


if __name__ == "__main__":
    main()
