"""Encoded answers kept in process: a least-recently-used map bounded by the bytes it holds.

An answer is cached under its full question. Answers that can never change (bounded by a
``recorded_before`` the story has already recorded past) are keyed by the question alone;
the others also by the story's last position, so any append to the story makes them miss.
Which question (``Asked``) each raw request parsed to is remembered too (``AskedBefore``),
so a repeated request can find its answer without being parsed again.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Hashable
from datetime import UTC, datetime

from msgspec import Struct
from starlette.types import Scope

from domain.errors import StoryNotFound
from service.projections.reader import StoryTip

ENTRY_OVERHEAD = 256
"""Bytes counted per entry beyond its body: the key, the entry and the map's slot, roughly."""


class CachedAnswer(Struct, frozen=True):
    """An encoded answer, its strong ETag, the position it was read at, and its content
    coding (None: the JSON as it is; ``"gzip"``: ``service.content_coding``)."""

    body: bytes
    etag: str
    position: int
    immutable: bool
    encoding: str | None = None


def entity_tag(body: bytes) -> str:
    """A strong ETag for ``body``: a quoted 128-bit BLAKE2b digest of its bytes."""
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


class AnswerCache:
    """Least recently used answers, holding at most ``max_bytes`` (0 keeps nothing)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.held_bytes = 0
        self._entries: OrderedDict[Hashable, CachedAnswer] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable) -> CachedAnswer | None:
        """The answer cached under ``key``, now the most recently used; None when absent."""
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
            return found

    def put(self, key: Hashable, answer: CachedAnswer) -> None:
        """Keep ``answer`` under ``key``, evicting the least recently used past the bound."""
        size = len(answer.body) + ENTRY_OVERHEAD
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.held_bytes -= len(old.body) + ENTRY_OVERHEAD
            self._entries[key] = answer
            self.held_bytes += size
            while self.held_bytes > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self.held_bytes -= len(evicted.body) + ENTRY_OVERHEAD


MAX_REQUESTS = 20_000
"""Raw requests remembered at most; past it, all are forgotten (the routes relearn them)."""

RawRequest = tuple[str, bytes]
"""A request's path and query string, as the server received them."""


JSON = "application/json"


class Asked(Struct, frozen=True):
    """A cacheable question: its cache key, its story, and the ``recorded_before`` bounding it;
    the media type of its answer, and whether the request's ``Accept`` chose that type (an
    answer negotiated so is never remembered for ``RepeatedReads``, which reads no ``Accept``;
    its key names the type)."""

    key: tuple[Hashable, ...]
    story: str
    recorded_before: datetime | None
    media_type: str = JSON
    negotiated: bool = False

    def cache_key(self, tip: StoryTip | None) -> tuple[tuple[Hashable, ...], bool]:
        """The key the answer is cached under given the story's ``tip``, and whether it is
        immutable: bounded by a ``recorded_before`` at or before the story's last recording
        (and not in the future), later appends cannot change it, so the question alone keys
        it; any other answer is keyed by the tip's position too."""
        if tip is None:
            raise StoryNotFound(f"no story {self.story!r}")
        immutable = self.recorded_before is not None and self.recorded_before <= min(
            tip.recorded_at, datetime.now(UTC)
        )
        return (self.key if immutable else (*self.key, tip.position)), immutable


class AskedBefore:
    """Which ``Asked`` each raw request parsed to, for requests the routes have answered."""

    def __init__(self) -> None:
        self._asked: dict[RawRequest, Asked] = {}

    def __len__(self) -> int:
        return len(self._asked)

    def get(self, raw: RawRequest) -> Asked | None:
        """What ``raw`` asked, if a route has answered it."""
        return self._asked.get(raw)

    def remember(self, raw: RawRequest, asked: Asked) -> None:
        """Keep that ``raw`` asks ``asked`` (parsing is a pure function of the raw request)."""
        if len(self._asked) >= MAX_REQUESTS:
            self._asked.clear()
        self._asked[raw] = asked


def raw_request(scope: Scope) -> RawRequest:
    """The path and query string of a request."""
    return scope["path"], scope["query_string"]
