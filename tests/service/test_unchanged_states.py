"""A late append writes a claim's state again only at the acts whose state it changes
(decision 049); every answer is still the fold's."""

from __future__ import annotations

from service.application import Ledger
from tests.builders import at, claim, document, event


def appended(ledger: Ledger, name: str, source: str, published: str, stance: str) -> None:
    kind = {"e1": "story_published", "e4": "response_issued"}.get(name, "report_confirmed")
    happened = event(kind, name, source, f"2020-10-06T{published}", claim("c1", stance))
    ledger.append("s", [happened], "t")


def state_rows(ledger: Ledger) -> list[tuple[str | None, bool]]:
    """(event id, whether the row holds its act) of c1's rows, in key order."""
    with ledger.reader.cursor() as cursor:
        cursor.execute(
            "SELECT s.position, s.act IS NOT NULL AS has_act, e.event_id FROM kw_claim_states s"
            " JOIN kw_events e ON e.position = s.position"
            " ORDER BY s.published_at, s.position, s.recorded_at"
        )
        return [(r["event_id"], bool(r["has_act"])) for r in cursor.fetchall()]


def test_a_late_act_that_changes_no_later_state_writes_only_its_own_row(ledger: Ledger) -> None:
    appended(ledger, "e1", "a", "10:00", "asserts")
    appended(ledger, "e2", "b", "12:00", "confirms")
    appended(ledger, "e3", "a", "11:00", "asserts")  # late; a already supported c1
    assert state_rows(ledger) == [("e1", True), ("e3", True), ("e2", True)]
    history = ledger.reader.claim_states("s", "c1", None)
    assert [(e, s.supported_by) for _, e, _, _, s in history] == [
        ("e1", ("a",)),
        ("e3", ("a",)),
        ("e2", ("a", "b")),
    ]


def test_a_late_act_that_changes_later_states_rewrites_them(ledger: Ledger) -> None:
    appended(ledger, "e1", "a", "10:00", "asserts")
    appended(ledger, "e2", "b", "12:00", "confirms")
    appended(ledger, "e3", "a", "11:00", "asserts")
    before_e4 = ledger.reader.claim_state("s", "c1", at("2020-10-06T12:00"), None)
    appended(ledger, "e4", "c", "11:30", "disputes")  # late; changes e2's state
    assert state_rows(ledger) == [
        ("e1", True),
        ("e3", True),
        ("e4", True),
        ("e2", True),
        ("e2", False),  # e2's state, rewritten by e4's append
    ]
    now = ledger.reader.claim_state("s", "c1", at("2020-10-06T12:00"), None)
    assert before_e4 is not None and now is not None
    assert (before_e4.disputed_by, now.disputed_by) == ((), ("c",))
    assert now.supported_by == ("a", "b")


def test_a_late_publication_that_changes_no_later_revision_writes_only_its_own_state(
    ledger: Ledger,
) -> None:
    def published(name: str, when: str, text: str) -> None:
        kind = "story_published" if name == "e1" else "report_confirmed"
        paper = document("d1", author="a", text=text)
        happened = event(kind, name, "a", f"2020-10-06T{when}", claim("c1", "asserts"), doc=paper)
        ledger.append("s", [happened], "t")

    published("e1", "10:00", "x")
    published("e2", "12:00", "y")  # the second revision
    published("e3", "11:00", "x")  # late; the first revision again: e2's state is unchanged

    def document_rows() -> list[str]:
        with ledger.reader.cursor() as cursor:
            cursor.execute(
                "SELECT e.event_id FROM kw_document_states s JOIN kw_events e"
                " ON e.position = s.position ORDER BY s.published_at, s.position, s.recorded_at"
            )
            return [r["event_id"] for r in cursor.fetchall()]

    assert document_rows() == ["e1", "e3", "e2"]
    ledger.replay(workers=0)
    assert document_rows() == ["e1", "e3", "e2"]  # replay leaves out the same row
    revisions = ledger.reader.knowledge("s", at("2020-10-06T12:00"), None).documents
    assert [(d.id, d.revisions) for d in revisions] == [("d1", 2)]
