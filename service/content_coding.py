"""Cached answers sent gzip-compressed to the clients that accept it (decision 046).

A knowledge answer lists each claim's events: ~52 KB at the bench's median, which gzip at
level 1 (nginx's default) makes ~5 times smaller in ~0.2 ms. An answer's compressed variant is
cached beside it, under ``variant_key(key, True)``, as the answer to send a client whose
``Accept-Encoding`` admits gzip: compressed, with its own ETag, when the answer is at least
``GZIP_FROM`` bytes; the answer itself when smaller. Every cached answer's response says
``Vary: Accept-Encoding``, so shared caches keep the two apart.
"""

from __future__ import annotations

import gzip
from collections.abc import Hashable, Iterable

from service.answer_cache import CachedAnswer, entity_tag
from service.params import qvalue

GZIP_FROM = 1024
"""Answers shorter than this are sent as they are: gzip's header and trailer would eat the gain."""
GZIP_LEVEL = 1
GZIPPED = "gzip"
"""A compressed variant's content coding, and the last part of its cache key."""


def accepts_gzip(accept_encoding: Iterable[str]) -> bool:
    """Whether ``Accept-Encoding`` (its lines, as sent: one list, RFC 9110 section 5.3) admits
    gzip (section 12.5.3): listed, or as ``x-gzip``, with a weight above 0, or, not listed,
    under a ``*`` above 0. An element whose weight is not a qvalue is ignored (``qvalue``)."""
    named: float | None = None
    anything: float | None = None
    for item in ",".join(accept_encoding).split(","):
        coding, *parameters = item.split(";")
        coding = coding.strip().lower()
        weight = qvalue(parameters)
        if weight is None:
            continue
        if coding in ("gzip", "x-gzip"):
            named = max(named or 0.0, weight)
        elif coding == "*":
            anything = weight
    if named is not None:
        return named > 0
    return anything is not None and anything > 0


def variant_key(key: Hashable, gzip_accepted: bool) -> Hashable:
    """The cache key of what to send for ``key``: the answer, or its variant for gzip."""
    return (key, GZIPPED) if gzip_accepted else key


def for_gzip(answer: CachedAnswer) -> CachedAnswer:
    """What to send a client that accepts gzip: ``answer`` compressed (mtime 0, so the same
    bytes and ETag each time), or ``answer`` itself when shorter than ``GZIP_FROM``."""
    if len(answer.body) < GZIP_FROM:
        return answer
    body = gzip.compress(answer.body, GZIP_LEVEL, mtime=0)
    return CachedAnswer(body, entity_tag(body), answer.position, answer.immutable, GZIPPED)
