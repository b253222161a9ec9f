"""The access log's records and lines: built lean, yet usable by any logging formatter; and
the handler that writes a loop turn's lines together."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import logging.config
import os
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from starlette.types import Message, Receive, Scope, Send

from service.logs import (
    LOG_CONFIG,
    AccessLog,
    AccessRecord,
    JsonFormatter,
    LoopBatchedStreamHandler,
    access_line,
    direct_handler,
    utc_timestamp,
)


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


class CountingStream(io.StringIO):
    """A text stream that counts its writes."""

    writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def batched_logger(stream: CountingStream) -> tuple[logging.Logger, LoopBatchedStreamHandler]:
    handler = LoopBatchedStreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger(f"test.batched.{id(stream)}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    return logger, handler


def test_off_the_loop_each_line_is_written_at_once() -> None:
    stream = CountingStream()
    logger, _ = batched_logger(stream)
    logger.info("one")
    assert stream.getvalue() == "one\n"
    logger.info("two")
    assert (stream.getvalue(), stream.writes) == ("one\ntwo\n", 2)


def test_on_the_loop_a_turns_lines_are_written_together_when_the_turn_ends() -> None:
    stream = CountingStream()
    logger, _ = batched_logger(stream)

    async def two_turns() -> list[str]:
        seen = []
        for turn in ("a", "b"):
            for n in range(3):
                logger.info(f"{turn}{n}")
            seen.append(stream.getvalue())
            await asyncio.sleep(0)
        return seen

    during = asyncio.run(two_turns())
    assert during == ["", "a0\na1\na2\n"]
    assert stream.getvalue() == "a0\na1\na2\nb0\nb1\nb2\n"
    assert stream.writes == 2


def test_held_lines_come_first_and_flush_writes_them() -> None:
    stream = CountingStream()
    logger, handler = batched_logger(stream)

    flushed: list[str] = []

    async def hold() -> None:
        logger.info("held")
        handler.flush()  # as logging.shutdown does at exit
        flushed.append(stream.getvalue())
        logger.info("held again")

    async def hold_then_log_from_a_thread() -> None:
        logger.info("on the loop")
        await asyncio.to_thread(logger.info, "in a thread")

    asyncio.run(hold())
    assert flushed == ["held\n"]
    assert stream.getvalue() == "held\nheld again\n"
    asyncio.run(hold_then_log_from_a_thread())
    assert stream.getvalue().endswith("on the loop\nin a thread\n")


def test_an_access_record_names_its_process_also_in_a_forked_child() -> None:
    def process_of_a_record() -> int:
        return AccessRecord(logging.INFO, "GET", "/", 200, 0.1, None, None).process or 0

    assert process_of_a_record() == os.getpid()
    read, write = os.pipe()
    child = os.fork()
    if child == 0:
        os.write(write, str(process_of_a_record() == os.getpid()).encode())
        os._exit(0)
    os.waitpid(child, 0)
    assert os.read(read, 16) == b"True"


@pytest.mark.parametrize(
    ("path", "who"),
    [("/v1/stories", None), ('/v1/x?q="a\\b"', "desk"), ("/v1/stories/é/knowledge", 'a"b')],
)
def test_a_direct_access_line_is_the_line_of_its_record(path: str, who: str | None) -> None:
    record = AccessRecord(logging.INFO, "GET", path, 200, 0.017, who, None)
    line = access_line(record.created, "info", "GET", path, 200, 0.017, who)
    assert (json.loads(line)["path"], json.loads(line)["principal"]) == (path, who)
    assert line == JsonFormatter().format(record)


@pytest.fixture
def served_logging() -> Iterator[io.StringIO]:
    """Logging as ``knewwhen serve`` configures it (``LOG_CONFIG``), into a string; then as
    it was."""
    names = ["knewwhen", "knewwhen.access", "uvicorn", "uvicorn.error"]
    loggers = [logging.getLogger(name) for name in names]
    saved = [(lg.handlers[:], lg.level, lg.propagate, lg.disabled, lg.filters[:]) for lg in loggers]
    logging.config.dictConfig(LOG_CONFIG)
    stream = io.StringIO()
    (handler,) = logging.getLogger("knewwhen").handlers
    assert isinstance(handler, LoopBatchedStreamHandler)
    handler.setStream(stream)
    yield stream
    for logger, (handlers, level, propagate, disabled, filters) in zip(loggers, saved, strict=True):
        logger.handlers[:], logger.filters[:] = handlers, filters
        logger.setLevel(level)
        logger.propagate, logger.disabled = propagate, disabled


async def answer_ok(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def request_through_access_log(path: str) -> None:
    async def request() -> None:
        async def receive() -> Message:
            return {"type": "http.request", "body": b""}

        async def send(message: Message) -> None:
            pass

        scope = {"type": "http", "method": "GET", "path": path, "state": {}}
        await AccessLog(answer_ok)(scope, receive, send)

    asyncio.run(request())


def served_handler_alone() -> logging.Handler:
    """The served handler, with pytest's capturing handlers (attached to every logger that
    does not propagate, as "knewwhen" as served does not) taken off for the test."""
    knewwhen = logging.getLogger("knewwhen")
    knewwhen.handlers[:] = [h for h in knewwhen.handlers if type(h) is LoopBatchedStreamHandler]
    (handler,) = knewwhen.handlers
    return handler


def test_as_served_a_requests_line_goes_straight_to_the_handler(
    served_logging: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = served_handler_alone()
    assert direct_handler() is handler
    seen: list[logging.LogRecord] = []
    monkeypatch.setattr(handler, "emit", seen.append)
    request_through_access_log("/v1/stories")
    assert seen == []  # no record was made
    line = json.loads(served_logging.getvalue())
    assert {k: line[k] for k in ("logger", "method", "path", "status", "principal")} == {
        "logger": "knewwhen.access",
        "method": "GET",
        "path": "/v1/stories",
        "status": 200,
        "principal": None,
    }


def test_a_filter_or_another_handler_gets_records_as_before(served_logging: io.StringIO) -> None:
    handler = served_handler_alone()
    seen: list[str] = []

    def keep(record: logging.LogRecord) -> bool:
        seen.append(record.getMessage())
        return True

    handler.addFilter(keep)
    assert direct_handler() is None
    request_through_access_log("/v1/stories")
    assert seen == ["request"]
    assert json.loads(served_logging.getvalue())["path"] == "/v1/stories"
    handler.removeFilter(keep)
    knewwhen = logging.getLogger("knewwhen")
    knewwhen.addHandler(logging.NullHandler())
    assert direct_handler() is None
    knewwhen.handlers.pop()
    assert direct_handler() is handler
    logging.getLogger("knewwhen.access").setLevel(logging.WARNING)
    assert direct_handler() is None
