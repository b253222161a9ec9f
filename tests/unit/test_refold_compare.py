"""The streaming comparison of a projection table with its fresh fold: rows merged in key
order, counted to the end, and the first difference named."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from service.audit.refold import compare
from service.audit.snapshot import KeyColumn

KEY = (KeyColumn("story", True), KeyColumn("position", False))


def row(story: str, position: int, state: str = "s") -> dict[str, Any]:
    return {"story": story, "position": position, "state": state}


def test_equal_tables_have_no_difference() -> None:
    rows = [row("a", 1), row("a", 2), row("b", 1)]
    assert compare("t", KEY, rows, list(rows)) == ("t", 3, None)


def test_a_row_only_in_the_table_is_not_in_the_fold() -> None:
    table, live, difference = compare("t", KEY, [row("a", 1), row("a", 2)], [row("a", 2)])
    assert (table, live) == ("t", 2)
    assert difference is not None
    assert (difference.live, difference.fresh, difference.position) == (2, 1, 1)
    assert difference.example == "not in the fold: story='a', position=1, state='s'"


def test_a_row_only_in_the_fold_is_missing_from_the_table() -> None:
    _, _, difference = compare("t", KEY, [row("a", 1)], [row("a", 1), row("b", 7)])
    assert difference is not None
    assert (difference.live, difference.fresh, difference.position) == (1, 2, 7)
    assert difference.example.startswith("missing from the table: story='b', position=7")


def test_a_changed_row_is_named_once_and_counting_goes_on() -> None:
    live = [row("a", 1), row("a", 2, "changed"), row("a", 3, "changed too"), row("c", 1)]
    fresh = [row("a", 1), row("a", 2), row("a", 3), row("c", 1)]
    _, rows, difference = compare("t", KEY, live, fresh)
    assert rows == 4 and difference is not None
    assert (difference.live, difference.fresh, difference.position) == (4, 4, 2)
    assert "state='changed'" in difference.example


keys = st.lists(
    st.tuples(st.sampled_from(["A", "a", "b", "B", "story-0"]), st.integers(0, 5)), unique=True
)


@given(keys, keys)
def test_tables_differ_exactly_when_their_row_sets_differ(
    live_keys: list[tuple[str, int]], fresh_keys: list[tuple[str, int]]
) -> None:
    live = [row(*key) for key in sorted(live_keys)]
    fresh = [row(*key) for key in sorted(fresh_keys)]
    _, rows, difference = compare("t", KEY, live, fresh)
    assert rows == len(live)
    assert (difference is None) == (set(live_keys) == set(fresh_keys))
    if difference is not None:
        assert difference.fresh == len(fresh)


def test_a_key_of_another_type_ends_the_merge_as_a_difference() -> None:
    tampered = {"story": "a", "position": "x", "state": "s"}  # SQLite keeps text in any column
    live = [row("a", 1), tampered, row("b", 1)]
    fresh = [row("a", 1), row("a", 2), row("b", 1)]
    _, rows, difference = compare("t", KEY, live, fresh)
    assert rows == 3 and difference is not None and difference.fresh == 3
    assert difference.example == "not in the fold: story='a', position='x', state='s'"
