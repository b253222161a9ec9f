"""The verifiable log on each backend: leaves in commit order without gaps, one tree head per
append transaction, canonical leaf JSON, a cache that catches up, and replay leaving it alone."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from service.application import Ledger
from service.audit.log import OutOfRange, TreeHead, VerifiableLog
from service.audit.verify import verify
from service.merkle import CompactMerkleTree, MerkleTree, root_hash
from tests.builders import claim, document, event
from tests.service.conftest import SteppingClock


@pytest.fixture
def ledger(database: str) -> Iterator[Ledger]:
    opened = Ledger(database, clock=SteppingClock(datetime(2026, 1, 1, tzinfo=UTC)))
    try:
        yield opened
    finally:
        opened.close()


def log_of(ledger: Ledger) -> tuple[VerifiableLog, Any]:
    """The ledger's log and the datastore it reads through."""
    recorder: Any = ledger.recorder
    return recorder.log, recorder.datastore


def rows(ledger: Ledger, statement: str) -> list[dict[str, Any]]:
    """Rows of a query, as plain dicts with bytes for blobs."""
    _, datastore = log_of(ledger)
    with datastore.transaction(commit=False) as cursor:
        cursor.execute(statement)
        return [
            {k: bytes(v) if isinstance(v, memoryview) else v for k, v in dict(r).items()}
            for r in cursor.fetchall()
        ]


def stored_leaves(ledger: Ledger) -> list[bytes]:
    """The log's leaf hashes as stored, in leaf order."""
    return [
        r["leaf_hash"]
        for r in rows(ledger, "SELECT leaf_hash FROM kw_log_leaves ORDER BY leaf_index")
    ]


def append_some(ledger: Ledger, story: str = "s", n: int = 3) -> None:
    """``n`` appends of one event each, then one append of two events."""
    ledger.append(
        story,
        [event("story_published", f"{story}-0", "nyt", "2020-10-06T22:00", claim("c", "asserts"))],
        "w",
    )
    for i in range(1, n):
        ledger.append(
            story,
            [
                event(
                    "report_confirmed",
                    f"{story}-{i}",
                    "nbc",
                    f"2020-10-0{i + 6}T12:00",
                    claim("c", "confirms"),
                )
            ],
            "w",
        )
    ledger.append(
        story,
        [
            event("response_issued", f"{story}-x", "doj", "2020-10-09T12:00", claim("c", "disputes")),
            event("draft_leaked", f"{story}-y", "nyt", "2020-10-09T13:00", doc=document("d")),
        ],
        "w",
    )  # fmt: skip


def test_every_reporting_event_is_a_leaf_in_position_order_without_gaps(ledger: Ledger) -> None:
    append_some(ledger, "a")
    append_some(ledger, "b")
    leaves = rows(ledger, "SELECT * FROM kw_log_leaves ORDER BY leaf_index")
    events = rows(ledger, "SELECT position FROM kw_events ORDER BY position")
    assert [r["leaf_index"] for r in leaves] == list(range(10))
    assert [r["position"] for r in leaves] == [e["position"] for e in events]


def test_each_append_records_one_tree_head_over_the_leaves_so_far(ledger: Ledger) -> None:
    append_some(ledger)
    heads = rows(ledger, "SELECT * FROM kw_tree_heads ORDER BY tree_size")
    leaves = stored_leaves(ledger)
    assert [h["tree_size"] for h in heads] == [1, 2, 3, 5]
    for head in heads:
        assert head["root_hash"] == root_hash(leaves[: head["tree_size"]])
    recorded = rows(ledger, "SELECT MAX(recorded_at) AS r FROM kw_events")[0]["r"]
    assert heads[-1]["recorded_at"] == recorded
    log, datastore = log_of(ledger)
    assert log.head(datastore).tree_size == 5
    assert log.head(datastore).root_hash == root_hash(leaves).hex()


def test_an_idempotent_retry_appends_no_leaf_and_no_head(ledger: Ledger) -> None:
    append_some(ledger)
    again = event("story_published", "s-0", "nyt", "2020-10-06T22:00", claim("c", "asserts"))
    assert ledger.append("s", [again], "w").created == [False]
    assert len(rows(ledger, "SELECT * FROM kw_tree_heads")) == 4
    assert len(rows(ledger, "SELECT * FROM kw_log_leaves")) == 5


def test_a_leaf_is_the_canonical_json_of_the_event_and_its_recording(database: str) -> None:
    ledger = Ledger(
        database, clock=SteppingClock(datetime(2026, 1, 1, 0, 0, 0, 500000, tzinfo=UTC))
    )
    published = event(
        "draft_leaked", "leak", "nyt", "2020-10-06T22:00",
        claim("c", "asserts", 'Zoë said "no"'), doc=document("d", author="doj-oig"),
    )  # fmt: skip
    try:
        ledger.append("s", [published], "newsroom")
        log, datastore = log_of(ledger)
        entry = log.entry(datastore, 0)
        with pytest.raises(OutOfRange):
            log.entry(datastore, 1)
    finally:
        ledger.close()
    assert entry.leaf == (
        '{"claims":[{"id":"c","stance":"asserts","text":"Zoë said \\"no\\""}],'
        '"document":{"author":"doj-oig","id":"d","text":"text","title":"d title"},'
        '"id":"leak","published_at":"2020-10-06T22:00:00Z",'
        '"recorded_at":"2026-01-01T00:00:01.500000Z",'
        '"recorded_by":"newsroom","source":"nyt","story":"s","type":"draft_leaked"}'
    )
    assert entry.leaf_hash == hashlib.sha256(b"\x00" + entry.leaf.encode()).hexdigest()


def test_an_append_logs_its_events_as_it_stored_them_without_reading_them_back(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    log, _ = log_of(ledger)

    def read_back(cursor: Any, position: int) -> None:
        raise AssertionError(f"read back the rows after {position}")

    monkeypatch.setattr(log, "_log_stored", read_back)
    append_some(ledger, "a")
    append_some(ledger, "b")
    assert len(stored_leaves(ledger)) == 10
    report = verify(ledger)  # each leaf recomputed from its event as stored
    assert report.ok, report.lines()


def test_events_the_log_lacks_are_read_back_and_logged_before_the_next_append(
    ledger: Ledger,
) -> None:
    recorder: Any = ledger.recorder
    hooks = recorder.projector.hooks
    recorder.projector.hooks = ()  # as a writer that stored events and left them unlogged
    append_some(ledger, "a", n=2)
    recorder.projector.hooks = hooks
    assert stored_leaves(ledger) == []
    append_some(ledger, "b", n=1)
    leaves = rows(ledger, "SELECT * FROM kw_log_leaves ORDER BY leaf_index")
    events = rows(ledger, "SELECT position FROM kw_events ORDER BY position")
    assert [r["leaf_index"] for r in leaves] == list(range(7))  # 4 unlogged, then 3
    assert [r["position"] for r in leaves] == [e["position"] for e in events]
    report = verify(ledger)
    assert report.ok, report.lines()


def test_the_cache_catches_up_with_another_process_and_heals_a_rolled_back_tail(
    database: str,
) -> None:
    first, second = Ledger(database), Ledger(database)
    try:
        append_some(first, "a")
        append_some(second, "b")
        log, datastore = log_of(first)
        assert log.head(datastore).tree_size == 10
        log._tree.append(b"\x07" * 32)  # as if an append had rolled back after logging
        append_some(first, "c")
        other, other_store = log_of(second)
        assert log.head(datastore) == other.head(other_store)
        assert log.head(datastore).tree_size == 15
        assert verify(first).ok
    finally:
        first.close()
        second.close()


def test_racing_writers_still_get_gapless_leaves_and_a_verifying_log(database: str) -> None:
    ledgers = [Ledger(database) for _ in range(3)]
    errors: list[BaseException] = []

    def write(ledger: Ledger, name: str) -> None:
        try:
            for i in range(6):
                ledger.append(name, [event("story_published", f"{name}-{i}", "nyt", "2020-10-06T22:00", claim("c", "asserts"))], "w")  # fmt: skip
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=write, args=(lg, f"s{i}")) for i, lg in enumerate(ledgers)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not errors
        leaves = rows(ledgers[0], "SELECT * FROM kw_log_leaves ORDER BY leaf_index")
        assert [r["leaf_index"] for r in leaves] == list(range(18))
        positions = [r["position"] for r in leaves]
        assert positions == sorted(positions)
        report = verify(ledgers[0])
        assert report.ok, report.lines()
    finally:
        for lg in ledgers:
            lg.close()


def test_replay_leaves_the_log_and_its_heads_unchanged(ledger: Ledger) -> None:
    append_some(ledger)
    before = rows(ledger, "SELECT * FROM kw_log_leaves ORDER BY leaf_index")
    heads = rows(ledger, "SELECT * FROM kw_tree_heads ORDER BY tree_size")
    ledger.replay()
    assert rows(ledger, "SELECT * FROM kw_log_leaves ORDER BY leaf_index") == before
    assert rows(ledger, "SELECT * FROM kw_tree_heads ORDER BY tree_size") == heads
    report = verify(ledger)
    assert report.ok, report.lines()
    assert any("5 reporting events" in line for line in report.lines())


def test_with_blocks_of_two_leaves_heads_and_proofs_still_match_the_whole_tree(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("service.audit.log.BLOCK_HEIGHT", 1)
    clock = SteppingClock(datetime(2026, 1, 1, tzinfo=UTC))
    first, second = Ledger(database, clock=clock), Ledger(database, clock=clock)
    try:
        for story in "abc":
            append_some(first, story)
        append_some(second, "d")
        log, datastore = log_of(first)
        assert log.block_height == 1
        assert log.head(datastore).tree_size == 20
        log._tree.append(b"\x07" * 32)  # as if an append had rolled back after logging
        append_some(first, "e")
        leaves = stored_leaves(first)
        whole = MerkleTree(leaves)
        assert log.head(datastore) == TreeHead(25, whole.root().hex())
        for size in (1, 6, 13, 25):
            for index in range(size):
                proof = log.inclusion(datastore, index, size).audit_path
                assert proof == [h.hex() for h in whole.inclusion(index, size)]
            for older in range(1, size + 1):
                proof = log.consistency(datastore, older, size).consistency_path
                assert proof == [h.hex() for h in whole.consistency(older, size)]
        heads = rows(first, "SELECT tree_size, root_hash FROM kw_tree_heads")
        assert all(h["root_hash"] == whole.root(h["tree_size"]) for h in heads)
        assert len(log._tree) == 25
        assert log._tree.held_leaf(20) is None
        assert verify(first).ok
    finally:
        first.close()
        second.close()


def block_rows(ledger: Ledger) -> list[tuple[int, int, bytes]]:
    found = rows(ledger, "SELECT * FROM kw_log_blocks ORDER BY height, block")
    return [(r["height"], r["block"], r["root_hash"]) for r in found]


def written_by_a_process_now_gone(database: str, clock: SteppingClock, *stories: str) -> None:
    """``append_some`` to each story through a ledger of its own, then closed."""
    ledger = Ledger(database, clock=clock)
    try:
        for story in stories:
            append_some(ledger, story)
    finally:
        ledger.close()


def test_each_complete_block_of_leaves_has_its_root_stored_with_it(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("service.audit.log.BLOCK_HEIGHT", 2)
    ledger = Ledger(database, clock=SteppingClock(datetime(2026, 1, 1, tzinfo=UTC)))
    try:
        append_some(ledger, "a")
        assert block_rows(ledger) == [(2, 0, MerkleTree(stored_leaves(ledger)[:4]).root())]
        append_some(ledger, "b", n=4)
        leaves = stored_leaves(ledger)
        assert len(leaves) == 11
        assert block_rows(ledger) == [
            (2, block, MerkleTree(leaves[block * 4 : block * 4 + 4]).root()) for block in (0, 1)
        ]
    finally:
        ledger.close()


def test_a_new_process_takes_up_the_tree_from_the_stored_roots(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("service.audit.log.BLOCK_HEIGHT", 2)
    clock = SteppingClock(datetime(2026, 1, 1, tzinfo=UTC))
    written_by_a_process_now_gone(database, clock, "a", "b")
    taken_up: list[int] = []
    of_blocks = CompactMerkleTree.of_blocks

    def counting(height: int, roots: Any, read: Any) -> CompactMerkleTree:
        taken_up.append(len(roots))
        return of_blocks(height, roots, read)

    monkeypatch.setattr(CompactMerkleTree, "of_blocks", counting)
    second = Ledger(database, clock=clock)
    try:
        append_some(second, "c")
        assert taken_up == [2]
        log, datastore = log_of(second)
        whole = MerkleTree(stored_leaves(second))
        assert log.head(datastore) == TreeHead(15, whole.root().hex())
        heads = rows(second, "SELECT tree_size, root_hash FROM kw_tree_heads")
        assert all(h["root_hash"] == whole.root(h["tree_size"]) for h in heads)
        assert [block for _, block, _ in block_rows(second)] == [0, 1, 2]
        assert verify(second).ok
    finally:
        second.close()


def test_a_log_without_roots_at_this_block_height_gets_them_at_its_next_append(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = SteppingClock(datetime(2026, 1, 1, tzinfo=UTC))
    monkeypatch.setattr("service.audit.log.BLOCK_HEIGHT", 3)
    written_by_a_process_now_gone(database, clock, "a", "b")
    monkeypatch.setattr("service.audit.log.BLOCK_HEIGHT", 2)
    newer = Ledger(database, clock=clock)
    try:
        assert [(h, b) for h, b, _ in block_rows(newer)] == [(3, 0)]
        append_some(newer, "c", n=1)
        leaves = stored_leaves(newer)
        assert len(leaves) == 13
        assert block_rows(newer) == [
            *[(2, b, MerkleTree(leaves[b * 4 : b * 4 + 4]).root()) for b in (0, 1, 2)],
            (3, 0, MerkleTree(leaves[:8]).root()),
        ]
        assert verify(newer).ok
    finally:
        newer.close()
