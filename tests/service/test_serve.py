"""The serve module hands its settings to uvicorn workers through the environment, unchanged."""

from __future__ import annotations

import pytest

from service.serve import environment_of
from service.settings import Settings, load


@pytest.mark.parametrize(
    "settings",
    [
        Settings(),
        Settings(
            database="postgresql://postgres@127.0.0.1:5432/news",
            max_body_bytes=2048,
            read_token_required=True,
            min_position_wait_seconds=0.5,
            read_threads=3,
        ),
    ],
)
def test_workers_read_back_the_settings_they_were_given(settings: Settings) -> None:
    assert load(environment_of(settings)) == settings


def test_reads_at_once_default_to_one_on_sqlite_and_four_on_postgres_unless_set() -> None:
    assert load({}).reads_at_once == 1
    assert load({"KNEWWHEN_DATABASE": "/srv/news.sqlite3"}).reads_at_once == 1
    assert load({"KNEWWHEN_DATABASE": "postgresql://127.0.0.1/news"}).reads_at_once == 4
    assert load({"KNEWWHEN_READ_THREADS": "3"}).reads_at_once == 3
    assert load({"KNEWWHEN_READ_THREADS": "0"}).reads_at_once == 1
    # Settings made in code follow their database too (they took SQLite's 1 for PostgreSQL).
    assert Settings(database="postgresql://127.0.0.1/news").reads_at_once == 4
    assert Settings(database="postgresql://127.0.0.1/news", read_threads=2).reads_at_once == 2
