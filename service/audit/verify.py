"""``knewwhen verify``: recompute the log from the stored events, check every recorded tree head,
and check every projection table against a fresh fold — naming the first index that fails.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgspec
from eventsourcing.persistence import StoredEvent
from tqdm import tqdm

from domain.story import digest_of
from service.application import Ledger
from service.audit.leaves import leaf_of_recorded
from service.audit.refold import refold
from service.audit.snapshot import Snapshot, snapshot
from service.merkle import MerkleTree, leaf_hash
from service.projections.fold_workers import story_folds
from service.projections.rows import RECORDED_TOPIC, decode_recorded

T = TypeVar("T")


@dataclass(frozen=True, order=True)
class Finding:
    """Something that does not verify; ``index`` is the log's leaf index when one is known."""

    index: int
    detail: str


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


@dataclass
class Recomputed:
    """The log as the stored events say it must be."""

    tree: MerkleTree = field(default_factory=lambda: MerkleTree(packed=True))
    positions: array[int] = field(default_factory=lambda: array("q"))  # 8 bytes an event
    findings: list[Finding] = field(default_factory=list)
    other_events: int = 0
    bad_digests: int = 0


def verify(ledger: Ledger, progress: bool = False, workers: int | None = None) -> VerifyReport:
    """Check the whole database in one read snapshot; the report names the first bad index.
    ``workers``: how many processes fold the stories (None: as many as replay would take,
    ``fold_workers_for``; 0: this one)."""
    report = VerifyReport()
    recorder: Any = ledger.recorder
    with snapshot(recorder.datastore, ledger.dialect, recorder.events_table_name) as snap:
        total = snap.event_count()
        log = recompute(counted(snap.stored_events(), total, "leaves", progress))
        n = len(log.tree)
        report.position = log.positions[-1] if log.positions else 0
        report.checked.append(
            f"stored events: {total}, of which {n} reporting events; "
            f"{n - log.bad_digests} match their digests"
        )
        precise = [*log.findings, *check_leaves(snap, log)]
        report.checked.append(f"log leaves: {n} recomputed from the stored events, compared")
        heads, verified, head_finding = check_heads(snap, log.tree)
        report.checked.append(
            f"tree heads: {heads} recorded, {verified} match the recomputed tree "
            f"(root of {n} leaves: {log.tree.root().hex()})"
        )
        first = first_failure(sorted(precise), head_finding)
        projection = check_projections(ledger.database, snap, log, progress, report, workers)
    found = first or projection
    if found is not None:
        report.failure = (
            f"index {found.index}: {found.detail}" if found.index >= 0 else found.detail
        )
        report.failure_index = found.index if found.index >= 0 else None
    return report


def recompute(stored: Iterable[tuple[int, StoredEvent]]) -> Recomputed:
    """Recompute every leaf hash from the stored reporting events, in position order."""
    log = Recomputed()
    for position, event in stored:
        if event.topic != RECORDED_TOPIC:
            log.other_events += 1
            continue
        index = len(log.tree)
        log.positions.append(position)
        try:
            recorded = decode_recorded(event.state)
        except msgspec.MsgspecError as e:
            log.findings.append(Finding(index, f"position {position}: does not decode ({e})"))
            log.tree.append(leaf_hash(event.state))
            continue
        log.tree.append(leaf_hash(leaf_of_recorded(recorded)))
        if (recorded.originator_id, recorded.originator_version) != (
            event.originator_id,
            event.originator_version,
        ):
            log.findings.append(
                Finding(
                    index,
                    f"position {position}: the row's story and version disagree with its payload",
                )
            )
        if digest_of(recorded.event) != recorded.digest:
            log.bad_digests += 1
            log.findings.append(
                Finding(index, f"position {position}: the event's body does not match its digest")
            )
    return log


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


def check_projections(
    database: str,
    snap: Snapshot,
    log: Recomputed,
    progress: bool,
    report: VerifyReport,
    workers: int | None = None,
) -> Finding | None:
    """Compare every projection table with a fresh fold; the first difference, if any."""
    events = len(log.tree)
    try:
        with (
            tqdm(total=events, unit="ev", desc="fold", disable=not progress) as bar,
            story_folds(database, snap.story_statement(), events, workers) as folds,
        ):
            results = refold(snap, folds, bar.update)
    except Exception as e:  # a fold that fails is a finding, not a crash
        detail = f"a fresh fold of the stored events fails: {type(e).__name__}: {e}"
        report.checked.append(f"projections: {detail}")
        return Finding(-1, detail)
    rows = sum(n for _, n, _ in results)
    report.checked.append(
        f"projections: {len(results)} tables, {rows} rows, compared with a fresh fold"
    )
    for _, _, difference in results:
        if difference is not None:
            position = difference.position
            index = (
                log.positions.index(position)
                if isinstance(position, int) and position in log.positions
                else -1
            )
            return Finding(index, difference.describe())
    return None


def counted(items: Iterator[T], total: int, label: str, progress: bool) -> Iterator[T]:
    """Pass items through, with a progress bar on stderr when asked."""
    with tqdm(total=total, unit="ev", desc=label, disable=not progress) as bar:
        for item in items:
            bar.update(1)
            yield item
