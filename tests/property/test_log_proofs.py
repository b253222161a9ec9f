"""For any histories recorded in any batching, every inclusion and consistency proof the log serves
verifies against its recorded tree heads with an RFC 9162 verifier written in the tests, and a
flipped byte anywhere makes it fail."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.events import ReportingEvent
from service.application import Ledger
from service.audit.leaves import leaf_of_row
from service.audit.log import VerifiableLog
from tests.strategies import histories
from tests.unit.test_merkle import flipped, verify_consistency, verify_inclusion

PROPERTY = settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def heads(ledger: Ledger) -> list[tuple[int, bytes]]:
    """The recorded tree heads (size, root), smallest first."""
    recorder: Any = ledger.recorder
    with recorder.datastore.transaction(commit=False) as cursor:
        cursor.execute("SELECT tree_size, root_hash FROM kw_tree_heads ORDER BY tree_size")
        return [(r["tree_size"], bytes(r["root_hash"])) for r in cursor.fetchall()]


@PROPERTY
@given(
    events=histories(),
    cuts=st.lists(st.integers(0, 20), max_size=4),
    salt=st.integers(0, 2**16),
)
def test_every_served_proof_verifies_against_the_recorded_heads(
    ledger: Ledger, events: list[ReportingEvent], cuts: list[int], salt: int
) -> None:
    recorder: Any = ledger.recorder
    log: VerifiableLog = recorder.log
    store = recorder.datastore
    before = heads(ledger)
    story = f"s-{uuid.uuid4().hex[:8]}"
    bounds = sorted({0, len(events), *(c % (len(events) + 1) for c in cuts)})
    for lo, hi in itertools.pairwise(bounds):
        ledger.append(story, events[lo:hi], "test", with_receipts=False)
    after = heads(ledger)
    assert len(after) == len(before) + len(bounds) - 1
    size, root = after[-1]
    assert log.head(store).tree_size == size
    assert bytes.fromhex(log.head(store).root_hash) == root
    new = [s for s, _ in after[len(before) :]]
    first_new = before[-1][0] if before else 0
    for index in range(first_new, size):
        entry = log.entry(store, index)
        leaf = bytes.fromhex(entry.leaf_hash)
        with store.transaction(commit=False) as cursor:
            cursor.execute(
                ledger.dialect.sql(
                    "SELECT e.*, r.state AS recorded FROM kw_events e"
                    f"{ledger.store.join()} JOIN kw_log_leaves l ON l.position = e.position"
                    " WHERE l.leaf_index = ?"
                ),
                (index,),
            )
            assert leaf_of_row(cursor.fetchone()).decode() == entry.leaf
        covering = next(s for s in new if s > index)
        for tree_size, tree_root in ((covering, dict(after)[covering]), (size, root)):
            proof = [bytes.fromhex(h) for h in log.inclusion(store, index, tree_size).audit_path]
            assert verify_inclusion(leaf, index, tree_size, proof, tree_root)
            assert not verify_inclusion(flipped(leaf), index, tree_size, proof, tree_root)
            if proof:
                at = (salt + index) % len(proof)
                bad = [flipped(p) if i == at else p for i, p in enumerate(proof)]
                assert not verify_inclusion(leaf, index, tree_size, bad, tree_root)
    for first, first_root in after:
        proof = [bytes.fromhex(h) for h in log.consistency(store, first, size).consistency_path]
        assert verify_consistency(first, size, proof, first_root, root)
        assert not verify_consistency(first, size, proof, first_root, flipped(root))
        if proof:
            at = (salt + first) % len(proof)
            bad = [flipped(p, 31) if i == at else p for i, p in enumerate(proof)]
            assert not verify_consistency(first, size, bad, first_root, root)
