"""W3C PROV from the projections, on each backend: the records a story implies, and that the
``prov`` package reads them, round-trips them through PROV-N, and finds every endpoint declared."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from domain.errors import StoryNotFound, UnknownClaim
from service.application import Ledger
from service.audit.commands import cmd_provenance
from service.importer import import_file
from service.provenance import provenance_document
from service.provn import provn
from tests.builders import at, claim, document, event
from tests.service.conftest import SteppingClock
from tests.unit.test_provenance_provn import declared_endpoints, parsed, provn_to_json

STORY = "leak-story"
BUNDLED = Path(__file__).parents[2] / "service" / "stories" / "doj-zero-tolerance.jsonl"


def record(ledger: Ledger) -> None:
    """A leak, an article citing it, a denial, the official release, and a confirmation."""
    ledger.append(
        STORY,
        [
            event(
                "draft_leaked",
                "leak",
                "nyt",
                "2020-10-06T22:00",
                claim("c1", "asserts"),
                doc=document("oig-draft", author="doj-oig", text="v1"),
            ),
            event(
                "story_published",
                "article",
                "nyt",
                "2020-10-06T23:00",
                claim("c1", "confirms"),
                claim("c2", "asserts"),
                doc=document("nyt-article", text="story"),
                cites=("leak",),
            ),
        ],
        "newsroom",
    )
    ledger.append(
        STORY,
        [event("response_issued", "denial", "doj", "2020-10-07T12:00", claim("c1", "disputes"))],
        "desk",
    )
    ledger.append(
        STORY,
        [
            event(
                "document_released", "release", "doj-oig", "2021-01-14T12:00",
                claim("c1", "confirms"), doc=document("oig-draft", author="doj-oig", text="final"),
                cites=("leak",),
            ),
            event("report_confirmed", "nbc", "nbc", "2021-01-15T12:00", claim("c2", "confirms"), cites=("article",)),
        ],
        "newsroom",
    )  # fmt: skip


@pytest.fixture
def ledger(database: str) -> Iterator[Ledger]:
    opened = Ledger(database, clock=SteppingClock(datetime(2026, 1, 1, tzinfo=UTC)))
    try:
        record(opened)
        yield opened
    finally:
        opened.close()


def relations(doc: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    """The attributes of every relation of ``kind``."""
    return list(doc.get(kind, {}).values())


def pairs(doc: dict[str, Any], kind: str, a: str, b: str) -> set[tuple[str, str]]:
    """(a, b) endpoint pairs of every relation of ``kind``."""
    return {(r[a], r[b]) for r in relations(doc, kind)}


def qn(value: str) -> dict[str, str]:
    return {"$": value, "type": "prov:QUALIFIED_NAME"}


def test_a_claim_names_its_events_documents_sources_and_recorders(ledger: Ledger) -> None:
    doc = provenance_document(ledger, STORY, "c1", at("2021-02-01T00:00"))
    assert doc["entity"]["st:claim/c1"]["kw:status"] == "confirmed"
    assert set(doc["activity"]) == {
        f"st:event/{e}" for e in ("leak", "article", "denial", "release")
    }
    assert doc["activity"]["st:event/denial"]["prov:startTime"] == "2020-10-07T12:00:00Z"
    assert doc["activity"]["st:event/leak"]["prov:type"] == qn("kw:draft_leaked")
    assert set(doc["agent"]) == {
        "src:nyt", "src:doj", "src:doj-oig", "rec:newsroom", "rec:desk"
    }  # fmt: skip
    assert ("st:event/denial", "src:doj") in pairs(
        doc, "wasAssociatedWith", "prov:activity", "prov:agent"
    )
    assert ("st:event/denial", "rec:desk") in pairs(
        doc, "wasAssociatedWith", "prov:activity", "prov:agent"
    )
    stances = {
        (r["prov:influencer"], r["kw:stance"])
        for r in relations(doc, "wasInfluencedBy")
        if r["prov:influencee"] == "st:claim/c1"
    }
    assert stances == {
        ("st:event/leak", "asserts"),
        ("st:event/article", "confirms"),
        ("st:event/denial", "disputes"),
        ("st:event/release", "confirms"),
    }
    assert pairs(doc, "wasAttributedTo", "prov:entity", "prov:agent") >= {
        ("st:claim/c1", "src:nyt"),
        ("st:claim/c1", "src:doj-oig"),
    }
    assert ("st:claim/c1", "src:doj") not in pairs(
        doc, "wasAttributedTo", "prov:entity", "prov:agent"
    )


def test_revisions_are_generated_by_their_events_and_articles_derive_from_leaks(
    ledger: Ledger,
) -> None:
    doc = provenance_document(ledger, STORY, "c1", at("2021-02-01T00:00"))
    draft1, draft2 = "st:document/oig-draft/revision/1", "st:document/oig-draft/revision/2"
    article = "st:document/nyt-article/revision/1"
    assert pairs(doc, "wasGeneratedBy", "prov:entity", "prov:activity") >= {
        (draft1, "st:event/leak"),
        (draft2, "st:event/release"),
        (article, "st:event/article"),
        ("st:claim/c1", "st:event/leak"),
    }
    derivations = {
        (r["prov:generatedEntity"], r["prov:usedEntity"]): r.get("prov:type")
        for r in relations(doc, "wasDerivedFrom")
    }
    assert derivations[(article, draft1)] == qn("prov:PrimarySource")
    assert derivations[(draft2, draft1)] == qn("prov:Revision")
    assert pairs(doc, "wasInformedBy", "prov:informed", "prov:informant") == {
        ("st:event/article", "st:event/leak"),
        ("st:event/release", "st:event/leak"),
    }
    assert doc["entity"][draft2]["kw:visibility"] == "released"


def test_time_and_recording_bounds_limit_the_document(ledger: Ledger) -> None:
    early = provenance_document(ledger, STORY, "c1", at("2020-10-07T00:00"))
    assert set(early["activity"]) == {"st:event/leak", "st:event/article"}
    assert early["entity"]["st:claim/c1"]["kw:status"] == "reported"
    recorded = datetime.fromisoformat(
        parsed(provenance_document(ledger, STORY, "c1", at("2021-02-01T00:00")))
        .get_record("st:event/denial")[0]
        .get_attribute("kw:recordedAt")
        .pop()
        .isoformat()
    )
    before = provenance_document(ledger, STORY, "c1", at("2021-02-01T00:00"), recorded)
    assert "st:event/denial" not in before["activity"]
    assert "st:event/release" not in before["activity"]


def test_the_whole_story_covers_every_claim_and_event(ledger: Ledger) -> None:
    doc = provenance_document(ledger, STORY, None, at("2021-02-01T00:00"))
    assert {k for k in doc["entity"] if k.startswith("st:claim/")} == {"st:claim/c1", "st:claim/c2"}
    assert len(doc["activity"]) == 5
    assert ("st:event/nbc", "st:event/article") in pairs(
        doc, "wasInformedBy", "prov:informed", "prov:informant"
    )


def test_unknown_story_and_claims_not_yet_public_are_refused(ledger: Ledger) -> None:
    with pytest.raises(StoryNotFound):
        provenance_document(ledger, "no-such-story", None, at("2021-02-01T00:00"))
    with pytest.raises(UnknownClaim):
        provenance_document(ledger, STORY, "c2", at("2020-10-06T22:30"))
    with pytest.raises(UnknownClaim):
        provenance_document(ledger, STORY, "c9", at("2021-02-01T00:00"))


def check_prov(doc: dict[str, Any]) -> None:
    """``prov`` reads it, PROV-N round-trips it, and every endpoint is declared."""
    read = parsed(doc)
    records = sum(len(doc.get(kind, {})) for kind in doc if kind != "prefix")
    assert len(list(read.get_records())) == records
    assert parsed(provn_to_json(provn(doc))) == read
    assert declared_endpoints(read) == []


@pytest.mark.parametrize("claim_id", [None, "c1", "c2"])
def test_prov_parses_round_trips_and_declares_every_endpoint(
    ledger: Ledger, claim_id: str | None
) -> None:
    check_prov(provenance_document(ledger, STORY, claim_id, at("2021-02-01T00:00")))


@pytest.mark.skipif(not BUNDLED.is_file(), reason="the bundled story is not there yet")
def test_the_bundled_story_prov_parses_round_trips_and_declares_every_endpoint(
    database: str,
) -> None:
    ledger = Ledger(database)
    try:
        import_file(ledger, BUNDLED, "cli:test")
        story = "doj-zero-tolerance"
        whole = provenance_document(ledger, story)
        check_prov(whole)
        claims = [k.removeprefix("st:claim/") for k in whole["entity"] if k.startswith("st:claim/")]
        assert len(claims) >= 5
        for claim_id in claims:
            check_prov(provenance_document(ledger, story, claim_id))
        primary = [
            r
            for r in relations(whole, "wasDerivedFrom")
            if r.get("prov:type") == qn("prov:PrimarySource")
        ]
        assert primary, "the bundled story cites a leak or a release"
    finally:
        ledger.close()


def test_the_command_prints_prov_n_or_prov_json(
    ledger: Ledger, capsys: pytest.CaptureFixture[str]
) -> None:
    args = argparse.Namespace(
        story=STORY, claim="c1", at="2021-02-01", recorded_before=None, format="provn"
    )
    assert cmd_provenance(args, ledger) == 0
    as_provn = provn_to_json(capsys.readouterr().out)
    args.format = "json"
    assert cmd_provenance(args, ledger) == 0
    as_json = json.loads(capsys.readouterr().out)
    assert parsed(as_provn) == parsed(as_json)
    assert "st:event/release" in as_json["activity"]
