"""The published JSON Schemas match the pydantic models, and every example payload is valid for both."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from cases.models import DECISION_MODELS, CaseSummary, ComplaintRegistration
from cases.pii import id_number_problem, phone_problem
from clients import schemas

ROOT = Path(__file__).resolve().parents[2] / "schemas"


def test_checked_in_schemas_do_not_drift_from_the_models() -> None:
    bad = schemas.drift(ROOT)
    assert not bad, f"schemas/ drifted from the models, run `python -m clients.schemas`: {bad}"


def test_every_update_and_the_summary_has_a_schema() -> None:
    assert (ROOT / "ComplaintRegistration.json").exists()
    assert (ROOT / "CaseSummary.json").exists()
    for name in DECISION_MODELS:
        assert (ROOT / "updates" / f"{name}.json").exists(), name
        assert (ROOT / "examples" / "updates" / f"{name}.json").exists(), name
    index = json.loads((ROOT / "index.json").read_text(encoding="utf-8"))
    assert index["workflow_type"] == "ComplaintCase" and index["task_queue"] == "complaints"
    assert set(index["updates"]) == set(DECISION_MODELS)


def _load(rel: str) -> dict:
    return json.loads((ROOT / rel).read_text(encoding="utf-8"))


REGISTRATIONS = sorted(p.name for p in (ROOT / "examples").glob("registration*.json"))


@pytest.mark.parametrize("name", REGISTRATIONS)
def test_registration_examples_are_valid_for_schema_and_model(name: str) -> None:
    data = _load(f"examples/{name}")
    jsonschema.validate(data, _load("ComplaintRegistration.json"), cls=jsonschema.Draft202012Validator)
    reg = ComplaintRegistration.model_validate(data)
    assert id_number_problem(reg.complainant.id_number) is None
    assert phone_problem(reg.complainant.phone) is None
    # round trip through JSON keeps the model equal (what travels in Temporal payloads)
    assert ComplaintRegistration.model_validate_json(reg.model_dump_json()) == reg


@pytest.mark.parametrize("name", sorted(DECISION_MODELS))
def test_update_examples_are_valid_for_schema_and_model(name: str) -> None:
    data = _load(f"examples/updates/{name}.json")
    jsonschema.validate(data, _load(f"updates/{name}.json"), cls=jsonschema.Draft202012Validator)
    model = DECISION_MODELS[name].model_validate(data)
    assert DECISION_MODELS[name].model_validate_json(model.model_dump_json()) == model


def test_schema_rejects_what_the_model_rejects_structurally() -> None:
    schema = _load("updates/accept.json")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"actor": {"id": "x", "role": "janitor", "unit_id": "SX"}}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"actor": {"id": "x", "role": "dispatcher", "unit_id": "SX"}, "extra": 1}, schema)
    reg = _load("ComplaintRegistration.json")
    bad = _load("examples/registration.json")
    bad["channel"] = "fax"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, reg)


def test_summary_schema_validates_a_real_summary_shape() -> None:
    from datetime import UTC, datetime

    s = CaseSummary(
        case_no="SX2026112000123",
        kind="complaint",
        channel="hotline_12393",
        category="other",
        jurisdiction="CN-SX",
        stage="acceptance",
        open=True,
        received_at=datetime(2026, 11, 20, 1, 30, tzinfo=UTC),
        clocks=[],
        sla_level="on_track",
        any_provisional=False,
        events=[],
    )
    jsonschema.validate(json.loads(s.model_dump_json()), _load("CaseSummary.json"))


def test_generator_is_deterministic_and_check_mode_reports_drift(tmp_path: Path) -> None:
    assert schemas.generate() == schemas.generate()
    assert schemas.main(["--check", "--out", str(tmp_path)]) == 1
    assert schemas.main(["--out", str(tmp_path)]) == 0
    assert schemas.main(["--check", "--out", str(tmp_path)]) == 0
    (tmp_path / "updates" / "accept.json").write_text("{}", encoding="utf-8")
    assert schemas.drift(tmp_path) == ["updates/accept.json"]
