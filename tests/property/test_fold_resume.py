"""A claim fold resumed from any intermediate state yields exactly the states of a whole fold.

The projector re-folds a claim from the stored state before its earliest new act
(``fold_claim(…, after=state)``); this holds that shortcut to the whole fold, for any acts.
"""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from domain.knowledge import ClaimAct, fold_claim
from tests.strategies import BASE, SOURCES

STANCES = ("asserts", "confirms", "disputes", "acknowledges", "corrects", "retracts")


@st.composite
def claim_act_lists(draw: st.DrawFn) -> list[ClaimAct]:
    """Acts on one claim in fold order, with texts, occurred_at and primary releases mixed in."""
    acts = []
    for position in range(1, draw(st.integers(1, 14)) + 1):
        stance = draw(st.sampled_from(STANCES))
        with_text = stance in ("asserts", "corrects")
        acts.append(
            ClaimAct(
                event_id=f"e{position}",
                event_type="document_released" if draw(st.booleans()) else "story_published",
                source=draw(st.sampled_from(SOURCES)),
                stance=stance,  # type: ignore[arg-type]
                published_at=BASE + timedelta(minutes=position),
                position=position,
                text=f"text {draw(st.integers(0, 3))}" if with_text else None,
                occurred_at=draw(st.sampled_from([None, "2018-05-11", "2018-06-20"])),
                primary=stance in ("asserts", "confirms") and draw(st.booleans()),
            )
        )
    return acts


@given(acts=claim_act_lists(), cut=st.integers(0, 14))
def test_a_resumed_fold_equals_the_whole_fold(acts: list[ClaimAct], cut: int) -> None:
    cut = min(cut, len(acts) - 1)
    whole = list(fold_claim("c", acts))
    before = whole[cut - 1] if cut else None
    resumed = list(fold_claim("c", acts[cut:], after=before))
    assert resumed == whole[cut:]


def test_a_correction_before_the_first_assertion_keeps_its_text() -> None:
    corrects = ClaimAct("e1", "correction_issued", "nyt", "corrects", BASE, 1, text="fixed")
    asserts = ClaimAct(
        "e2", "story_published", "nbc", "asserts", BASE + timedelta(hours=1), 2, text="first"
    )
    states = list(fold_claim("c", [corrects, asserts]))
    assert [s.text for s in states] == ["fixed", "fixed"]
    assert [s.visible for s in states] == [False, True]
    assert states[1].first_reported_by == "nbc"
    assert list(fold_claim("c", [asserts], after=states[0])) == [states[1]]
