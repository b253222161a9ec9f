"""Memento (RFC 7089): HTTP dates, URI-M datetimes, memento selection and Link serialization.

A document's mementos are its revisions, one per second of ``published_at`` (HTTP dates and
URI-M datetimes have second resolution; the last revision of a second stands for it).
Selection answers what was known: the latest memento at or before the asked datetime.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from urllib.parse import quote

from msgspec import Struct

from service.revisions import Revision

LINK_FORMAT = "application/link-format"
_HTTP_DATE = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$"
)
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_STAMP = re.compile(r"^\d{14}$")
URI_SAFE = ":/?#[]@!$&'()*+,;=%~"
SECOND = timedelta(seconds=1)


class Memento(Struct, frozen=True):
    """One memento of a URI-R: the revision that stands for one second."""

    datetime: datetime
    revision: int


class Link(Struct, frozen=True):
    """A typed link (RFC 8288): target, relation types, and extra attributes in order."""

    uri: str
    rel: str
    attributes: tuple[tuple[str, str], ...] = ()

    def serialize(self) -> str:
        """``<uri>; rel="…"; name="value"`` as Link headers and link-format both write it."""
        params = "".join(f'; {name}="{value}"' for name, value in self.attributes)
        return f'<{self.uri}>; rel="{self.rel}"{params}'


class BadDatetime(ValueError):
    """An Accept-Datetime or URI-M datetime that is not in the required form."""


def http_date(moment: datetime) -> str:
    """An RFC 1123 date in GMT, as HTTP and Memento write them."""
    return format_datetime(moment.astimezone(UTC).replace(microsecond=0), usegmt=True)


def parse_http_date(text: str) -> datetime:
    """Parse an ``Accept-Datetime``: exactly RFC 1123 in GMT (``Tue, 06 Oct 2020 23:30:00 GMT``)."""
    text = text.strip()
    if not _HTTP_DATE.match(text):
        raise BadDatetime(
            f"{text!r} is not an RFC 1123 date such as 'Tue, 06 Oct 2020 23:30:00 GMT'"
        )
    try:
        moment = parsedate_to_datetime(text)
    except ValueError as e:
        raise BadDatetime(f"{text!r} is not a valid date ({e})") from None
    if _WEEKDAYS[moment.weekday()] != text[:3]:
        raise BadDatetime(f"{text!r}: that day is a {_WEEKDAYS[moment.weekday()]}")
    return moment.astimezone(UTC)


def stamp(moment: datetime) -> str:
    """The 14-digit URI-M datetime ``YYYYMMDDhhmmss`` (UTC)."""
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M%S")


def parse_stamp(text: str) -> datetime:
    """Parse a 14-digit URI-M datetime."""
    if not _STAMP.match(text):
        raise BadDatetime(f"{text!r} is not a 14-digit datetime YYYYMMDDhhmmss")
    try:
        return datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError as e:
        raise BadDatetime(f"{text!r} is not a valid datetime ({e})") from None


def mementos_of(revisions: Sequence[Revision]) -> list[Memento]:
    """One memento per second of publication: the last revision published in it."""
    found: list[Memento] = []
    for revision in revisions:
        second = revision.published_at.astimezone(UTC).replace(microsecond=0)
        if found and found[-1].datetime == second:
            found[-1] = Memento(second, revision.revision)
        else:
            found.append(Memento(second, revision.revision))
    return found


def select(mementos: Sequence[Memento], moment: datetime | None) -> int | None:
    """The index of the latest memento at or before ``moment`` (the last if None), or None."""
    if moment is None:
        return len(mementos) - 1 if mementos else None
    chosen: int | None = None
    for index, memento in enumerate(mementos):
        if memento.datetime > moment:
            break
        chosen = index
    return chosen


def uri(text: str) -> str:
    """A URI made safe inside ``<…>``: characters outside RFC 3986 percent-encoded."""
    return quote(text, safe=URI_SAFE)


class Endpoints:
    """The service's Memento URIs for one URI-R, under the service's base URL."""

    def __init__(self, base: str, original: str) -> None:
        self.base = base.rstrip("/")
        self.original = uri(original)

    @property
    def timegate(self) -> str:
        """URI-G."""
        return f"{self.base}/timegate/{self.original}"

    @property
    def timemap(self) -> str:
        """URI-T of the link-format TimeMap."""
        return f"{self.base}/timemap/link/{self.original}"

    def memento(self, memento: Memento) -> str:
        """URI-M."""
        return f"{self.base}/memento/{stamp(memento.datetime)}/{self.original}"

    def original_links(self, timegate: bool = False) -> list[Link]:
        """The original resource, its TimeGate (if asked) and its TimeMap."""
        links = [Link(self.original, "original")]
        if timegate:
            links.append(Link(self.timegate, "timegate"))
        links.append(Link(self.timemap, "timemap", (("type", LINK_FORMAT),)))
        return links

    def neighbours(self, mementos: Sequence[Memento], index: int, itself: bool) -> list[Link]:
        """first/last/prev/next mementos around ``index`` (and it, if ``itself``): one per URI."""
        rels: dict[int, list[str]] = {}
        last = len(mementos) - 1
        wanted = [(0, "first"), (last, "last"), (index - 1, "prev"), (index + 1, "next")]
        if itself:
            wanted.append((index, ""))
        for position, rel in wanted:
            if 0 <= position <= last:
                rels.setdefault(position, [])
                if rel and rel not in rels[position]:
                    rels[position].append(rel)
        return [
            Link(
                self.memento(mementos[position]),
                " ".join([*names, "memento"]),
                (("datetime", http_date(mementos[position].datetime)),),
            )
            for position, names in sorted(rels.items())
        ]

    def timemap_links(self, mementos: Sequence[Memento]) -> list[Link]:
        """The TimeMap: original, self (with from/until), timegate, then every memento."""
        span = (
            ("from", http_date(mementos[0].datetime)),
            ("until", http_date(mementos[-1].datetime)),
        )
        links = [
            Link(self.original, "original"),
            Link(self.timemap, "self", (("type", LINK_FORMAT), *span)),
            Link(self.timegate, "timegate"),
        ]
        last = len(mementos) - 1
        for position, memento in enumerate(mementos):
            marks = [m for m, at in (("first", 0), ("last", last)) if position == at]
            rel = " ".join([*marks, "memento"])
            links.append(
                Link(self.memento(memento), rel, (("datetime", http_date(memento.datetime)),))
            )
        return links


def link_header(links: Sequence[Link]) -> str:
    """A ``Link`` header value."""
    return ", ".join(link.serialize() for link in links)


def link_format(links: Sequence[Link]) -> str:
    """An ``application/link-format`` document (RFC 6690), one link per line."""
    return ",\n".join(link.serialize() for link in links) + "\n"
