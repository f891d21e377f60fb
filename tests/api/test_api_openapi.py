"""The published OpenAPI document (`schemas/openapi.json`): current with the code, every decision of the
contract a route, no body carrying an actor, every `/v1` operation behind credentials."""

from __future__ import annotations

import json
from pathlib import Path

from api.app import openapi_document
from cases.models import DECISION_MODELS

PUBLISHED = Path(__file__).resolve().parents[2] / "schemas" / "openapi.json"


def test_published_document_matches_the_app() -> None:
    assert json.loads(PUBLISHED.read_text(encoding="utf-8")) == openapi_document(), "run `make schemas`"


def test_every_decision_is_a_route_and_no_body_names_an_actor() -> None:
    doc = openapi_document()
    schemas = doc["components"]["schemas"]
    for name in DECISION_MODELS:
        op = doc["paths"][f"/v1/cases/{{case_no}}/decisions/{name}"]["post"]
        ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
        assert "actor" not in schemas[ref]["properties"] and "decision" not in schemas[ref]["properties"]
        assert schemas[ref].get("additionalProperties") is False
        assert {p["name"] for p in op["parameters"]} == {"case_no", "Idempotency-Key"}
        assert {"401", "404", "409", "422"} <= set(op["responses"])


def test_every_v1_operation_needs_credentials() -> None:
    doc = openapi_document()
    schemes = set(doc["components"]["securitySchemes"])
    assert schemes == {"HTTPBearer", "APIKeyHeader"}
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if path.startswith("/v1"):
                assert {k for s in op["security"] for k in s} == schemes, (method, path)
            else:
                assert "security" not in op, (method, path)
