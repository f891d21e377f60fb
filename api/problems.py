"""Errors as `application/problem+json` (RFC 9457): a title, the status, a detail a person can act on, and for
bad input the fields at fault (`errors: [{field, message}]`)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"

_TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    422: "Invalid input",
    503: "Service unavailable",
}


class FieldError(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str = ""
    errors: list[FieldError] | None = Field(default=None, description="422: every field at fault")


class ApiProblem(Exception):
    """Raised by the routes; rendered as problem+json."""

    def __init__(self, status: int, detail: str, *, type_: str = "about:blank", **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.type = type_
        self.extra = extra


def problem_body(status: int, detail: str, *, type_: str = "about:blank", **extra: Any) -> dict[str, Any]:
    body = {"type": type_, "title": _TITLES.get(status, "Error"), "status": status, "detail": detail}
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


def problem_response(status: int, detail: str, *, type_: str = "about:blank", headers: dict[str, str] | None = None,
                     **extra: Any) -> JSONResponse:
    return JSONResponse(problem_body(status, detail, type_=type_, **extra), status_code=status,
                        media_type=PROBLEM_JSON, headers=headers)


def invalid(errors: list[dict[str, str]]) -> JSONResponse:
    first = errors[0] if errors else {"field": "(request)", "message": "invalid"}
    return problem_response(422, f"{first['field']}: {first['message']}", errors=errors)


async def _api_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiProblem)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return problem_response(exc.status, exc.detail, type_=exc.type, headers=headers, **exc.extra)


def _field(loc: tuple[Any, ...]) -> str:
    # ("body", "complainant", "id_number") -> complainant.id_number; ("query", "limit") -> limit
    parts = [str(p) for p in loc[1:]] if loc and loc[0] in ("body", "query", "path", "header") else [str(p) for p in loc]
    return ".".join(parts) or str(loc[0] if loc else "(request)")


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": _field(tuple(e.get("loc", ()))), "message": str(e.get("msg", "invalid")).removeprefix("Value error, ")}
        for e in exc.errors()
    ]
    return invalid(errors)


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return problem_response(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))


def install(app: Any) -> None:
    app.add_exception_handler(ApiProblem, _api_problem)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": _TITLES[code]}
    for code in (401, 403, 404, 409, 422, 503)
}


def problem_media_type_only(doc: dict[str, Any]) -> dict[str, Any]:
    """Error responses are served as application/problem+json only: move the schema FastAPI puts under
    application/json there."""
    for ops in doc.get("paths", {}).values():
        for op in ops.values():
            for response in op.get("responses", {}).values():
                content = response.get("content", {})
                if PROBLEM_JSON in content and "application/json" in content:
                    content[PROBLEM_JSON] = content.pop("application/json")
    return doc
