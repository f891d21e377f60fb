"""One log format for every process: JSON lines (or plain text for a person at a terminal), level from settings.

`configure_logging(process)` is called once at the start of the worker, the API, the codec server and the
Streamlit pages (`COMPLAINTS_LOG_LEVEL`, `COMPLAINTS_LOG_FORMAT=json|text`). A JSON line carries `time` (UTC,
ISO 8601), `level`, `logger`, `process`, `message` and, whenever they are known, `case_no` and `workflow_id`;
then the Temporal context (`run_id`, `workflow_type`, `activity_type`, `attempt`, ...), any `extra` the call
gave, and `exception` with the traceback.

`workflow.logger` and `activity.logger` put the running workflow's id on each record (`temporal_workflow`,
`temporal_activity`); the case number is derived here from that id (`common.contract.case_no_of`), so every
line a case's workflow or activity writes, the SDK's own included, names the case without each call having
to pass it. Code outside a workflow (the outbox sender) passes `extra={"case_no": ...}`.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from datetime import UTC, datetime
from typing import Any

from temporalio import activity, workflow

from common.contract import case_no_of
from common.settings import Settings, get_settings

# attributes every LogRecord has: not copied into the JSON object as `extra`
# (and uvicorn's `color_message`: the message again, with terminal colour codes)
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName", "color_message"}
_TEMPORAL_CONTEXT = ("temporal_workflow", "temporal_activity")
# Temporal context keys renamed to the field names used everywhere else in the project
_CONTEXT_NAMES = {"workflow_run_id": "run_id"}
_MARK = "_complaints_handler"


def case_context(record: logging.LogRecord) -> dict[str, Any]:
    """`case_no`, `workflow_id` and the rest of the Temporal context of a record (empty outside a case)."""
    context: dict[str, Any] = {}
    for attribute in _TEMPORAL_CONTEXT:
        details = getattr(record, attribute, None)
        if isinstance(details, dict):
            context.update({_CONTEXT_NAMES.get(k, k): v for k, v in details.items()})
    case_no = getattr(record, "case_no", None)
    if case_no is None and isinstance(context.get("workflow_id"), str):
        case_no = case_no_of(context["workflow_id"])
    if case_no is not None:
        context["case_no"] = case_no
    return context


class JsonFormatter(logging.Formatter):
    """One JSON object per line; values JSON cannot hold are written as their `str`."""

    def __init__(self, process: str) -> None:
        super().__init__()
        self.process = process

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "process": self.process,
            "message": record.getMessage(),
        }
        context = case_context(record)
        for key in ("case_no", "workflow_id"):
            if key in context:
                line[key] = context.pop(key)
        line.update(context)
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and key not in _TEMPORAL_CONTEXT and key not in line:
                line[key] = value
        if record.exc_info:
            line["exception"] = "".join(traceback.format_exception(*record.exc_info))
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """`time level logger [case_no workflow_id]: message` for reading at a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(case)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        context = case_context(record)
        ids = [context[k] for k in ("case_no", "workflow_id") if k in context]
        record.case = f" [{' '.join(ids)}]" if ids else ""
        return super().format(record)


def make_formatter(process: str, settings: Settings | None = None) -> logging.Formatter:
    s = settings or get_settings()
    return JsonFormatter(process) if s.log_format == "json" else TextFormatter()


def configure_logging(process: str, settings: Settings | None = None) -> None:
    """Send the root logger to stderr in the configured format and level; safe to call again (a Streamlit
    page runs its script on every interaction): the handler is replaced, never added twice."""
    s = settings or get_settings()
    formatter = make_formatter(process, s)
    root = logging.getLogger()
    # only our own handler is replaced: others on the root (pytest's capture, an embedding host's) stay
    for old in [h for h in root.handlers if getattr(h, _MARK, False)]:
        root.removeHandler(old)
    handler = logging.StreamHandler(sys.stderr)
    setattr(handler, _MARK, True)
    handler.setFormatter(formatter)
    root.addHandler(handler)
    root.setLevel(s.log_level)
    if s.log_format == "json":
        # the same context is in the JSON fields; appended to the message it would only be noise
        workflow.logger.workflow_info_on_message = False
        activity.logger.activity_info_on_message = False
    # Streamlit's loggers keep their own console handlers and do not propagate: give them the same format
    for name, existing in logging.Logger.manager.loggerDict.items():
        if name.startswith("streamlit") and isinstance(existing, logging.Logger):
            console = getattr(existing, "streamlit_console_handler", None)
            if isinstance(console, logging.Handler):
                console.setFormatter(formatter)
