"""Runs the API under uvicorn (uvloop, httptools), one process or several workers on one database."""

from __future__ import annotations

import os

import uvicorn

from service.api import create_app, open_ledger
from service.logs import LOG_CONFIG
from service.settings import Settings
from service.tokens import TokenStore

FACTORY = "service.api:app_from_environment"


def environment_of(settings: Settings) -> dict[str, str]:
    """The environment variables that make ``settings.load()`` give back ``settings``."""
    return {
        "KNEWWHEN_DATABASE": settings.database,
        "KNEWWHEN_MAX_BODY_BYTES": str(settings.max_body_bytes),
        "KNEWWHEN_READ_TOKEN_REQUIRED": "1" if settings.read_token_required else "0",
        "KNEWWHEN_MIN_POSITION_WAIT": str(settings.min_position_wait_seconds),
        "KNEWWHEN_READ_THREADS": str(settings.read_threads or ""),
        "KNEWWHEN_ANSWER_CACHE_BYTES": str(settings.answer_cache_bytes),
    }


def prepare(database: str) -> None:
    """Create every table once, before workers start and race to create them on a fresh
    database; raises ``ProjectionsOutOfDate`` before serving a database that needs a replay."""
    ledger = open_ledger(database)
    try:
        TokenStore.of(ledger)
    finally:
        ledger.close()


def run(settings: Settings, host: str, port: int, workers: int = 1) -> None:
    """Serve until interrupted; with ``workers`` > 1 each worker builds the app from the environment."""
    common: dict[str, object] = {
        "host": host,
        "port": port,
        "loop": "uvloop",
        "http": "httptools",
        "log_config": LOG_CONFIG,
        "access_log": False,
        "proxy_headers": False,
        "server_header": False,
        "timeout_graceful_shutdown": 10,
    }
    prepare(settings.database)
    if workers > 1:
        os.environ.update(environment_of(settings))
        uvicorn.run(FACTORY, factory=True, workers=workers, **common)  # type: ignore[arg-type]
    else:
        uvicorn.run(create_app(settings, serving=True), **common)  # type: ignore[arg-type]
