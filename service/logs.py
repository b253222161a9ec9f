"""Structured logs: one JSON object per line, and one line per request (never a token)."""

from __future__ import annotations

import logging
import time
import traceback
from datetime import UTC, datetime
from typing import Any

import msgspec
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.problems import internal_error

ACCESS = logging.getLogger("knewwhen.access")
_encode = msgspec.json.Encoder().encode
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",
}


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line: time, level, logger, message and any ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON object on one line."""
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat().replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update((k, v) for k, v in vars(record).items() if k not in _STANDARD)
        if record.exc_info:
            line["exception"] = "".join(traceback.format_exception(*record.exc_info))
        return _encode(line).decode(errors="replace")


LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "service.logs.JsonFormatter"}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
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
        level = logging.ERROR if error is not None else logging.INFO
        if not ACCESS.isEnabledFor(level):
            return
        principal = state.get("principal")
        # A record made directly: Logger.log would walk the stack for a caller nobody reads.
        record = ACCESS.makeRecord(
            ACCESS.name,
            level,
            __file__,
            0,
            "request",
            (),
            (type(error), error, error.__traceback__) if error is not None else None,
            extra={
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                "principal": principal.name if principal is not None else None,
            },
        )
        ACCESS.handle(record)
