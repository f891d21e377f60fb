"""Fuzzed intake: registrations generated from the published JSON Schema (`schemas/ComplaintRegistration.json`;
`hypothesis_jsonschema.from_schema` when it works with the installed Hypothesis, else a small generator for the
subset of JSON Schema pydantic publishes) and valid registrations mutated (fields dropped, wrong types, bad ID check
digits, bad phones, naive datetimes, impossible dates).

Proves: the model only ever raises a pydantic `ValidationError`, never another exception, and every error
names the field it concerns (`loc` points at the mutated field; a model-level error, which pydantic reports
with an empty `loc`, must name the field in its message). At the workflow boundary, a handful of invalid
payloads sent raw as JSON (plain pydantic converter, as an intake system in another language would) to a real
worker never open a case: the workflow fails at once with a non-retryable `InvalidInput` (its message, encrypted like every failure
message, names the field when read with the codec), and PostgreSQL has
no row of that case number (`cases`, `case_events`, `case_pii`, `notifications`).
"""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from helpers.cases import VALID_ID, registration_data
from helpers.reliability import unique_case_numbers
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from temporalio.client import Client, WorkflowFailureError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from cases.models import ComplaintRegistration
from common.settings import Settings
from workers.main import build_worker

PUBLISHED = json.loads(
    (Path(__file__).resolve().parents[2] / "schemas" / "ComplaintRegistration.json").read_text(encoding="utf-8")
)
SCHEMA = {k: v for k, v in PUBLISHED.items() if k not in ("$id", "$schema")}


def _hypothesis_jsonschema_works() -> bool:
    """hypothesis-jsonschema 0.23.1 uses a Hypothesis internal (`many.more()`) that newer Hypothesis releases
    removed: every object schema then fails with AttributeError. Use it when it works, else `schema_strategy`."""
    import warnings

    from hypothesis.errors import NonInteractiveExampleWarning

    try:
        from hypothesis_jsonschema import from_schema

        with warnings.catch_warnings():  # a one-off probe, not a test: `.example()` is what it needs
            warnings.simplefilter("ignore", NonInteractiveExampleWarning)
            from_schema({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}).example()
    except Exception:  # noqa: BLE001 - any failure means: not usable with this Hypothesis
        return False
    return True


def schema_strategy(schema: dict[str, Any], root: dict[str, Any] | None = None) -> st.SearchStrategy[Any]:
    """Instances of the subset of JSON Schema pydantic publishes: `$ref` to `$defs`, `anyOf`, `enum`, `const`,
    objects (`properties`, `required`, optional keys sometimes left out), arrays, strings (length bounds,
    `format: date-time` as aware or naive ISO text), integers, numbers, booleans, null."""
    root = root or schema
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return st.deferred(lambda: schema_strategy(root["$defs"][name], root))
    if "anyOf" in schema:
        return st.one_of([schema_strategy(s, root) for s in schema["anyOf"]])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "const" in schema:
        return st.just(schema["const"])
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        required = set(schema.get("required", []))
        return st.fixed_dictionaries(
            {k: schema_strategy(v, root) for k, v in props.items() if k in required},
            optional={k: schema_strategy(v, root) for k, v in props.items() if k not in required},
        )
    if kind == "array":
        return st.lists(schema_strategy(schema.get("items", {}), root), max_size=3)
    if kind == "string":
        if schema.get("format") == "date-time":
            return st.datetimes(timezones=st.one_of(st.none(), st.timezones())).map(lambda d: d.isoformat())
        lo, hi = schema.get("minLength", 0), min(schema.get("maxLength", 40), 40)
        return st.text(min_size=lo, max_size=max(lo, hi))
    if kind == "integer":
        return st.integers()
    if kind == "number":
        return st.floats(allow_nan=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    return st.none() | st.booleans() | st.text(max_size=5)


if _hypothesis_jsonschema_works():
    from hypothesis_jsonschema import from_schema

    INTAKE = from_schema(SCHEMA)
else:
    INTAKE = schema_strategy(SCHEMA)
FIELDS = set(ComplaintRegistration.model_fields) | {"name", "id_number", "phone", "card_number", "address",
                                                      "occurred_at", "description", "sha256", "uri"}


def _field_named(err: dict[str, Any]) -> bool:
    if err["loc"]:
        return True
    return any(f in err["msg"] for f in FIELDS)


def _assert_clear(exc: ValidationError) -> None:
    errors = exc.errors()
    assert errors
    for err in errors:
        assert _field_named(err), f"error names no field: {err}"
        assert err["msg"].strip()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(INTAKE)
def test_schema_generated_intake_is_valid_or_a_clear_validation_error(data: dict[str, Any]) -> None:
    try:
        ComplaintRegistration.model_validate(data)
    except ValidationError as exc:
        _assert_clear(exc)


# ------------------------------------------------------------------------------------------ mutations

Path_ = tuple[str, ...]
REQUIRED: list[Path_] = [
    ("case_no",), ("channel",), ("received_at",), ("jurisdiction",), ("complainant",), ("matter",),
    ("complainant", "name"), ("complainant", "id_number"), ("complainant", "phone"),
    ("matter", "description"), ("evidence", "0", "sha256"), ("evidence", "0", "uri"),
]
SCALARS: list[Path_] = [
    ("case_no",), ("kind",), ("channel",), ("received_at",), ("jurisdiction",), ("category",), ("demand",),
    ("complainant", "name"), ("complainant", "id_number"), ("complainant", "phone"),
    ("complainant", "card_number"), ("complainant", "real_name"), ("matter", "occurred_at"),
    ("matter", "description"), ("evidence", "0", "sha256"), ("intake_actor", "role"),
]
OBJECTS: list[Path_] = [("complainant",), ("matter",), ("evidence",), ("evidence", "0"), ("intake_actor",)]


def _parent(data: dict[str, Any], path: Path_) -> tuple[Any, Any]:
    node: Any = data
    for key in path[:-1]:
        node = node[int(key)] if isinstance(node, list) else node[key]
    last: Any = int(path[-1]) if isinstance(node, list) else path[-1]
    return node, last


def _set(data: dict[str, Any], path: Path_, value: Any) -> None:
    node, last = _parent(data, path)
    node[last] = value


def _drop(data: dict[str, Any], path: Path_) -> None:
    node, last = _parent(data, path)
    del node[last]


def _bad_check_digit() -> st.SearchStrategy[str]:
    return st.sampled_from([c for c in "0123456789X" if c != VALID_ID[-1]]).map(lambda c: VALID_ID[:17] + c)


bad_phones = st.one_of(
    st.from_regex(r"\A1[0-2]\d{9}\Z"),  # no such mobile prefix
    st.from_regex(r"\A1[3-9]\d{5,8}\Z"),  # too short
    st.from_regex(r"\A[a-z]{3,11}\Z"),
    st.just(""),
)
naive = st.datetimes(min_value=__import__("datetime").datetime(2000, 1, 1)).map(lambda d: d.isoformat())

mutations: st.SearchStrategy[tuple[str, Path_, Any]] = st.one_of(
    st.tuples(st.just("drop"), st.sampled_from(REQUIRED), st.none()),
    st.tuples(st.just("set"), st.sampled_from(SCALARS), st.sampled_from([{"x": 1}, [1, 2], [], {}])),
    st.tuples(st.just("set"), st.sampled_from(OBJECTS), st.sampled_from(["text", 5, 1.5, True])),
    st.tuples(st.just("set"), st.just(("complainant", "id_number")), _bad_check_digit()),
    st.tuples(st.just("set"), st.just(("complainant", "id_number")), st.from_regex(r"\A\d{0,16}\Z")),
    st.tuples(st.just("set"), st.just(("complainant", "phone")), bad_phones),
    st.tuples(st.just("set"), st.sampled_from([("received_at",), ("matter", "occurred_at")]), naive),
    st.tuples(st.just("set"), st.just(("case_no",)),
              st.sampled_from(["SX2025023000001", "SX2025092600000", "sx2025092600001", "SX20250926001"])),
    st.tuples(st.just("set"), st.just(("evidence", "0", "sha256")), st.from_regex(r"\A[0-9a-f]{0,63}\Z")),
)


@settings(max_examples=300, deadline=None)
@given(mutations)
def test_mutated_intake_is_refused_naming_the_field(mutation: tuple[str, Path_, Any]) -> None:
    op, path, value = mutation
    data = copy.deepcopy(registration_data())
    if op == "drop":
        _drop(data, path)
    else:
        _set(data, path, value)
    with pytest.raises(ValidationError) as info:
        ComplaintRegistration.model_validate(data)
    _assert_clear(info.value)
    locs = [tuple(str(p) for p in e["loc"]) for e in info.value.errors()]
    assert any(loc[: len(path)] == path for loc in locs), (path, locs)


# ------------------------------------------------------------------------------------------ workflow boundary


def _invalid_payloads(case_no: str) -> dict[str, tuple[dict[str, Any], str]]:
    """name -> (raw JSON payload, the field its error must name)."""
    bad_id = registration_data(case_no=case_no)
    bad_id["complainant"]["id_number"] = VALID_ID[:17] + ("0" if VALID_ID[-1] != "0" else "1")
    bad_phone = registration_data(case_no=case_no)
    bad_phone["complainant"]["phone"] = "12345"
    naive_dt = registration_data(case_no=case_no, received_at="2025-09-26T10:00:00")
    missing = registration_data(case_no=case_no)
    del missing["matter"]
    wrong_type = registration_data(case_no=case_no, channel=["hotline_12393"])
    return {
        "bad ID check digit": (bad_id, "id_number"),
        "bad phone": (bad_phone, "phone"),
        "naive datetime": (naive_dt, "received_at"),
        "missing matter": (missing, "matter"),
        "wrong type": (wrong_type, "channel"),
    }


@pytest.mark.timeout(120)
async def test_invalid_raw_json_at_the_workflow_boundary_opens_no_case(dev_env: WorkflowEnvironment, pg_pool: asyncpg.Pool) -> None:
    tq = f"complaints-fuzz-{uuid.uuid4().hex[:8]}"
    plain = await Client.connect(dev_env.client.service_client.config.target_host,
                                 namespace=dev_env.client.namespace, data_converter=pydantic_data_converter)
    numbers = unique_case_numbers(5)
    async with build_worker(dev_env.client, pg_pool, Settings(task_queue=tq)):
        for no, (what, (payload, field)) in zip(numbers, _invalid_payloads("X").items(), strict=True):
            payload = {**payload, "case_no": no}
            h = await plain.start_workflow("ComplaintCase", payload, id=f"complaint-{no}", task_queue=tq)
            with pytest.raises(WorkflowFailureError) as info:
                await h.result()
            cause = info.value.cause
            assert isinstance(cause, ApplicationError), (what, cause)
            assert cause.type == "InvalidInput" and cause.non_retryable, (what, cause.type)
            # the message may quote personal data, so the worker encrypts it (encoded failure attributes): a
            # client without the codec sees the type only; with the codec it reads which field is wrong
            with pytest.raises(WorkflowFailureError) as decoded:
                await dev_env.client.get_workflow_handle(f"complaint-{no}").result()
            assert field in str(decoded.value.cause), (what, str(decoded.value.cause))
            for table in ("cases", "case_events", "case_pii", "notifications"):
                n = await pg_pool.fetchval(f"SELECT count(*) FROM {table} WHERE case_no = $1", no)  # noqa: S608
                assert n == 0, (what, table, n)
