"""The verifiable log: one RFC 9162 Merkle tree per database over every stored reporting event.

``after_append`` runs inside each append transaction, after the projection rows (so under the
write lock): it gives every ``kw_events`` row the log lacks the next leaf index, in position
order, and records the tree head. An in-process ``CompactMerkleTree`` caches the tree (the
roots of complete blocks of ``2**BLOCK_HEIGHT`` leaves, and the last two blocks' leaves); it
catches up from ``kw_log_leaves`` (other processes append too) reading only the new leaves,
and reads older leaves back from the table when a proof or an old root needs them. Each block's
root is stored too (``kw_log_blocks``, in the transaction that closes it), so a process takes
up the tree from the roots, not by hashing every leaf again (decision 029).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from msgspec import Struct

from service.audit.leaves import leaf_of_recorded, leaf_of_row
from service.merkle import CompactMerkleTree, leaf_hash
from service.projections.dialect import Dialect, EventStore
from service.projections.reader import Datastore
from service.projections.rows import Batch, micros

PAGE = 1000
BLOCK_HEIGHT = 8


class TreeHead(Struct, frozen=True):
    """The size and root of the log's tree, as ``GET /v1/log`` shows it."""

    tree_size: int
    root_hash: str


class LogEntry(Struct, frozen=True):
    """One leaf: its index, its canonical JSON and its RFC 9162 leaf hash."""

    index: int
    leaf: str
    leaf_hash: str


class InclusionProof(Struct, frozen=True):
    """The audit path of RFC 9162 §2.1.3 for one leaf in a tree of ``tree_size`` leaves."""

    index: int
    tree_size: int
    audit_path: list[str]


class ConsistencyProof(Struct, frozen=True):
    """The consistency path of RFC 9162 §2.1.4 from tree size ``first`` to ``second``."""

    first: int
    second: int
    consistency_path: list[str]


class OutOfRange(ValueError):
    """A leaf index or tree size the log does not (yet) have; ``parameter`` names which."""

    def __init__(self, parameter: str, detail: str) -> None:
        super().__init__(detail)
        self.parameter = parameter


class VerifiableLog:
    """Writes the log's rows in append transactions and answers heads, entries and proofs."""

    def __init__(
        self, dialect: Dialect, store: EventStore, block_height: int | None = None
    ) -> None:
        self.dialect = dialect
        self.store = store
        q = dialect.sql
        columns = "leaf_index, position, leaf_hash"
        self.last_leaf = q(f"SELECT {columns} FROM kw_log_leaves ORDER BY leaf_index DESC LIMIT 1")
        self.leaf_at = q(f"SELECT {columns} FROM kw_log_leaves WHERE leaf_index = ?")
        self.leaves_between = q(
            "SELECT leaf_index, leaf_hash FROM kw_log_leaves"
            " WHERE leaf_index >= ? AND leaf_index < ? ORDER BY leaf_index"
        )
        # kw_events with each event's stored state, which holds its body (decision 035).
        events = (
            "SELECT e.position, e.story, e.recorded_at, e.recorded_by, r.state AS recorded"
            f" FROM kw_events e{store.join()}"
        )
        self.unlogged = q(f"{events} WHERE e.position > ? ORDER BY e.position LIMIT ?")
        self.count_unlogged = q("SELECT COUNT(*) AS n FROM kw_events WHERE position > ?")
        self.event_at = q(f"{events} WHERE e.position = ?")
        self.insert_head = q("INSERT INTO kw_tree_heads VALUES (?,?,?)")
        self.block_roots = q(
            "SELECT block, root_hash FROM kw_log_blocks"
            " WHERE height = ? AND block < ? ORDER BY block"
        )
        self.block_height = BLOCK_HEIGHT if block_height is None else block_height
        self._tree = CompactMerkleTree(self.block_height)
        self._blocks_stored = 0
        """How many of the cached tree's blocks ``kw_log_blocks`` is known to hold."""
        self._lock = threading.Lock()

    def after_append(self, cursor: Any, projected: Batch) -> None:
        """Log the events projected in this transaction and record the new tree head.

        When they are all ``kw_events`` holds past the log's last leaf (a count says so), their
        leaves come from the events as this transaction stored them; otherwise from the rows
        read back (decision 042)."""
        with self._lock:
            _, position = self._sync(cursor, exact=True)
            recorded_at: int | None
            if self._only_unlogged(cursor, position, projected):
                recorded_at = self._log_projected(cursor, projected)
            else:
                recorded_at = self._log_stored(cursor, position)
            if recorded_at is not None:
                cursor.execute(self.insert_head, (len(self._tree), self._tree.root(), recorded_at))
            self._store_blocks(cursor)

    def _only_unlogged(self, cursor: Any, position: int, projected: Batch) -> bool:
        """Whether ``projected``, in position order, is every ``kw_events`` row after
        ``position``."""
        positions = [each for each, _ in projected]
        if not positions or positions[0] <= position or positions != sorted(positions):
            return False
        cursor.execute(self.count_unlogged, (position,))
        return int(cursor.fetchone()["n"]) == len(positions)

    def _log_projected(self, cursor: Any, projected: Batch) -> int:
        """Append the leaves of ``projected``; the last one's ``recorded_at`` (micros)."""
        self._append_leaves(cursor, ((p, leaf_of_recorded(r)) for p, r in projected))
        return micros(projected[-1][1].timestamp)

    def _log_stored(self, cursor: Any, position: int) -> int | None:
        """Append the leaves of the ``kw_events`` rows after ``position``, read back page by
        page; the last one's ``recorded_at`` (micros), None when there is none."""
        recorded_at = None
        while True:
            cursor.execute(self.unlogged, (position, PAGE))
            rows = cursor.fetchall()
            self._append_leaves(cursor, ((row["position"], leaf_of_row(row)) for row in rows))
            if rows:
                position, recorded_at = rows[-1]["position"], rows[-1]["recorded_at"]
            if len(rows) < PAGE:
                return recorded_at

    def _append_leaves(self, cursor: Any, leaves: Iterable[tuple[int, bytes]]) -> None:
        """Append each (position, leaf) to the cached tree and insert its ``kw_log_leaves`` row."""
        rows = []
        for position, leaf in leaves:
            digest = leaf_hash(leaf)
            rows.append((self._tree.append(digest), position, digest))
        self.dialect.insert_rows(cursor, "kw_log_leaves", rows)

    def _store_blocks(self, cursor: Any) -> None:
        """Store the roots of the complete blocks ``kw_log_blocks`` lacks: those this append
        closed, or every one when the table is newer than the log (another process may have
        stored some already: the rows are the same)."""
        blocks = [
            (self.block_height, index, self._tree.block_root(index))
            for index in range(self._blocks_stored, self._tree.blocks)
        ]
        self.dialect.insert_rows(cursor, "kw_log_blocks", blocks, " ON CONFLICT DO NOTHING")
        self._blocks_stored = self._tree.blocks

    def _sync(self, cursor: Any, *, exact: bool) -> tuple[int, int]:
        """Bring the cached tree up to the leaves ``cursor`` sees; return (size, last position).

        With ``exact`` (writers) the cache must end where the table does; readers accept a
        cache that runs ahead (another thread's append, not yet committed) when it agrees.
        A cache whose last leaves disagree with the table, or that it no longer holds to
        compare, is rebuilt from the table.
        """
        cursor.execute(self.last_leaf)
        last = cursor.fetchone()
        if last is None:
            self._tree, self._blocks_stored = CompactMerkleTree(self.block_height), 0
            return 0, 0
        size, position = last["leaf_index"] + 1, last["position"]
        cached = len(self._tree)
        if cached >= size:
            if self._tree.held_leaf(size - 1) == bytes(last["leaf_hash"]):
                if cached > size and exact:
                    self._tree.truncate(size, self._reader(cursor))
                    self._blocks_stored = min(self._blocks_stored, self._tree.blocks)
                return size, position
            self._take_up(cursor, size)
        elif not cached:
            self._take_up(cursor, size)
        else:
            cursor.execute(self.leaf_at, (cached - 1,))
            row = cursor.fetchone()
            if row is None or bytes(row["leaf_hash"]) != self._tree.held_leaf(cached - 1):
                self._take_up(cursor, size)
        while len(self._tree) < size:
            start = len(self._tree)
            for leaf in self._reader(cursor)(start, min(start + PAGE, size)):
                self._tree.append(leaf)
        return size, position

    def _take_up(self, cursor: Any, size: int) -> None:
        """Cache the tree afresh from the stored roots of its first complete blocks (as many
        as ``kw_log_blocks`` holds in a row from block 0); ``_sync`` appends the leaves after.
        At 300k leaves, hashing every leaf again took ~1.3 s (decision 029). Roots whose last
        does not match its block's leaves are not used (``knewwhen verify`` names the row)."""
        cursor.execute(self.block_roots, (self.block_height, size >> self.block_height))
        roots: list[bytes] = []
        for row in cursor.fetchall():
            if row["block"] != len(roots):
                break
            roots.append(bytes(row["root_hash"]))
        try:
            tree = CompactMerkleTree.of_blocks(self.block_height, roots, self._reader(cursor))
        except ValueError:
            tree, roots = CompactMerkleTree(self.block_height), []
        self._tree, self._blocks_stored = tree, len(roots)

    def _reader(self, cursor: Any) -> Callable[[int, int], list[bytes]]:
        """Reads the stored leaf hashes [lo, hi) through ``cursor``; a gap is a LookupError."""

        def read(lo: int, hi: int) -> list[bytes]:
            cursor.execute(self.leaves_between, (lo, hi))
            found: list[bytes] = []
            for row in cursor.fetchall():
                if row["leaf_index"] != lo + len(found):
                    break
                found.append(bytes(row["leaf_hash"]))
            if len(found) != hi - lo:
                raise LookupError(f"the log has no leaf {lo + len(found)}")
            return found

        return read

    @contextmanager
    def _reading(self, datastore: Datastore) -> Iterator[tuple[Any, int]]:
        """A read transaction and the committed size, with the cache synced and held."""
        with self._lock, datastore.transaction(commit=False) as cursor:
            size, _ = self._sync(cursor, exact=False)
            yield cursor, size

    def head(self, datastore: Datastore) -> TreeHead:
        """The current tree size and root."""
        with self._reading(datastore) as (cursor, size):
            return TreeHead(size, self._tree.root(size, self._reader(cursor)).hex())

    def entry(self, datastore: Datastore, index: int) -> LogEntry:
        """Leaf ``index``: its canonical JSON (rebuilt from its ``kw_events`` row and stored event)
        and stored hash."""
        with self._reading(datastore) as (cursor, size):
            if not 0 <= index < size:
                raise OutOfRange(
                    "index", f"leaf index {index} out of range: the log has {size} leaves"
                )
            cursor.execute(self.leaf_at, (index,))
            leaf = cursor.fetchone()
            cursor.execute(self.event_at, (leaf["position"],))
            event = cursor.fetchone()
        data = leaf_of_row(event).decode() if event is not None else ""
        return LogEntry(index, data, bytes(leaf["leaf_hash"]).hex())

    def inclusion(self, datastore: Datastore, index: int, tree_size: int) -> InclusionProof:
        """The RFC 9162 audit path of leaf ``index`` in the tree of ``tree_size`` leaves."""
        with self._reading(datastore) as (cursor, size):
            if not 0 < tree_size <= size:
                raise OutOfRange(
                    "tree_size", f"tree_size {tree_size} out of range: need 1 <= size <= {size}"
                )
            if not 0 <= index < tree_size:
                raise OutOfRange(
                    "index", f"index {index} out of range: need 0 <= index < {tree_size}"
                )
            path = self._tree.inclusion(index, tree_size, self._reader(cursor))
        return InclusionProof(index, tree_size, [h.hex() for h in path])

    def consistency(self, datastore: Datastore, first: int, second: int) -> ConsistencyProof:
        """The RFC 9162 consistency path from the tree of ``first`` leaves to ``second``."""
        with self._reading(datastore) as (cursor, size):
            if not 0 < second <= size:
                raise OutOfRange(
                    "second", f"second {second} out of range: need 1 <= second <= {size}"
                )
            if not 0 < first <= second:
                raise OutOfRange(
                    "first", f"first {first} out of range: need 1 <= first <= {second}"
                )
            path = self._tree.consistency(first, second, self._reader(cursor))
        return ConsistencyProof(first, second, [h.hex() for h in path])
