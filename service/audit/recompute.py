"""The log as the stored events say it must be: every reporting event's leaf hash recomputed
from its stored payload, in position order, with what does not check out on the way."""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field

import msgspec
from eventsourcing.persistence import StoredEvent

from domain.story import digest_of
from service.audit.leaves import leaf_of_recorded
from service.merkle import MerkleTree, leaf_hash
from service.projections.rows import RECORDED_TOPIC, decode_recorded


@dataclass(frozen=True, order=True)
class Finding:
    """Something that does not verify; ``index`` is the log's leaf index when one is known."""

    index: int
    detail: str


@dataclass
class Recomputed:
    """The log as the stored events say it must be."""

    tree: MerkleTree = field(default_factory=lambda: MerkleTree(packed=True))
    positions: array[int] = field(default_factory=lambda: array("q"))  # 8 bytes an event
    findings: list[Finding] = field(default_factory=list)
    other_events: int = 0
    bad_digests: int = 0


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
