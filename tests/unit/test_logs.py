"""The access log's records and lines: built lean, yet usable by any logging formatter."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pytest

from service.logs import AccessRecord, JsonFormatter, utc_timestamp


@pytest.mark.parametrize(
    "moment",
    [
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(2020, 10, 6, 22, 0, 0, 500_000, tzinfo=UTC),
        datetime(2026, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
    ],
)
def test_a_timestamp_is_rfc3339_utc_with_microseconds(moment: datetime) -> None:
    text = utc_timestamp(moment.timestamp())
    assert text.endswith("Z") and len(text) == len("2020-10-06T22:00:00.000000Z")
    assert datetime.fromisoformat(text) == moment


def test_an_access_record_is_one_json_line_with_the_requests_fields() -> None:
    record = AccessRecord(logging.INFO, "GET", "/v1/stories", 200, 0.125, "archive", None)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    assert json.loads(line) == {
        "ts": utc_timestamp(record.created),
        "level": "info",
        "logger": "knewwhen.access",
        "message": "request",
        "method": "GET",
        "path": "/v1/stories",
        "status": 200,
        "duration_ms": 0.125,
        "principal": "archive",
    }


def test_a_failed_requests_record_carries_its_exception() -> None:
    try:
        raise RuntimeError("broken")
    except RuntimeError as e:
        failure = (type(e), e, e.__traceback__)
    record = AccessRecord(logging.ERROR, "POST", "/v1/stories/s/events", 500, 3.5, None, failure)
    line = json.loads(JsonFormatter().format(record))
    assert (line["level"], line["status"], line["principal"]) == ("error", 500, None)
    assert "RuntimeError: broken" in line["exception"]
    assert "taskName" not in line


def test_an_access_record_has_every_attribute_a_standard_format_names() -> None:
    names = ["name", "levelname", "levelno", "filename", "module", "lineno", "funcName"]
    names += ["threadName", "processName", "message", "pathname", "asctime", "msecs", "process"]
    names += ["relativeCreated", "thread", "created"]
    formatter = logging.Formatter("|".join(f"%({name})s" for name in names))
    record = AccessRecord(logging.INFO, "GET", "/healthz", 200, 0.5, None, None)
    fields = formatter.format(record).split("|")
    assert fields[:10] == [
        "knewwhen.access",
        "INFO",
        "20",
        "logs.py",
        "logs",
        "0",
        "AccessLog",
        "MainThread",
        "None",
        "request",
    ]
    assert fields[10].endswith("logs.py") and len(fields) == len(names)
