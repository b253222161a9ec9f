"""A knowledge answer lists each claim's events in fold order (published_at, then position),
whatever order they were recorded in; on SQLite that order is the order the search of the
claim's rows visits them, which the plan must not sort (``applied_event_ids``)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from service.application import Ledger
from tests.builders import at, claim, event


def test_events_recorded_late_are_listed_in_public_order(ledger: Ledger) -> None:
    ledger.append(
        "s",
        [event("story_published", "e1", "wire", "2020-10-06T10:00", claim("c1", "asserts"))],
        "t",
    )
    ledger.append(
        "s",
        [event("report_confirmed", "e2", "post", "2020-10-06T12:00", claim("c1", "asserts"))],
        "t",
    )
    late = event("report_confirmed", "e3", "times", "2020-10-06T11:00", claim("c1", "asserts"))
    ledger.append("s", [late], "t")
    early = event("report_confirmed", "e0", "daily", "2020-10-06T09:00", claim("c1", "asserts"))
    ledger.append("s", [early], "t")

    knowledge = ledger.reader.knowledge("s", at("2020-10-06T13:00"), None)
    assert [c.events for c in knowledge.claims] == [("e0", "e1", "e3", "e2")]
    before_late = ledger.reader.receipts("s", ["e3"])[0].recorded_at
    knowledge = ledger.reader.knowledge("s", at("2020-10-06T13:00"), before_late)
    assert [c.events for c in knowledge.claims] == [("e1", "e2")]


def test_applied_ids_read_one_b_tree_in_order(tmp_path: Path) -> None:
    path = tmp_path / "plan.sqlite3"
    Ledger(str(path)).close()
    ledger = Ledger(str(path))
    statement = ledger.reader.claims_at
    ledger.close()
    with closing(sqlite3.connect(path)) as connection:
        plan = [row[3] for row in connection.execute(f"EXPLAIN QUERY PLAN {statement}", (0,) * 6)]

    acts = [step for step in plan if step.startswith(("SEARCH a ", "SCAN a "))]
    assert acts == [
        "SEARCH a USING COVERING INDEX kw_claim_events (story=? AND claim=? AND published_at<?)"
    ]
    assert not [step for step in plan if "TEMP B-TREE" in step or "CO-ROUTINE" in step]


def test_an_act_is_kept_in_its_own_state_row_alone(ledger: Ledger) -> None:
    # e1 then e2 on c1; e0 recorded late before both rewrites their states (decision 036).
    for name, published in (("e1", "10:00"), ("e2", "12:00"), ("e0", "09:00")):
        kind = "story_published" if name == "e1" else "report_confirmed"
        stance = claim("c1", "asserts")
        ledger.append("s", [event(kind, name, name, f"2020-10-06T{published}", stance)], "t")
    with ledger.reader.cursor() as cursor:
        cursor.execute(
            "SELECT position, recorded_at, event_id, act IS NOT NULL AS has_act"
            " FROM kw_claim_states ORDER BY published_at, position, recorded_at"
        )
        rows = [(r["event_id"], bool(r["has_act"])) for r in cursor.fetchall()]
    assert rows == [
        ("e0", True),
        ("e1", True),
        (None, False),  # e1's state, rewritten by e0's append
        ("e2", True),
        (None, False),  # e2's, rewritten by e0's append
    ]
    # Each state as last rewritten, with the act from its own row.
    states = ledger.reader.claim_states("s", "c1", None)
    assert [(e, stance, s.supported_by) for _, e, _, stance, s in states] == [
        ("e0", "asserts", ("e0",)),
        ("e1", "asserts", ("e0", "e1")),
        ("e2", "asserts", ("e0", "e1", "e2")),
    ]
