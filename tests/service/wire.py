"""Reporting events as a client sends them (plain JSON objects), and request helpers."""

from __future__ import annotations

from typing import Any

STORY = "doj-zero-tolerance"
EVENTS = f"/v1/stories/{STORY}/events"


def bearer(token: str) -> dict[str, str]:
    """The Authorization header for ``token``."""
    return {"Authorization": f"Bearer {token}"}


def asserts(claim: str, text: str | None = None) -> dict[str, Any]:
    """A claim stance that asserts ``claim``."""
    return {"id": claim, "stance": "asserts", "text": text or f"{claim} happened"}


def stance(claim: str, name: str) -> dict[str, Any]:
    """A claim stance without text (confirms, disputes, acknowledges, retracts)."""
    return {"id": claim, "stance": name}


def wire_event(
    event_id: str,
    type_: str = "story_published",
    source: str = "nyt",
    published_at: str = "2020-10-06T22:00:00Z",
    *claims: dict[str, Any],
    **fields: Any,
) -> dict[str, Any]:
    """One reporting event as a JSON object."""
    return {
        "id": event_id,
        "type": type_,
        "source": source,
        "published_at": published_at,
        "claims": list(claims),
        **fields,
    }


def leak() -> dict[str, Any]:
    """The Times story on the leaked draft: asserts c1."""
    return wire_event(
        "nyt-leak",
        "story_published",
        "nyt",
        "2020-10-06T22:00:00Z",
        asserts("c1", "Officials pushed the policy"),
    )


def confirmation() -> dict[str, Any]:
    """NBC confirms c1 the next day."""
    return wire_event(
        "nbc-confirms", "report_confirmed", "nbc", "2020-10-07T15:00:00Z", stance("c1", "confirms")
    )


def response() -> dict[str, Any]:
    """The department disputes c1."""
    return wire_event(
        "doj-disputes", "response_issued", "doj", "2020-10-07T18:00:00Z", stance("c1", "disputes")
    )
