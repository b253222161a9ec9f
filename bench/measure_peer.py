"""The peer: the bare ``eventsourcing`` library, saving and reading the same events.

Its defaults (the JSON transcoder, UUID ids, no projections), one aggregate per story whose
event carries the line as a dict, saved in the import's batches and in the order the import
writes the lines (each story's together within a window: grouped so, the peer saved the
bench's 300k file at 20,462-24,075 events/s against 10,386-13,757 in file order), with the
same aggregate cache the ledger uses. Lines are parsed with msgspec so the peer is not
charged for ``json``.
"""

from __future__ import annotations

from pathlib import Path
from time import perf_counter
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

import msgspec
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate, event
from msgspec import Struct

from bench.measure_raw import batches
from service.importer import batch_limit
from service.persistence import environment

OURS = (
    "MAPPER_TOPIC",
    "APPLICATION_RECORDER_TOPIC",
    "ORIGINATOR_ID_TYPE",
    "POSTGRES_ORIGINATOR_ID_TYPE",
    "DEEPCOPY_FROM_AGGREGATE_CACHE",
)
PAGE = 1000


class Thread(Aggregate):
    """One story's events, as the bare library keeps them."""

    @staticmethod
    def create_id(story: str) -> UUID:
        """The same story always gets the same id."""
        return uuid5(NAMESPACE_URL, story)

    def __init__(self, story: str) -> None:
        self.story = story
        self.count = 0

    @event("Logged")
    def log(self, line: dict[str, Any]) -> None:
        """A reporting event was logged."""
        self.count += 1


class Newswire(Application[UUID]):
    """The peer application: stock mapper, JSON transcoder and recorder."""

    name = "newswire"


class PeerJob(Struct, frozen=True):
    """Save a file's events into, or read them back from, one fresh database."""

    database: str
    file: str = ""


def peer_environment(database: str) -> dict[str, str]:
    """The ledger's connection settings, less everything knewwhen plugs into the library."""
    env = environment(database)
    for key in OURS:
        env.pop(key, None)
    return env


def save(job: PeerJob) -> dict[str, Any]:
    """Events per second saved by the bare library, one save (transaction) per batch."""
    app = Newswire(env=peer_environment(job.database))
    events = 0
    start = perf_counter()
    for chunk in batches(Path(job.file), batch_limit(job.database), by_story=True):
        threads: dict[str, Thread] = {}
        for raw in chunk:
            line = msgspec.json.decode(raw)
            story = line["story"]
            thread = threads.get(story)
            if thread is None:
                try:
                    thread = app.repository.get(Thread.create_id(story))
                except AggregateNotFoundError:
                    thread = Thread(story)
                threads[story] = thread
            thread.log(line)
        app.save(*threads.values())
        events += len(chunk)
    seconds = perf_counter() - start
    app.close()
    return {"seconds": seconds, "events": events, "events_per_s": events / seconds}


def read(job: PeerJob) -> dict[str, Any]:
    """Events per second read back in order and decoded by the library's mapper."""
    app = Newswire(env=peer_environment(job.database))
    events = 0
    start = perf_counter()
    position = 1
    while page := app.recorder.select_notifications(start=position, limit=PAGE):
        for notification in page:
            app.mapper.to_domain_event(notification)
        events += len(page)
        position = page[-1].id + 1
    seconds = perf_counter() - start
    app.close()
    return {"seconds": seconds, "events": events, "events_per_s": events / seconds}
