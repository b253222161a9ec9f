"""Structured logs: one JSON object per line, and one line per request (never a token)."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import threading
import time
import traceback
from types import TracebackType
from typing import Any

import msgspec
from msgspec import Struct
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.problems import internal_error

ACCESS = logging.getLogger("knewwhen.access")
_encode = msgspec.json.Encoder().encode
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",
    "taskName",
}
_STARTED = time.time()
_FILENAME = os.path.basename(__file__)
_pid = os.getpid()  # read once: os.getpid() is a system call


def _read_pid_again() -> None:
    """In a forked child: its own process id."""
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_read_pid_again)
ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


@functools.lru_cache(maxsize=4)
def utc_second(second: int) -> str:
    """A whole second since the epoch as RFC 3339 UTC, without the zone."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))


def utc_timestamp(created: float) -> str:
    """``created`` (seconds since the epoch) as RFC 3339 UTC with microseconds and ``Z``."""
    second = int(created)
    return f"{utc_second(second)}.{int((created - second) * 1_000_000):06d}Z"


class AccessRecord(logging.LogRecord):
    """One request, as a log record of ``knewwhen.access``.

    Built without ``LogRecord.__init__``, which takes longer than the rest of a cached GET's
    logging: the standard attributes are set directly (``processName`` is not looked up).
    """

    def __init__(
        self,
        level: int,
        method: str,
        path: str,
        status: int,
        duration_ms: float,
        who: str | None,
        failure: ExcInfo | None,
    ) -> None:
        self.created = time.time()
        self.msecs = int((self.created - int(self.created)) * 1000) + 0.0
        self.relativeCreated = (self.created - _STARTED) * 1000
        self.name, self.msg, self.args = ACCESS.name, "request", ()
        self.levelno, self.levelname = level, logging.getLevelName(level)
        self.pathname, self.filename, self.module = (
            __file__,
            _FILENAME,
            _FILENAME.removesuffix(".py"),
        )
        self.lineno, self.funcName = 0, "AccessLog"
        self.exc_info, self.exc_text, self.stack_info = failure, None, None
        self.thread, self.threadName = threading.get_ident(), threading.current_thread().name
        self.process, self.processName = _pid, None
        self.taskName = None
        self.method, self.path, self.status = method, path, status
        self.duration_ms, self.principal = duration_ms, who


class AccessLine(Struct, frozen=True):
    """The JSON line of an ``AccessRecord``: the fields of every line, then the request's."""

    ts: str
    level: str
    logger: str
    message: str
    method: str
    path: str
    status: int
    duration_ms: float
    principal: str | None


def access_line(
    created: float,
    level: str,
    method: str,
    path: str,
    status: int,
    duration_ms: float,
    who: str | None,
) -> str:
    """The JSON line of one request (``created``: seconds since the epoch; ``level``: its
    name in lower case), as ``JsonFormatter`` formats an ``AccessRecord`` without an error."""
    line = AccessLine(
        utc_timestamp(created),
        level,
        ACCESS.name,
        "request",
        method,
        path,
        status,
        duration_ms,
        who,
    )
    return _encode(line).decode(errors="replace")


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line: time, level, logger, message and any ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON object on one line."""
        if isinstance(record, AccessRecord) and record.exc_info is None:
            return access_line(
                record.created,
                record.levelname.lower(),
                record.method,
                record.path,
                record.status,
                record.duration_ms,
                record.principal,
            )
        line: dict[str, Any] = {
            "ts": utc_timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update((k, v) for k, v in vars(record).items() if k not in _STANDARD)
        if record.exc_info:
            line["exception"] = "".join(traceback.format_exception(*record.exc_info))
        return _encode(line).decode(errors="replace")


class LoopBatchedStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A ``StreamHandler`` that writes the lines emitted during one turn of the running event
    loop together, at the end of that turn: one write for many requests' lines, not one each.

    Lines emitted with no running loop in the thread (worker threads, the CLI, start-up and
    shutdown) are written at once, after any still held, so the order is kept. ``flush()``
    (called by ``logging.shutdown`` at exit) writes whatever is held.
    """

    def __init__(self, stream: Any = None) -> None:
        super().__init__(stream)
        self._held: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Hold the line until the loop's turn ends, or write it now off the loop."""
        try:
            line = self.format(record) + self.terminator
        except Exception:
            self.handleError(record)
            return
        self.hold(line)

    def hold(self, line: str) -> None:
        """Hold a formatted line (ending in a newline) until the loop's turn ends, or write it
        now off the loop."""
        self._held.append(line)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        if len(self._held) == 1:
            loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write the held lines, then flush the stream."""
        with self.lock:  # type: ignore[union-attr]
            if self._held:
                lines, self._held = "".join(self._held), []
                try:
                    self.stream.write(lines)
                except Exception:
                    self.handleError(logging.makeLogRecord({"msg": "a log write failed"}))
            if self.stream and hasattr(self.stream, "flush"):
                self.stream.flush()


LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "service.logs.JsonFormatter"}},
    "handlers": {
        "stderr": {
            "class": "service.logs.LoopBatchedStreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stderr",
        }
    },
    "loggers": {
        "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "uvicorn.error": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "knewwhen": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
    },
}


class AccessLog:
    """ASGI middleware: logs each request once; answers a bare 500 problem for unexpected errors."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state = scope.setdefault("state", {})
        status = 500
        response_started = False

        async def send_logged(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
            await send(message)

        error: BaseException | None = None
        try:
            await self.app(scope, receive, send_logged)
        except Exception as e:
            error = e
            if not response_started:
                await internal_error()(scope, receive, send_logged)
        duration_ms = round((time.perf_counter() - started) * 1000, 3)
        principal = state.get("principal")
        who = principal.name if principal is not None else None
        level = logging.INFO if error is None else logging.ERROR
        if error is None and (direct := direct_handler()) is not None:
            line = access_line(
                time.time(), "info", scope["method"], scope["path"], status, duration_ms, who
            )
            direct.hold(line + "\n")
        elif ACCESS.isEnabledFor(level):
            failure = None if error is None else (type(error), error, error.__traceback__)
            request = (scope["method"], scope["path"], status, duration_ms, who)
            ACCESS.handle(AccessRecord(level, *request, failure))


def direct_handler() -> LoopBatchedStreamHandler | None:
    """The handler of access lines when logging is configured as ``LOG_CONFIG`` configures it
    (``knewwhen serve``), none filtering, the access logger enabled for INFO: then a request's
    line goes to it straight (``access_line``), the same line a record through ``logging``
    would make, without building that record or walking the loggers (~8 µs of a cached GET's
    ~66, decision 027). None otherwise (tests capturing records, a configuration of one's own),
    and records go through ``logging``."""
    parent = ACCESS.parent
    if (
        ACCESS.handlers
        or ACCESS.filters
        or ACCESS.disabled
        or not ACCESS.propagate
        or parent is None
        or parent.propagate
        or len(parent.handlers) != 1
        or not ACCESS.isEnabledFor(logging.INFO)
    ):
        return None
    handler = parent.handlers[0]
    if (
        type(handler) is not LoopBatchedStreamHandler
        or type(handler.formatter) is not JsonFormatter
        or handler.filters
        or handler.level > logging.INFO
        or handler.terminator != "\n"
    ):
        return None
    return handler
