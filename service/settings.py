"""Every environment variable knewwhen reads, in one place."""

from __future__ import annotations

import os
from collections.abc import Mapping

from msgspec import Struct

from service.persistence import is_postgres_url

DEFAULT_DATABASE = "./var/knewwhen.sqlite3"
# Database reads at once per worker process. SQLite runs a query in the process, stepping row by
# row and handing the GIL back and forth with every other reading thread: with 4 reader threads
# an uncached knowledge answer cost ~2.4-3.2 ms of server CPU against ~1.45 ms with one
# (decision 018). PostgreSQL's queries run in the server, so reads overlap there.
SQLITE_READ_THREADS = 1
POSTGRES_READ_THREADS = 4
DEFAULT_ANSWER_CACHE_BYTES = 64 << 20


class Settings(Struct, frozen=True):
    """The service's configuration."""

    database: str = DEFAULT_DATABASE
    max_body_bytes: int = 1 << 20
    read_token_required: bool = False
    min_position_wait_seconds: float = 5.0
    read_threads: int | None = None  # reads at once per worker; None: the database's default
    answer_cache_bytes: int = DEFAULT_ANSWER_CACHE_BYTES

    @property
    def reads_at_once(self) -> int:
        """Database reads at once per worker: ``read_threads``, else the database's default."""
        return self.read_threads or read_threads_for(self.database)


def truthy(value: str | None) -> bool:
    """``1``, ``true``, ``yes`` and ``on`` (any case) are true; anything else is false."""
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def load(environ: Mapping[str, str] | None = None) -> Settings:
    """Read the settings from the environment (``os.environ`` by default)."""
    env = os.environ if environ is None else environ
    database = env.get("KNEWWHEN_DATABASE") or DEFAULT_DATABASE
    threads = env.get("KNEWWHEN_READ_THREADS")
    return Settings(
        database=database,
        max_body_bytes=int(env.get("KNEWWHEN_MAX_BODY_BYTES") or (1 << 20)),
        read_token_required=truthy(env.get("KNEWWHEN_READ_TOKEN_REQUIRED")),
        min_position_wait_seconds=float(env.get("KNEWWHEN_MIN_POSITION_WAIT") or 5.0),
        read_threads=max(1, int(threads)) if threads else None,
        answer_cache_bytes=int(
            env.get("KNEWWHEN_ANSWER_CACHE_BYTES") or DEFAULT_ANSWER_CACHE_BYTES
        ),
    )


def read_threads_for(database: str) -> int:
    """The default number of reads at once per worker for a database setting."""
    return POSTGRES_READ_THREADS if is_postgres_url(database) else SQLITE_READ_THREADS
