"""The bundled story, imported into each backend, checked at the dates that matter."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest

from domain.knowledge import ClaimKnowledge, Knowledge
from service.application import Ledger
from service.cli import bundled_story_path
from service.importer import import_file
from service.timeparse import parse_moment

STORY = "doj-zero-tolerance"


@pytest.fixture
def ledger(database: str) -> Iterator[Ledger]:
    app = Ledger(database)
    report = import_file(app, bundled_story_path(), "cli:test")
    assert report.stored == report.read == 15
    yield app
    app.close()


def knowledge(ledger: Ledger, when: str, recorded_before: datetime | None = None) -> Knowledge:
    return ledger.reader.knowledge(STORY, parse_moment(when, "at"), recorded_before)


def claims(k: Knowledge) -> dict[str, ClaimKnowledge]:
    return {c.id: c for c in k.claims}


def test_before_the_leak_only_the_2018_record_and_earlier_reports_are_known(ledger: Ledger) -> None:
    k = knowledge(ledger, "2020-10-05")
    known = claims(k)
    assert k.events_applied == 5
    assert "sessions-take-away-children" not in known
    assert known["zero-tolerance-announced"].status == "confirmed"
    assert known["eo-halts-separations"].status == "confirmed"
    assert known["el-paso-pilot-separations"].status == "reported"
    assert known["cabinet-show-of-hands-vote"].supported_by == ("nbc",)
    assert {d.id for d in k.documents}.isdisjoint({"oig-zero-tolerance-review"})


def test_the_day_after_the_leak_the_times_claims_are_corroborated_and_disputed(
    ledger: Ledger,
) -> None:
    k = knowledge(ledger, "2020-10-07")
    known = claims(k)
    sessions = known["sessions-take-away-children"]
    assert (sessions.status, sessions.supported_by, sessions.first_reported_by) == (
        "corroborated",
        ("nbc", "nyt"),
        "nyt",
    )
    assert sessions.occurred_at == "2018-05-11"
    driving = known["doj-driving-force"]
    assert (driving.status, driving.supported_by, driving.disputed_by) == (
        "corroborated",
        ("nbc", "nyt"),
        ("doj",),
    )
    assert known["rosenstein-no-age-limit"].first_reported_by == "guardian"
    assert known["separations-sought-as-deterrent"].status == "reported"
    review = next(d for d in k.documents if d.id == "oig-zero-tolerance-review")
    assert (review.visibility, review.revisions, review.author) == ("leaked", 1, "doj-oig")


def test_at_midnight_before_nbcs_confirmation_the_times_stands_alone(ledger: Ledger) -> None:
    known = claims(knowledge(ledger, "2020-10-07T00:00:00Z"))
    assert known["sessions-take-away-children"].status == "reported"
    assert known["doj-driving-force"].disputed_by == ("doj",)
    assert "bash-two-cases-email" not in known


def test_after_the_final_report_the_inspector_general_confirms(ledger: Ledger) -> None:
    k = knowledge(ledger, "2021-02-01")
    known = claims(k)
    for claim in (
        "sessions-take-away-children",
        "doj-driving-force",
        "prosecutors-sought-age-limit",
        "bash-two-cases-email",
    ):
        assert known[claim].status == "confirmed", claim
        assert "doj-oig" in known[claim].supported_by
    assert known["doj-driving-force"].disputed_by == ("doj",)
    assert known["separations-sought-as-deterrent"].status == "reported"
    assert known["rosenstein-calls-policy-failure"].status == "corroborated"
    review = next(d for d in k.documents if d.id == "oig-zero-tolerance-review")
    assert (review.visibility, review.revisions) == ("released", 2)
    assert k.events_applied == 15


def test_nothing_was_known_as_recorded_before_the_import(ledger: Ledger) -> None:
    first = ledger.reader.events(STORY, limit=1)[0]
    k = knowledge(ledger, "2021-02-01", recorded_before=first.recorded_at)
    assert (k.claims, k.events_applied) == ((), 0)


def test_the_late_recorded_vote_report_counts_at_its_public_time(ledger: Ledger) -> None:
    k = knowledge(ledger, "2020-08-21")
    assert "cabinet-show-of-hands-vote" in claims(k)
    timeline = ledger.reader.timeline(STORY, None)
    vote = next(e for e in timeline if e.id == "nbc-2020-08-20-situation-room-vote")
    assert vote.position == max(e.position for e in timeline)
    assert [e.published_at for e in timeline] == sorted(e.published_at for e in timeline)
