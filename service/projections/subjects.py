"""What the projector keeps for each kind of thing acts are about: claims and documents.

A claim's acts live in its state rows and its folds resume from a stored state; a document's
acts live in a table apart and are re-folded whole (decision 036). ``Projector.refold`` reads,
folds and writes either through its ``Subject``.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from domain.knowledge import ClaimState, DocumentAct, DocumentState, fold_claim, fold_document
from service.projections.dialect import LATEST_STATE_FIRST
from service.projections.rows import (
    Start,
    StateRow,
    claim_state_rows,
    decode_claim_act,
    decode_document_act,
    document_state_rows,
)


@dataclass(frozen=True)
class Subject:
    """What the projector keeps for one kind of thing acts are about: claims or documents.

    A resumable subject re-folds from the stored state before its earliest new act (claims:
    their acts accumulate); the others re-fold all their acts (documents have few each).
    Claims keep each act in the state row its own append wrote (decision 036): their ``acts``
    are the rows of ``states`` that hold one. Documents keep theirs in a table apart.
    """

    column: str
    things: str
    acts: str
    states: str
    decode_act: Callable[[bytes], Any]
    fold: Callable[[str, list[Any], Any], Iterator[Any]]
    # The rows of one thing's states from a start on (story, key, acts, states, start,
    # recorded_at, the positions this save stored, the states already held by act point):
    # claims' carry their own acts.
    state_rows: Callable[
        [str, str, Sequence[Any], Iterable[Any], Start, int, Container[int], Mapping[Start, Any]],
        list[StateRow],
    ]
    decode_state: Callable[[bytes], Any] | None = None

    @property
    def acts_in_states(self) -> bool:
        """Whether the acts are kept in the state rows (claims) rather than a table apart."""
        return self.acts == self.states

    @property
    def act_rows(self) -> str:
        """The condition (on alias ``a``) that picks the rows holding acts, after a WHERE."""
        return " AND a.act IS NOT NULL" if self.acts_in_states else ""

    @property
    def resumable(self) -> bool:
        """Whether a fold of this subject can resume from a stored state."""
        return self.decode_state is not None

    @property
    def prior_states(self) -> str:
        """Per start point, the state that holds just before it (act order), as recorded now."""
        return (
            "WITH starts(k, p, pos) AS (VALUES {values})"
            f" SELECT starts.k AS k, (SELECT s.state FROM {self.states} s"
            f" WHERE s.story = ? AND s.{self.column} = starts.k"
            " AND (s.published_at < starts.p OR (s.published_at = starts.p AND s.position < starts.pos))"
            f"{LATEST_STATE_FIRST}) AS state FROM starts"
        )

    @property
    def acts_after(self) -> str:
        """Per start point, the acts at or after it, in fold order."""
        return (
            "WITH starts(k, p, pos) AS (VALUES {values})"
            f" SELECT starts.k AS k, a.act FROM starts JOIN {self.acts} a"
            f" ON a.story = ? AND a.{self.column} = starts.k"
            " AND (a.published_at > starts.p OR (a.published_at = starts.p AND a.position >= starts.pos))"
            f"{self.act_rows} ORDER BY starts.k, a.published_at, a.position"
        )


def fold_document_whole(key: str, acts: list[DocumentAct], after: None) -> Iterator[DocumentState]:
    """Documents always re-fold from their first act."""
    return fold_document(key, acts)


CLAIMS = Subject(
    "claim",
    "kw_claims",
    "kw_claim_states",
    "kw_claim_states",
    decode_claim_act,
    fold_claim,
    claim_state_rows,
    msgspec.msgpack.Decoder(ClaimState).decode,
)
DOCUMENTS = Subject(
    "document",
    "kw_documents",
    "kw_document_acts",
    "kw_document_states",
    decode_document_act,
    fold_document_whole,
    document_state_rows,
)
