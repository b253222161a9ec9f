"""Times as users type them: RFC 3339 timestamps with an offset, or plain dates (end of day, UTC)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time

from domain.events import rfc3339

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


class BadTime(ValueError):
    """A time argument that is neither an RFC 3339 timestamp with an offset nor a date."""


def parse_moment(text: str, field: str) -> datetime:
    """Parse ``text``; a date D means the end of D in UTC (its last microsecond)."""
    text = text.strip()
    if _DATE.match(text):
        try:
            day = date.fromisoformat(text)
        except ValueError as e:
            raise BadTime(f"{field}: {text!r} is not a valid date ({e})") from None
        return datetime.combine(day, time.max, UTC)
    if _TIMESTAMP.match(text):
        try:
            moment = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
        except ValueError as e:
            raise BadTime(f"{field}: {text!r} is not a valid timestamp ({e})") from None
        return moment.astimezone(UTC)
    raise BadTime(
        f"{field}: {text!r} is neither an RFC 3339 timestamp with an offset "
        "(2020-10-07T00:00:00Z) nor a date (2020-10-07)"
    )


def require_order(start: datetime, end: datetime, start_field: str, end_field: str) -> None:
    """Refuse an interval (``start``, ``end``] whose start is after its end (it holds nothing,
    and is most likely the two times swapped)."""
    if start > end:
        raise BadTime(
            f"{start_field}: {rfc3339(start)} is after {end_field} ({rfc3339(end)}); "
            "the interval is (from, to]"
        )
