"""Given recorded events, when asking what was known at T (as recorded before R), then the claims."""

from __future__ import annotations

from datetime import timedelta

from domain.events import ReportingEvent
from domain.knowledge import ClaimKnowledge, Knowledge, RecordedEvent, knowledge_at
from tests.builders import RECORDED, at, claim, document, event, recorded

LEAK = event(
    "draft_leaked",
    "leak",
    "nyt",
    "2020-10-06T20:00",
    claim("c1", "asserts", "Sessions said to take away children", "2018-05-11"),
    doc=document("oig-report", author="doj-oig", text="draft"),
)
NYT = event(
    "story_published",
    "nyt",
    "nyt",
    "2020-10-06T22:00",
    claim("c1", "asserts", "NYT wording"),
    cites=("leak",),
)
NBC = event("report_confirmed", "nbc", "nbc", "2020-10-06T23:00", claim("c1", "confirms"))
DOJ = event("response_issued", "doj", "doj", "2020-10-07T01:00", claim("c1", "disputes"))


def known(*events: ReportingEvent, at_: str = "2030-01-01T00:00") -> Knowledge:
    return knowledge_at("s", recorded("s", *events), at(at_))


def only_claim(k: Knowledge) -> ClaimKnowledge:
    assert len(k.claims) == 1
    return k.claims[0]


def test_nothing_is_known_before_the_first_event() -> None:
    k = known(LEAK, NYT, at_="2020-10-06T19:59")
    assert k.claims == () and k.documents == () and k.events_applied == 0


def test_one_source_asserting_is_reported() -> None:
    c = only_claim(known(LEAK))
    assert (c.status, c.supported_by, c.first_reported_by) == ("reported", ("nyt",), "nyt")
    assert c.text == "Sessions said to take away children"
    assert c.occurred_at == "2018-05-11"
    assert c.first_reported_at == at("2020-10-06T20:00")


def test_the_same_source_twice_is_still_one_supporter() -> None:
    c = only_claim(known(LEAK, NYT))
    assert (c.status, c.supported_by, c.events) == ("reported", ("nyt",), ("leak", "nyt"))
    assert c.text == "Sessions said to take away children", "the first asserted text stands"


def test_two_sources_corroborate() -> None:
    c = only_claim(known(LEAK, NYT, NBC))
    assert (c.status, c.supported_by) == ("corroborated", ("nbc", "nyt"))


def test_a_dispute_is_listed_but_does_not_lower_the_status() -> None:
    c = only_claim(known(LEAK, NYT, NBC, DOJ))
    assert (c.status, c.disputed_by) == ("corroborated", ("doj",))


def test_a_later_acknowledgement_clears_a_dispute() -> None:
    ack = event("response_issued", "doj-2", "doj", "2020-10-08T00:00", claim("c1", "acknowledges"))
    c = only_claim(known(LEAK, NBC, DOJ, ack))
    assert c.disputed_by == ()
    assert c.supported_by == ("doj", "nbc", "nyt")


def test_a_primary_release_by_the_author_confirms() -> None:
    final = event(
        "document_released",
        "final",
        "doj-oig",
        "2021-01-14T15:00",
        claim("c1", "confirms"),
        doc=document("oig-report", author="doj-oig", text="final"),
    )
    c = only_claim(known(LEAK, final))
    assert (c.status, c.supported_by) == ("confirmed", ("doj-oig", "nyt"))


def test_a_release_of_someone_elses_document_is_not_primary() -> None:
    release = event(
        "document_released",
        "rel",
        "nbc",
        "2020-10-08T00:00",
        claim("c1", "confirms"),
        doc=document("oig-report", author="doj-oig"),
    )
    assert only_claim(known(LEAK, release)).status == "corroborated"


def test_confirmed_falls_back_when_the_primary_source_retracts() -> None:
    final = event(
        "document_released",
        "final",
        "doj-oig",
        "2021-01-14T15:00",
        claim("c1", "confirms"),
        doc=document("oig-report", author="doj-oig"),
    )
    withdrawn = event(
        "claim_retracted", "withdrawn", "doj-oig", "2021-02-01T00:00", claim("c1", "retracts")
    )
    c = only_claim(known(LEAK, final, withdrawn))
    assert (c.status, c.supported_by) == ("reported", ("nyt",))


def test_when_every_supporter_retracts_the_claim_is_retracted_and_still_listed() -> None:
    retract = event("claim_retracted", "r", "nyt", "2020-10-09T00:00", claim("c1", "retracts"))
    c = only_claim(known(LEAK, retract))
    assert (c.status, c.supported_by, c.events) == ("retracted", (), ("leak", "r"))


def test_a_correction_replaces_the_text_and_keeps_support() -> None:
    fix = event(
        "correction_issued",
        "fix",
        "nyt",
        "2020-10-08T00:00",
        claim("c1", "corrects", "Corrected wording", "2018-05-14"),
    )
    c = only_claim(known(LEAK, fix))
    assert (c.text, c.occurred_at, c.status, c.supported_by) == (
        "Corrected wording",
        "2018-05-14",
        "reported",
        ("nyt",),
    )


def test_a_claim_is_invisible_until_an_assertion_is_public() -> None:
    late_asserter = event(
        "story_published", "early-confirm", "nbc", "2020-10-06T21:00", claim("c2", "confirms")
    )
    asserting = event("story_published", "assert", "ap", "2020-10-06T23:00", claim("c2", "asserts"))
    history = recorded("s", asserting, late_asserter)
    assert knowledge_at("s", history, at("2020-10-06T22:00")).claims == ()
    c = only_claim(knowledge_at("s", history, at("2020-10-07T00:00")))
    assert (c.status, c.supported_by, c.first_reported_by) == ("corroborated", ("ap", "nbc"), "ap")
    assert c.events == ("early-confirm", "assert")


def test_a_late_recorded_event_counts_at_its_public_time_but_not_before_its_recording() -> None:
    first = RecordedEvent("s", LEAK, 1, RECORDED, "t")
    late = RecordedEvent("s", NBC, 2, RECORDED + timedelta(days=30), "t")
    moment = at("2020-10-07T00:00")
    assert only_claim(knowledge_at("s", [first, late], moment)).status == "corroborated"
    before = knowledge_at("s", [first, late], moment, recorded_before=RECORDED + timedelta(days=1))
    assert only_claim(before).status == "reported"
    assert before.events_applied == 1


def test_events_at_the_same_public_time_apply_in_recorded_order() -> None:
    a = event("story_published", "a", "nyt", "2020-10-06T22:00", claim("c1", "asserts", "first"))
    b = event("story_published", "b", "wapo", "2020-10-06T22:00", claim("c1", "asserts", "second"))
    assert only_claim(known(a, b)).text == "first"
    assert only_claim(known(b, a)).text == "second"


def test_documents_are_listed_with_visibility_and_revisions() -> None:
    final = event(
        "document_released",
        "final",
        "doj-oig",
        "2021-01-14T15:00",
        doc=document("oig-report", author="doj-oig", text="final"),
    )
    same_again = event(
        "story_published",
        "again",
        "nbc",
        "2021-01-15T00:00",
        doc=document("oig-report", author="doj-oig", text="final"),
    )
    before = known(LEAK, final, same_again, at_="2020-10-07T00:00").documents
    assert [(d.id, d.visibility, d.revisions, d.author) for d in before] == [
        ("oig-report", "leaked", 1, "doj-oig")
    ]
    after = known(LEAK, final, same_again).documents
    assert [(d.visibility, d.revisions, d.public_since) for d in after] == [
        ("released", 2, at("2020-10-06T20:00"))
    ]


def test_claims_are_sorted_by_first_report_then_id() -> None:
    b = event(
        "story_published",
        "x",
        "nyt",
        "2020-10-06T22:00",
        claim("zeta", "asserts"),
        claim("alpha", "asserts"),
    )
    a = event("story_published", "y", "nbc", "2020-10-05T22:00", claim("omega", "asserts"))
    assert [c.id for c in known(b, a).claims] == ["omega", "alpha", "zeta"]


def test_other_stories_are_not_folded() -> None:
    mixed = [*recorded("s", LEAK), RecordedEvent("other", NBC, 9, RECORDED, "t")]
    assert knowledge_at("s", mixed, at("2030-01-01T00:00")).events_applied == 1


def test_the_first_asserted_occurred_at_stands_until_a_correction_names_another() -> None:
    later = event(
        "story_published",
        "wapo",
        "wapo",
        "2020-10-07T02:00",
        claim("c1", "asserts", "WaPo wording", "2018-06-01"),
    )
    assert only_claim(known(LEAK, later)).occurred_at == "2018-05-11"
    fix = event(
        "correction_issued",
        "nyt-fix",
        "nyt",
        "2020-10-08T00:00",
        claim("c1", "corrects", "Corrected wording", "2018-05-07"),
    )
    undated_fix = event(
        "correction_issued",
        "nyt-fix-2",
        "nyt",
        "2020-10-09T00:00",
        claim("c1", "corrects", "Corrected again"),
    )
    c = only_claim(known(LEAK, later, fix, undated_fix))
    assert (c.occurred_at, c.text) == ("2018-05-07", "Corrected again")
