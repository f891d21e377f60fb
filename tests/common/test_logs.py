"""The log format: fields of a JSON line, the case number derived from a review's workflow id, text mode, and
a bad level or format in the environment refused naming the setting."""

from __future__ import annotations

import json
import logging
import sys

import pytest
from pydantic import ValidationError

from common.logs import JsonFormatter, TextFormatter
from common.settings import Settings


def _record(msg: str = "hello %s", args: tuple[object, ...] = ("world",), **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("complaints.test", logging.WARNING, __file__, 1, msg, args, None)
    record.__dict__.update(extra)
    return record


def test_json_line_names_the_case_of_a_review_workflow_and_keeps_extra_fields() -> None:
    record = _record(
        temporal_workflow={"workflow_id": "complaint-SX2026100100001-review-2", "run_id": "r1", "attempt": 1},
        notification_key="k1",
    )
    line = json.loads(JsonFormatter("worker").format(record))
    assert line["message"] == "hello world"
    assert line["level"] == "WARNING" and line["logger"] == "complaints.test" and line["process"] == "worker"
    assert line["case_no"] == "SX2026100100001"
    assert line["workflow_id"] == "complaint-SX2026100100001-review-2"
    assert line["run_id"] == "r1" and line["notification_key"] == "k1"
    assert line["time"].endswith("+00:00")
    assert "temporal_workflow" not in line


def test_activity_context_and_an_explicit_case_number() -> None:
    record = _record(
        temporal_activity={"workflow_id": "someone-else", "workflow_run_id": "r2", "activity_type": "x"},
        case_no="SX2026100100002",
    )
    line = json.loads(JsonFormatter("worker").format(record))
    assert line["case_no"] == "SX2026100100002" and line["run_id"] == "r2" and line["activity_type"] == "x"
    # not a case's workflow and no case number given: the field is absent rather than guessed
    other = json.loads(JsonFormatter("worker").format(_record(temporal_activity={"workflow_id": "someone-else"})))
    assert "case_no" not in other and other["workflow_id"] == "someone-else"


def test_exception_and_non_json_values() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = _record(when=object)
        record.exc_info = sys.exc_info()
    line = json.loads(JsonFormatter("api").format(record))
    assert "ValueError: boom" in line["exception"]
    assert line["when"] == str(object)


def test_text_format_shows_the_case() -> None:
    record = _record(temporal_workflow={"workflow_id": "complaint-SX2026100100003"})
    text = TextFormatter().format(record)
    assert "[SX2026100100003 complaint-SX2026100100003]: hello world" in text
    assert ": hello world" in TextFormatter().format(_record())


@pytest.mark.parametrize(("variable", "value"), [("COMPLAINTS_LOG_LEVEL", "LOUD"), ("COMPLAINTS_LOG_FORMAT", "xml")])
def test_bad_log_settings_are_refused_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError, match=variable.removeprefix("COMPLAINTS_").lower()):
        Settings()


def test_level_and_format_are_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPLAINTS_LOG_LEVEL", " debug ")
    monkeypatch.setenv("COMPLAINTS_LOG_FORMAT", "TEXT")
    s = Settings()
    assert (s.log_level, s.log_format) == ("DEBUG", "text")


def test_uvicorns_coloured_copy_of_the_message_is_left_out() -> None:
    line = json.loads(JsonFormatter("api").format(_record(color_message="\x1b[36mhello\x1b[0m")))
    assert "color_message" not in line and line["message"] == "hello world"
