"""For any valid events recorded in any order and batching, the projections answer exactly as the
reference fold does, for any (T, R); replay rebuilds identical tables; export → import round-trips."""

from __future__ import annotations

import itertools
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.events import ReportingEvent
from domain.knowledge import (
    ClaimAct,
    RecordedEvent,
    act_order,
    claim_acts,
    fold_claim,
    knowledge_at,
)
from service.application import Ledger
from service.importer import export_lines, import_file
from service.projections import writer
from service.projections.dialect import PROJECTION_TABLES
from tests.strategies import BASE, histories

PROPERTY = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def record_in_batches(
    ledger: Ledger, story: str, events: list[ReportingEvent], cuts: list[int]
) -> list[RecordedEvent]:
    """Append ``events`` split at ``cuts``; return them as the reference fold sees them."""
    bounds = sorted({0, len(events), *(c % (len(events) + 1) for c in cuts)})
    stored: list[RecordedEvent] = []
    for lo, hi in itertools.pairwise(bounds):
        batch = events[lo:hi]
        receipts = ledger.append(story, batch, "test").receipts
        stored.extend(
            RecordedEvent(story, e, r.position, r.recorded_at, r.recorded_by)
            for e, r in zip(batch, receipts, strict=True)
        )
    return stored


CUTS = st.lists(st.integers(0, 20), max_size=4)
PROBES = st.lists(st.tuples(st.integers(-1, 9 * 60), st.integers(0, 6)), min_size=1, max_size=6)


def answers_as_the_fold(
    ledger: Ledger, story: str, stored: list[RecordedEvent], probes: list[tuple[int, int]]
) -> None:
    """Knowledge at each probed (T, R) is the reference fold's."""
    recorded_times = sorted({r.recorded_at for r in stored})
    for minutes, r_index in probes:
        at = BASE + timedelta(minutes=minutes)
        before = None
        if r_index < len(recorded_times):
            before = recorded_times[r_index] + timedelta(microseconds=r_index % 2)
        expected = knowledge_at(story, stored, at, before)
        assert ledger.reader.knowledge(story, at, before) == expected


@PROPERTY
@given(events=histories(), cuts=CUTS, probes=PROBES)
def test_knowledge_equals_the_reference_fold(
    ledger: Ledger, events: list[ReportingEvent], cuts: list[int], probes: list[tuple[int, int]]
) -> None:
    story = f"s-{uuid.uuid4().hex[:8]}"
    answers_as_the_fold(ledger, story, record_in_batches(ledger, story, events, cuts), probes)


@PROPERTY
@given(events=histories(), cuts=CUTS)
def test_claim_history_follows_the_fold(
    ledger: Ledger, events: list[ReportingEvent], cuts: list[int]
) -> None:
    story = f"s-{uuid.uuid4().hex[:8]}"
    stored = record_in_batches(ledger, story, events, cuts)
    acts: dict[str, list[ClaimAct]] = {}
    for r in stored:
        for claim_id, act in claim_acts(r.event, r.position):
            acts.setdefault(claim_id, []).append(act)
    for claim_id, claim_acts_ in acts.items():
        claim_acts_.sort(key=act_order)
        expected, last = [], None
        for act, state in zip(claim_acts_, fold_claim(claim_id, claim_acts_), strict=True):
            shape = (state.visible, state.status, state.text, state.supported_by, state.disputed_by)
            if shape != last:
                expected.append((act.event_id, act.stance, *shape))
            last = shape
        history = ledger.reader.history(story, claim_id, None)
        got = [
            (h.event, h.stance, h.visible, h.status, h.text, h.supported_by, h.disputed_by)
            for h in history
        ]
        assert got == expected


@pytest.fixture
def one_thing_a_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    """The projector re-folds what a save touched one claim or document at a time."""
    monkeypatch.setattr(writer, "REFOLD_CHUNK", 1)


@PROPERTY
@given(events=histories(), cuts=CUTS, probes=PROBES)
def test_re_folded_a_thing_at_a_time_the_tables_answer_and_replay_alike(
    ledger: Ledger,
    one_thing_a_chunk: None,
    events: list[ReportingEvent],
    cuts: list[int],
    probes: list[tuple[int, int]],
) -> None:
    story = f"s-{uuid.uuid4().hex[:8]}"
    answers_as_the_fold(ledger, story, record_in_batches(ledger, story, events, cuts), probes)
    live = dump(ledger)
    ledger.replay()
    assert dump(ledger) == live


def dump(ledger: Ledger) -> dict[str, list[tuple[object, ...]]]:
    """Every projection table's rows, sorted."""
    tables = {}
    with ledger.recorder.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]
        for table in PROJECTION_TABLES:
            cursor.execute(f"SELECT * FROM {table}")
            tables[table] = sorted(
                tuple(bytes(v) if isinstance(v, memoryview) else v for v in dict(row).values())
                for row in cursor.fetchall()
            )
    return tables


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(events=histories(), cuts=CUTS)
def test_replay_rebuilds_identical_tables(
    ledger: Ledger, events: list[ReportingEvent], cuts: list[int]
) -> None:
    record_in_batches(ledger, f"s-{uuid.uuid4().hex[:8]}", events, cuts)
    live = dump(ledger)
    ledger.replay()
    assert dump(ledger) == live


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(events=histories(), cuts=CUTS)
def test_export_then_import_round_trips(
    ledger: Ledger,
    tmp_path_factory: pytest.TempPathFactory,
    events: list[ReportingEvent],
    cuts: list[int],
) -> None:
    story = f"s-{uuid.uuid4().hex[:8]}"
    record_in_batches(ledger, story, events, cuts)
    exported = b"".join(export_lines(ledger, story))
    folder = tmp_path_factory.mktemp("roundtrip")
    path = folder / "story.jsonl"
    path.write_bytes(exported)
    copy = Ledger(str(folder / "copy.sqlite3"))
    try:
        report = import_file(copy, Path(path), "test")
        assert report.stored == len(events)
        assert b"".join(export_lines(copy, story)) == exported
        for hours in range(-1, 10):
            at = BASE + timedelta(hours=hours)
            mine, theirs = (
                ledger.reader.knowledge(story, at, None),
                copy.reader.knowledge(story, at, None),
            )
            assert mine.claims == theirs.claims and mine.documents == theirs.documents
        assert import_file(copy, Path(path), "test").stored == 0
    finally:
        copy.close()
