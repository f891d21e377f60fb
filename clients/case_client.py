"""`CaseClient`: the one typed facade over the Temporal client for intake systems, caseworkers and tools.

Everything that talks to a `ComplaintCase` from Python goes through here (the `complaints` CLI, the demo
generator, bulk import). It validates input with the pydantic models *before* any call (so a bad ID number,
phone, date or unknown unit never starts a workflow), builds visibility queries safely, and turns Temporal's
errors into domain errors:

* `InvalidInput`   - the input does not fit the models; `.field` names the field (`complainant.id_number`).
* `DecisionRefused` - the workflow's update validator refused the decision; `.reason` is its message.
* `CaseNotFound`   - there is no case with that number.
* `CaseClientError` - the base class (also: no worker answered, the server cannot be reached).

Registering the same case number twice returns the same case (workflow id `complaint-<case_no>`,
`USE_EXISTING` conflict policy, see `workflows.client.start_case`).
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from functools import cached_property
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError, FailureError
from temporalio.service import RPCError, RPCStatusCode

import calendars
from cases.models import (
    DECISION_MODELS,
    Actor,
    CaseKind,
    CaseSummary,
    Channel,
    ComplaintRegistration,
    PriorDecisions,
    SlaLevel,
    Stage,
    case_no_problem,
)
from cases.org import OrgDirectory, load_bundled_directory
from common.connect import connect
from common.contract import (
    DUE_AT,
    SEARCH_ATTRIBUTE_KEYS,
    SEARCH_ATTRIBUTES,
    TASK_QUEUE,
    WORKFLOW_ID_PREFIX,
    WORKFLOW_TYPE,
    workflow_id,
)
from common.settings import Settings, get_settings
from workflows import CalendarUpdate, ComplaintCase
from workflows.client import start_case

FUTURE_SKEW = timedelta(minutes=10)

_CST = timezone(timedelta(hours=8))  # Asia/Shanghai has no DST


# ----------------------------------------------------------------------------------------------- errors


class CaseClientError(Exception):
    """Base class of the facade's errors; `str(e)` is a message fit for a person."""


class InvalidInput(CaseClientError):
    """Input that does not fit the models; `field` is the dotted path of the first bad field."""

    def __init__(self, field: str, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message
        self.errors = errors or [{"field": field, "message": message}]

    @classmethod
    def from_validation(cls, exc: ValidationError, prefix: str = "") -> InvalidInput:
        """The first error of a pydantic `ValidationError`, field named by its location."""
        errors = []
        for err in exc.errors(include_url=False, include_input=False):
            loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("function-after",))
            loc = f"{prefix}.{loc}".strip(".") if prefix else loc
            msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
            errors.append({"field": loc or "(root)", "message": msg})
        first = errors[0] if errors else {"field": prefix, "message": str(exc)}
        return cls(first["field"], first["message"], errors)


class DecisionRefused(CaseClientError):
    """The case refused a decision (wrong stage, role, unit, deadline passed); `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CaseNotFound(CaseClientError):
    """No case with this number exists."""

    def __init__(self, case_no: str) -> None:
        super().__init__(f"case {case_no} not found")
        self.case_no = case_no


# --------------------------------------------------------------------------------------- listing / query


def decision_name(name: str) -> str:
    """Normalise `return-case` / `return_case` to the update name; `InvalidInput` if it is not one."""
    n = name.strip().replace("-", "_")
    if n not in DECISION_MODELS:
        raise InvalidInput("decision", f"unknown decision {name!r}; one of {', '.join(DECISION_MODELS)}")
    return n


class CaseFilters(BaseModel):
    """Filters of `list_cases`, each on one search attribute; lists mean "any of"."""

    model_config = ConfigDict(extra="forbid")

    stage: list[Stage] | None = Field(default=None, description="CaseStage")
    level: list[SlaLevel] | None = Field(default=None, description="SlaLevel")
    unit: list[str] | None = Field(default=None, description="HandlingUnit")
    jurisdiction: list[str] | None = Field(default=None, description="Jurisdiction")
    channel: list[Channel] | None = Field(default=None, description="Channel")
    kind: list[CaseKind] | None = Field(default=None, description="CaseKind")
    due_after: datetime | None = Field(default=None, description="DueAt >= this")
    due_before: datetime | None = Field(default=None, description="DueAt < this")
    open_only: bool = Field(default=False, description="only running cases (ExecutionStatus = 'Running')")
    task_queue: list[str] | None = Field(
        default=None, description="TaskQueue: only cases started on these queues (a bureau's own queue, a test's)"
    )


# filter field -> search attribute; only these names ever reach a query string
FILTER_ATTRIBUTES: dict[str, str] = {
    "stage": "CaseStage",
    "level": "SlaLevel",
    "unit": "HandlingUnit",
    "jurisdiction": "Jurisdiction",
    "channel": "Channel",
    "kind": "CaseKind",
    "task_queue": "TaskQueue",  # built into Temporal's visibility, not one of ours
}
assert set(FILTER_ATTRIBUTES.values()) - {"TaskQueue"} <= set(SEARCH_ATTRIBUTES)
_KEYWORD_VALUE = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")


def _quote(value: str, name: str) -> str:
    """A visibility-query string literal; values outside a conservative charset are refused, not escaped."""
    if not _KEYWORD_VALUE.match(value):
        raise InvalidInput(name, f"{value!r} is not a valid value (letters, digits, _ . : - only)")
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _utc(value: datetime, name: str) -> str:
    if value.tzinfo is None:
        raise InvalidInput(name, "must be timezone-aware (e.g. 2026-01-05T00:00:00+08:00)")
    return "'" + value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") + "'"


def build_query(filters: CaseFilters | Mapping[str, Any] | None = None) -> str:
    """The visibility query for `filters`: attribute names from an allow-list, values validated and quoted."""
    f = coerce_filters(filters)
    parts = [f"WorkflowType = {_quote(WORKFLOW_TYPE, 'workflow type')}"]
    for fname, attr in FILTER_ATTRIBUTES.items():
        values = getattr(f, fname)
        if not values:
            continue
        quoted = [_quote(str(getattr(v, "value", v)), fname) for v in values]
        parts.append(f"{attr} = {quoted[0]}" if len(quoted) == 1 else f"{attr} IN ({', '.join(quoted)})")
    if f.due_after is not None:
        parts.append(f"DueAt >= {_utc(f.due_after, 'due_after')}")
    if f.due_before is not None:
        parts.append(f"DueAt < {_utc(f.due_before, 'due_before')}")
    if f.open_only:
        parts.append("ExecutionStatus = 'Running'")
    return " AND ".join(parts)


_NAMESPACE_NOT_FOUND = "temporal.api.errordetails.v1.NamespaceNotFoundFailure"


def no_such_workflow(error: RPCError) -> bool:
    """NOT_FOUND about the workflow itself. A server that cannot read its namespace under load also answers
    NOT_FOUND (with a NamespaceNotFoundFailure): that is an outage, never "no such case"."""
    if error.status != RPCStatusCode.NOT_FOUND:
        return False
    details = error.grpc_status.details if error.grpc_status is not None else []
    return not any(d.type_url.endswith(_NAMESPACE_NOT_FOUND) for d in details)


def open_cases_query(jurisdiction: str, task_queues: list[str] | None = None) -> str:
    """Visibility query for the running cases of `jurisdiction` and every code below it (on `task_queues` only,
    when given)."""
    code = jurisdiction.strip().upper().replace("_", "-")
    try:
        calendars.resolve_code(code)
    except calendars.UnknownJurisdictionError as exc:
        raise InvalidInput("jurisdiction", str(exc)) from None
    prefix = _quote(f"{code}-", "jurisdiction")
    parts = [
        f"WorkflowType = {_quote(WORKFLOW_TYPE, 'workflow type')}",
        "ExecutionStatus = 'Running'",
        f"(Jurisdiction = {_quote(code, 'jurisdiction')} OR Jurisdiction STARTS_WITH {prefix})",
    ]
    if task_queues:
        parts.append(f"TaskQueue IN ({', '.join(_quote(q, 'task_queue') for q in task_queues)})")
    return " AND ".join(parts)


def coerce_filters(filters: CaseFilters | Mapping[str, Any] | None) -> CaseFilters:
    """`CaseFilters` from a model, a mapping (scalars become one-element lists) or None."""
    if filters is None:
        return CaseFilters()
    if isinstance(filters, CaseFilters):
        return filters
    data: dict[str, Any] = {}
    for k, v in filters.items():
        if k not in CaseFilters.model_fields:
            allowed = ", ".join(CaseFilters.model_fields)
            raise InvalidInput(str(k), f"unknown filter {k!r}; allowed: {allowed}")
        if v is None or v == [] or v == ():
            continue
        if k in FILTER_ATTRIBUTES and not isinstance(v, list | tuple | set):
            v = [v]
        data[k] = list(v) if isinstance(v, tuple | set) else v
    try:
        return CaseFilters.model_validate(data)
    except ValidationError as e:
        raise InvalidInput.from_validation(e) from None


class CaseListItem(BaseModel):
    """One row of `list_cases`: what visibility knows about a case, without querying the workflow."""

    case_no: str
    workflow_id: str
    status: str
    stage: str | None = None
    sla_level: str | None = None
    due_at: datetime | None = None
    handling_unit: str | None = None
    jurisdiction: str | None = None
    channel: str | None = None
    kind: str | None = None
    started_at: datetime | None = None
    closed_at: datetime | None = None


# list item field -> search attribute (DueAt is read on its own: a datetime)
_KEYS = {
    field: SEARCH_ATTRIBUTE_KEYS[name]
    for field, name in {
        "stage": "CaseStage", "sla_level": "SlaLevel", "handling_unit": "HandlingUnit",
        "jurisdiction": "Jurisdiction", "channel": "Channel", "kind": "CaseKind",
    }.items()
}


# ------------------------------------------------------------------------------------------ bulk import


@dataclass
class LineError:
    """One refused line of a bulk import (1-based line number)."""

    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field + ': ' if self.field else ''}{self.message}"


@dataclass
class ImportReport:
    """What `bulk_register` did: case numbers registered (by line) and the lines refused."""

    registered: dict[int, str] = field(default_factory=dict)
    errors: list[LineError] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return len(self.registered) + len(self.errors)


# ------------------------------------------------------------------------------------------ the facade


class CaseClient:
    """Typed facade over a Temporal `Client` for complaint cases (see the module docstring)."""

    def __init__(
        self,
        client: Client,
        *,
        task_queue: str = TASK_QUEUE,
        directory: OrgDirectory | None = None,
        check_units: bool = True,
        rpc_timeout: timedelta = timedelta(seconds=30),
    ) -> None:
        self.client = client
        self.task_queue = task_queue
        self.check_units = check_units
        self.rpc_timeout = rpc_timeout
        self._directory = directory

    @classmethod
    async def connect(cls, settings: Settings | None = None, **kwargs: Any) -> CaseClient:
        """A facade on a client built from settings (address, namespace, TLS, the encrypting converter)."""
        s = settings or get_settings()
        try:
            client = await connect(s)
        except RuntimeError as e:
            raise CaseClientError(f"cannot reach Temporal at {s.temporal_address}: {e}") from e
        kwargs.setdefault("task_queue", s.task_queue)
        return cls(client, **kwargs)

    @classmethod
    def offline(cls, **kwargs: Any) -> CaseClient:
        """A facade without a connection: only the `validate_*` methods may be used (CLI pre-checks, tests)."""
        return cls(None, **kwargs)  # type: ignore[arg-type]

    @cached_property
    def directory(self) -> OrgDirectory:
        """The org directory used for client-side unit checks (default: the bundled Shanxi directory)."""
        return self._directory or load_bundled_directory()

    # ------------------------------------------------------------------------------------ validation
    def validate_registration(self, registration: ComplaintRegistration | Mapping[str, Any] | str) -> ComplaintRegistration:
        """The registration as a model, or `InvalidInput` naming the field (nothing is sent)."""
        try:
            if isinstance(registration, ComplaintRegistration):
                reg = ComplaintRegistration.model_validate(registration.model_dump())
            elif isinstance(registration, str | bytes):
                reg = ComplaintRegistration.model_validate_json(registration)
            else:
                reg = ComplaintRegistration.model_validate(dict(registration))
        except ValidationError as e:
            raise InvalidInput.from_validation(e) from None
        now = datetime.now(UTC)
        if reg.received_at > now + FUTURE_SKEW:
            raise InvalidInput("received_at", f"{reg.received_at.isoformat()} is in the future")
        if reg.matter.occurred_at is not None and reg.matter.occurred_at > reg.received_at:
            raise InvalidInput("matter.occurred_at", "is after received_at")
        if self.check_units:
            d = self.directory
            known = {u.jurisdiction for u in d.units}
            if reg.jurisdiction not in known:
                raise InvalidInput("jurisdiction", f"{reg.jurisdiction} is not served by this system ({', '.join(sorted(known))})")
            if reg.matter.locality_unit is not None and not d.has(reg.matter.locality_unit):
                raise InvalidInput("matter.locality_unit", f"unknown unit {reg.matter.locality_unit!r}")
            if reg.intake_actor is not None and not d.has(reg.intake_actor.unit_id):
                raise InvalidInput("intake_actor.unit_id", f"unknown unit {reg.intake_actor.unit_id!r}")
        return reg

    def validate_decision(
        self, name: str, payload: BaseModel | Mapping[str, Any] | None = None, *, actor: Any = None
    ) -> BaseModel:
        """The decision model for update `name` from a model or mapping (+ optional actor), or `InvalidInput`."""
        n = decision_name(name)
        model = DECISION_MODELS[n]
        if isinstance(payload, BaseModel):
            data = payload.model_dump()
        else:
            data = dict(payload or {})
        if data.get("decision", n) != n:
            raise InvalidInput("decision", f"payload is a {data['decision']!r} decision, not {n!r}")
        data["decision"] = n
        if actor is not None:
            data["actor"] = actor.model_dump() if isinstance(actor, BaseModel) else dict(actor)
        try:
            d = model.model_validate(data)
        except ValidationError as e:
            raise InvalidInput.from_validation(e) from None
        if self.check_units:
            dct = self.directory
            act = getattr(d, "actor", None)
            if act is not None and not dct.has(act.unit_id):
                raise InvalidInput("actor.unit_id", f"unknown unit {act.unit_id!r}")
            unit = getattr(d, "unit_id", None)
            if unit is not None and not dct.has(unit):
                raise InvalidInput("unit_id", f"unknown unit {unit!r}")
        return d

    # ----------------------------------------------------------------------------------------- calls
    def handle(self, case_no: str) -> WorkflowHandle[Any, Any]:
        """The workflow handle of a case (no call is made)."""
        problem = case_no_problem(case_no)
        if problem:
            raise InvalidInput("case_no", problem)
        return self.client.get_workflow_handle(workflow_id(case_no), result_type=CaseSummary)

    async def register(
        self, registration: ComplaintRegistration | Mapping[str, Any] | str, prior: PriorDecisions | None = None
    ) -> str:
        """Start the case (or find the one with this number) and return its case number. `prior`: a case
        taken over from another system, with the decisions it already went through at their instants."""
        reg = self.validate_registration(registration)
        try:
            await start_case(
                self.client, reg, task_queue=self.task_queue, prior=prior, rpc_timeout=self.rpc_timeout
            )
        except RPCError as e:
            raise CaseClientError(f"register {reg.case_no} failed: {e.message}") from e
        return reg.case_no

    async def decide(
        self,
        case_no: str,
        decision: str,
        payload: BaseModel | Mapping[str, Any] | None = None,
        *,
        actor: Any = None,
        update_id: str | None = None,
    ) -> CaseSummary:
        """Send a decision (a Workflow Update) and return the summary after it; refusals raise domain errors.

        `update_id` makes a resend of the same decision answer the first outcome instead of applying it
        again (Temporal deduplicates updates by id within the case's run)."""
        d = self.validate_decision(decision, payload, actor=actor)
        name = decision_name(decision)
        handle = self.handle(case_no)
        try:
            return await handle.execute_update(
                getattr(ComplaintCase, name), d, id=update_id, result_type=CaseSummary, rpc_timeout=self.rpc_timeout
            )
        except WorkflowUpdateFailedError as e:
            raise DecisionRefused(_failure_message(e.cause) or f"{name} refused for case {case_no}") from None
        except WorkflowUpdateRPCTimeoutOrCancelledError as e:
            raise CaseClientError(f"{name} on case {case_no}: no worker answered in time ({e})") from e
        except RPCError as e:
            if no_such_workflow(e):
                closed = await self._closed_status(handle)
                if closed is not None:
                    raise DecisionRefused(
                        f"{name} refused for case {case_no}: {await self._closed_reason(case_no, closed)}"
                    ) from None
                raise CaseNotFound(case_no) from None
            if e.status == RPCStatusCode.INVALID_ARGUMENT:
                raise InvalidInput("decision", e.message) from None
            raise CaseClientError(f"{name} on case {case_no} failed: {e.message}") from e

    async def summary(self, case_no: str, *, attempts: int = 20) -> CaseSummary:
        """The case's `summary` query (for a finished case: its final result)."""
        handle = self.handle(case_no)
        for attempt in range(attempts):
            try:
                desc = await handle.describe(rpc_timeout=self.rpc_timeout)
            except RPCError as e:
                if no_such_workflow(e):
                    raise CaseNotFound(case_no) from None
                raise CaseClientError(f"summary of case {case_no} failed: {e.message}") from e
            try:
                if desc.status == WorkflowExecutionStatus.COMPLETED:
                    return await handle.result(rpc_timeout=self.rpc_timeout)
                return await handle.query(ComplaintCase.summary, rpc_timeout=self.rpc_timeout)
            except WorkflowQueryFailedError as e:
                if attempt + 1 >= attempts:
                    raise CaseClientError(f"summary of case {case_no}: {e.message}") from e
                await asyncio.sleep(0.1 * (attempt + 1))  # still registering (calendar, directory)
            except WorkflowFailureError as e:
                raise CaseClientError(f"case {case_no} failed: {_failure_message(e.cause)}") from e
            except RPCError as e:
                raise CaseClientError(f"summary of case {case_no} failed: {e.message}") from e
        raise CaseClientError(f"summary of case {case_no} not available")  # pragma: no cover

    async def allowed_decisions(self, case_no: str, actor: Any) -> list[str]:
        """The decisions `actor` may take on the case now (query `allowed_decisions`); [] once it is closed."""
        who = actor if isinstance(actor, Actor) else Actor.model_validate(actor)
        handle = self.handle(case_no)
        try:
            return await handle.query(ComplaintCase.allowed_decisions, who, rpc_timeout=self.rpc_timeout)
        except WorkflowQueryFailedError as e:
            raise CaseClientError(f"allowed decisions of case {case_no}: {e.message}") from e
        except RPCError as e:
            if no_such_workflow(e):
                raise CaseNotFound(case_no) from None
            raise CaseClientError(f"allowed decisions of case {case_no} failed: {e.message}") from e

    async def exists(self, case_no: str) -> bool:
        """Whether a workflow for this case number exists (running or closed)."""
        try:
            await self.handle(case_no).describe(rpc_timeout=self.rpc_timeout)
        except RPCError as e:
            if no_such_workflow(e):
                return False
            raise CaseClientError(f"describe case {case_no} failed: {e.message}") from e
        return True

    async def list_cases(
        self, filters: CaseFilters | Mapping[str, Any] | None = None, *, limit: int = 200
    ) -> list[CaseListItem]:
        """Cases matching `filters` (visibility query on the search attributes), soonest due first."""
        query = build_query(filters)
        items: list[CaseListItem] = []
        try:
            async for wf in self.client.list_workflows(query, limit=limit, rpc_timeout=self.rpc_timeout):
                sa = wf.typed_search_attributes
                items.append(
                    CaseListItem(
                        case_no=wf.id.removeprefix(WORKFLOW_ID_PREFIX),
                        workflow_id=wf.id,
                        status=wf.status.name.lower() if wf.status else "unknown",
                        due_at=sa.get(DUE_AT),
                        started_at=wf.start_time,
                        closed_at=wf.close_time,
                        **{k: sa.get(key) for k, key in _KEYS.items()},
                    )
                )
        except RPCError as e:
            if e.status == RPCStatusCode.INVALID_ARGUMENT:
                raise InvalidInput("filters", e.message) from None
            raise CaseClientError(f"list failed: {e.message}") from e
        far = datetime.max.replace(tzinfo=UTC)
        items.sort(key=lambda i: (i.due_at or far, i.case_no))
        return items

    async def count_cases(self, filters: CaseFilters | Mapping[str, Any] | None = None) -> int:
        """How many cases match `filters` (visibility count)."""
        try:
            return (await self.client.count_workflows(build_query(filters))).count
        except RPCError as e:
            raise CaseClientError(f"count failed: {e.message}") from e

    async def reload_calendars(
        self, jurisdiction: str, *, task_queues: list[str] | None = None, concurrency: int = 32
    ) -> int:
        """Tell every open case of `jurisdiction` (and below) to reload its calendar; returns how many were told.

        Run after a bureau recorded its own days or when new national data landed. Signals go out `concurrency`
        at a time (a province has tens of thousands of open cases)."""
        # a version no snapshot has: every case fetches its data again (an unchanged calendar changes nothing)
        update = CalendarUpdate(version=f"reload-{uuid.uuid4().hex[:12]}")
        sem = asyncio.Semaphore(concurrency)

        async def tell(workflow_id: str) -> bool:
            async with sem:
                try:
                    await self.client.get_workflow_handle(workflow_id).signal(ComplaintCase.calendar_updated, update)
                except RPCError as exc:
                    if not no_such_workflow(exc):  # closed since it was listed: nothing to update
                        raise
                    return False
                return True

        query = open_cases_query(jurisdiction, task_queues)
        tasks = [asyncio.create_task(tell(wf.id)) async for wf in self.client.list_workflows(query)]
        return sum(await asyncio.gather(*tasks))

    async def bulk_register(
        self,
        lines: Iterable[str],
        *,
        concurrency: int = 20,
        on_progress: Callable[[int, LineError | None], None] | None = None,
    ) -> ImportReport:
        """Register one JSON registration per line with at most `concurrency` calls in flight.

        Blank lines are skipped; a bad line (not JSON, invalid, refused) is reported by its 1-based number
        and never stops the others. `on_progress(line, error_or_None)` is called once per non-blank line.
        """
        if concurrency < 1:
            raise InvalidInput("concurrency", "must be at least 1")
        report = ImportReport()
        started = asyncio.get_running_loop().time()
        queue: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
        for no, line in enumerate(lines, start=1):
            if line.strip():
                queue.put_nowait((no, line))

        async def one(no: int, line: str) -> None:
            err: LineError | None = None
            try:
                try:
                    data = json.loads(line)
                except json.JSONDecodeError as e:
                    raise InvalidInput("(json)", f"not valid JSON: {e.msg} at column {e.colno}") from None
                if not isinstance(data, dict):
                    raise InvalidInput("(json)", "each line must be one JSON object")
                report.registered[no] = await self.register(data)
            except InvalidInput as e:
                err = LineError(no, e.field, e.message)
            except CaseClientError as e:
                err = LineError(no, "", str(e))
            except Exception as e:  # one bad line never stops the good ones
                err = LineError(no, "", f"{type(e).__name__}: {e}")
            if err is not None:
                report.errors.append(err)
            if on_progress is not None:
                on_progress(no, err)

        async def runner() -> None:
            while not queue.empty():
                no, line = queue.get_nowait()
                await one(no, line)

        await asyncio.gather(*(runner() for _ in range(min(concurrency, max(queue.qsize(), 1)))))
        report.errors.sort(key=lambda e: e.line)
        report.seconds = asyncio.get_running_loop().time() - started
        return report

    async def _closed_reason(self, case_no: str, status: WorkflowExecutionStatus) -> str:
        """Why a closed case takes no more decisions, in the caseworker's terms where the case says so."""
        if status != WorkflowExecutionStatus.COMPLETED:
            return f"the case is closed ({status.name.lower()})"
        try:
            final = await self.summary(case_no, attempts=1)
        except CaseClientError:
            return "the case is closed (completed)"
        reason = final.close_reason.value if final.close_reason is not None else "completed"
        closed_on = f" on {final.closed_at.astimezone(_CST):%Y-%m-%d %H:%M}" if final.closed_at else ""
        text = f"the case is closed ({reason}{closed_on})"
        if reason == "review_window_lapsed" and final.review_window_ends_at is not None:
            text += f"; the review window ended {final.review_window_ends_at.astimezone(_CST):%Y-%m-%d %H:%M}"
        return text

    async def _closed_status(self, handle: WorkflowHandle[Any, Any]) -> WorkflowExecutionStatus | None:
        try:
            desc = await handle.describe(rpc_timeout=self.rpc_timeout)
        except RPCError:
            return None
        if desc.status is None or desc.status == WorkflowExecutionStatus.RUNNING:
            return None
        return desc.status


def _failure_message(cause: BaseException | None) -> str:
    """The innermost application message of a Temporal failure chain."""
    msg = ""
    while cause is not None:
        if isinstance(cause, ApplicationError | FailureError):
            msg = getattr(cause, "message", None) or str(cause)
            if isinstance(cause, ApplicationError):
                return msg
        cause = cause.__cause__
    return msg


async def gather_limited(coros: Sequence[Callable[[], Awaitable[Any]]], concurrency: int) -> list[Any]:
    """Run the coroutine factories with at most `concurrency` in flight; results (or exceptions) in order."""
    sem = asyncio.Semaphore(max(1, concurrency))

    async def run(f: Callable[[], Awaitable[Any]]) -> Any:
        async with sem:
            try:
                return await f()
            except Exception as e:
                return e

    return await asyncio.gather(*(run(f) for f in coros))
