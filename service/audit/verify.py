"""``knewwhen verify``: recompute the log from the stored events, check every recorded tree head,
and check every projection table against a fresh fold — naming the first index that fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

from tqdm import tqdm

from service.application import Ledger
from service.audit.log_worker import log_worker
from service.audit.recompute import Finding, Recomputed, recompute
from service.audit.refold import TableDifference, refold
from service.audit.snapshot import Snapshot, counted, snapshot
from service.collection import collector_paused
from service.merkle import MerkleTree
from service.projections.fold_workers import fold_workers_for, story_folds
from service.projections.rebuild import PAGE


@dataclass
class VerifyReport:
    """What ``verify`` checked, and the first thing that failed (None when all verified)."""

    checked: list[str] = field(default_factory=list)
    failure: str | None = None
    failure_index: int | None = None
    position: int = 0
    """The last reporting event's position in the snapshot checked (0: none)."""

    @property
    def ok(self) -> bool:
        """True when every check passed."""
        return self.failure is None

    def lines(self) -> list[str]:
        """What was checked, then the verdict."""
        verdict = "OK: the log and the projections verify" if self.ok else f"FAILED: {self.failure}"
        return [*self.checked, verdict]


@collector_paused()
def verify(ledger: Ledger, progress: bool = False, workers: int | None = None) -> VerifyReport:
    """Check the whole database in one read snapshot; the report names the first bad index.
    ``workers``: how many processes fold the stories (None: as many as replay would take,
    ``fold_workers_for``; 0: this one); with any, one more recomputes the log meanwhile
    (``log_worker``, decision 025), else this process recomputes it first."""
    report = VerifyReport()
    recorder: Any = ledger.recorder
    with snapshot(recorder.datastore, ledger.dialect, ledger.store) as snap:
        total = snap.event_count()
        if workers is None:
            workers = fold_workers_for(ledger.database, total)
        with (
            log_worker(ledger.database, snap.events_statement()) if workers else nullcontext()
        ) as apart:
            if apart is None:
                with tqdm(total=total, unit="ev", desc="leaves", disable=not progress) as bar:
                    log = recompute(counted(snap.stored_events(), bar.update))
            projections = check_projections(ledger.database, snap, total, progress, workers)
            if apart is not None:
                log = apart()
        n = len(log.tree)
        report.position = log.positions[-1] if log.positions else 0
        report.checked.append(
            f"stored events: {total}, of which {n} reporting events; "
            f"{n - log.bad_digests} match their digests"
        )
        blocks, block_findings = check_blocks(snap, log.tree, recorder.log.leaves_between)
        precise = [*log.findings, *check_leaves(snap, log), *block_findings]
        report.checked.append(f"log leaves: {n} recomputed from the stored events, compared")
        heads, verified, head_finding = check_heads(snap, log.tree)
        report.checked.append(
            f"tree heads: {heads} recorded, {verified} match the recomputed tree "
            f"(root of {n} leaves: {log.tree.root().hex()})"
        )
        report.checked.append(f"log blocks: {blocks} stored roots, compared with their leaves")
        first = first_failure(sorted(precise), head_finding)
    report.checked.append(projections.line)
    found = first or projections.finding(log)
    if found is not None:
        report.failure = (
            f"index {found.index}: {found.detail}" if found.index >= 0 else found.detail
        )
        report.failure_index = found.index if found.index >= 0 else None
    return report


def check_leaves(snap: Snapshot, log: Recomputed) -> list[Finding]:
    """The first leaf where the recorded log and the recomputed one disagree, if any."""
    expected = log.tree.leaf_hashes
    count = 0
    for row in snap.paged("kw_log_leaves", "leaf_index"):
        i, position, recorded = row["leaf_index"], row["position"], bytes(row["leaf_hash"])
        count += 1
        if i != count - 1:
            return [Finding(count - 1, f"the log has no leaf {count - 1} (the next is {i})")]
        if i >= len(expected):
            return [Finding(i, f"the log's leaf {i} (position {position}) has no stored event")]
        if position != log.positions[i]:
            return [
                Finding(
                    i,
                    f"the log's leaf {i} is position {position}, but the stored event "
                    f"{i} is at position {log.positions[i]} (a row deleted or moved)",
                )
            ]
        if recorded != expected[i]:
            return [
                Finding(i, f"the stored event at position {position} does not hash to its leaf")
            ]
    if count < len(expected):
        return [
            Finding(count, f"the stored event at position {log.positions[count]} is not in the log")
        ]
    return []


def check_blocks(
    snap: Snapshot, tree: MerkleTree, leaves_between: str
) -> tuple[int, list[Finding]]:
    """Check every stored block root: (roots checked, the first that is not the root of its
    stored leaves). A root the recomputed tree agrees with is checked at no cost; another is
    compared with the leaves as stored (read by the log's own ``leaves_between``), whose own
    faults ``check_leaves`` names. A bad root misleads the tree a process takes up from the
    roots (decision 029), and so every head it records after: the finding names the block's
    last leaf, the first such a head covers (a rewritten leaf in the block is named first by
    the heads or by the leaves)."""
    count = 0
    for row in blocks_of(snap):
        count += 1
        height, index, root = row["height"], row["block"], bytes(row["root_hash"])
        first, last = index << height, ((index + 1) << height) - 1
        if last < len(tree) and tree.subtree_root(height, index) == root:
            continue
        stored = [bytes(leaf["leaf_hash"]) for leaf in snap.rows(leaves_between, (first, last + 1))]
        if len(stored) != 1 << height or MerkleTree(stored).root() != root:
            detail = f"the log's block {index} root is not that of its leaves {first}-{last}"
            return count, [Finding(last, detail)]
    return count, []


def blocks_of(snap: Snapshot) -> Iterator[Any]:
    """Every row of ``kw_log_blocks``, by height, then block, a page at a time."""
    for heights in snap.rows("SELECT DISTINCT height FROM kw_log_blocks ORDER BY height"):
        height, after = heights["height"], -1
        while True:
            page = snap.rows(
                "SELECT height, block, root_hash FROM kw_log_blocks"
                f" WHERE height = ? AND block > ? ORDER BY block LIMIT {PAGE}",
                (height, after),
            )
            yield from page
            if len(page) < PAGE:
                break
            after = page[-1]["block"]


def check_heads(snap: Snapshot, tree: MerkleTree) -> tuple[int, int, tuple[int, int] | None]:
    """Check every recorded head: (heads, heads that verify, (last good size, first bad size))."""
    heads, verified, good, first_bad = 0, 0, 0, None
    for row in snap.paged("kw_tree_heads", "tree_size"):
        heads += 1
        size, root = row["tree_size"], bytes(row["root_hash"])
        if size <= len(tree) and tree.root(size) == root:
            verified += 1
            if first_bad is None:
                good = size
        elif first_bad is None:
            first_bad = (good, size)
    return heads, verified, first_bad


def first_failure(precise: list[Finding], head: tuple[int, int] | None) -> Finding | None:
    """The first bad index: a precise finding, or the first leaf no verifying head covers."""
    if head is None:
        return precise[0] if precise else None
    good, bad = head
    mismatch = f"the tree head of size {bad} does not match the stored events"
    for finding in precise:
        if finding.index < bad:
            return Finding(finding.index, f"{finding.detail}; {mismatch}")
    span = "" if bad - good == 1 else f" (somewhere in leaves {good}..{bad - 1})"
    return Finding(good, f"{mismatch}{span}")


@dataclass(frozen=True)
class ProjectionCheck:
    """What comparing the projection tables with a fresh fold found: the report's line, and
    the first difference (or the fold's failure)."""

    line: str
    difference: TableDifference | None = None
    failure: Finding | None = None

    def finding(self, log: Recomputed) -> Finding | None:
        """The failure, or the first difference at the leaf index of the position it names."""
        if self.failure is not None or self.difference is None:
            return self.failure
        position = self.difference.position
        index = (
            log.positions.index(position)
            if isinstance(position, int) and position in log.positions
            else -1
        )
        return Finding(index, self.difference.describe())


def check_projections(
    database: str, snap: Snapshot, total: int, progress: bool, workers: int
) -> ProjectionCheck:
    """Compare every projection table with a fresh fold, the stories folded by ``workers``
    processes (0: here). The progress bar counts the ``total`` stored events merged with
    ``kw_events``, then the reporting events folded (all but each story's opening)."""
    stories = snap.story_ids()
    steps = total + total - len(stories)
    try:
        with (
            tqdm(total=steps, unit="ev", desc="projections", disable=not progress) as bar,
            story_folds(database, snap.story_statement(), total, workers) as folds,
        ):
            results = refold(snap, folds, bar.update, stories)
    except Exception as e:  # a fold that fails is a finding, not a crash
        detail = f"a fresh fold of the stored events fails: {type(e).__name__}: {e}"
        return ProjectionCheck(f"projections: {detail}", failure=Finding(-1, detail))
    rows = sum(n for _, n, _ in results)
    line = f"projections: {len(results)} tables, {rows} rows, compared with a fresh fold"
    differences = [difference for _, _, difference in results if difference is not None]
    return ProjectionCheck(line, differences[0] if differences else None)
