"""The streaming comparison of a projection table with its fresh fold: the fold's rows, taken
as they come, merged in key order with the live rows, counted to the end, and the first
difference named."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from service.audit.refold import Layout, TableCheck, TableDifference
from service.audit.snapshot import KeyColumn
from service.projections.dialect import PROJECTION_TABLES, SQLITE

# Columns in another order than the key's, as in the state tables.
LAYOUT = Layout(
    "t",
    ("state", "story", "position"),
    (KeyColumn("story", True), KeyColumn("position", False)),
    (1, 2),
)


def row(story: str, position: Any, state: str = "s") -> tuple[Any, ...]:
    return (state, story, position)


def compare(
    live: Sequence[tuple[Any, ...]], *fresh: Sequence[tuple[Any, ...]]
) -> tuple[int, TableDifference | None]:
    """Live rows merged with the fold's, given in one or more takes."""
    check = TableCheck(LAYOUT, live)
    for rows in fresh:
        check.take(rows)
    table, count, difference = check.finish()
    assert table == "t"
    return count, difference


def test_equal_tables_have_no_difference() -> None:
    rows = [row("a", 1), row("a", 2), row("b", 1)]
    assert compare(rows, rows[:1], rows[1:]) == (3, None)


def test_a_row_only_in_the_table_is_not_in_the_fold() -> None:
    live, difference = compare([row("a", 1), row("a", 2)], [row("a", 2)])
    assert live == 2 and difference is not None
    assert (difference.live, difference.fresh, difference.position) == (2, 1, 1)
    assert difference.example == "not in the fold: state='s', story='a', position=1"


def test_a_row_only_in_the_fold_is_missing_from_the_table() -> None:
    _, difference = compare([row("a", 1)], [row("a", 1)], [row("b", 7)])
    assert difference is not None
    assert (difference.live, difference.fresh, difference.position) == (1, 2, 7)
    assert difference.example.startswith("missing from the table: state='s', story='b'")


def test_live_rows_after_the_folds_last_are_not_in_the_fold() -> None:
    _, difference = compare([row("a", 1), row("z", 1)], [row("a", 1)])
    assert difference is not None and difference.position == 1
    assert "story='z'" in difference.example


def test_a_changed_row_is_named_once_and_counting_goes_on() -> None:
    live = [row("a", 1), row("a", 2, "changed"), row("a", 3, "changed too"), row("c", 1)]
    fresh = [row("a", 1), row("a", 2), row("a", 3), row("c", 1)]
    rows, difference = compare(live, fresh)
    assert rows == 4 and difference is not None
    assert (difference.live, difference.fresh, difference.position) == (4, 4, 2)
    assert "state='changed'" in difference.example


keys = st.lists(
    st.tuples(st.sampled_from(["A", "a", "b", "B", "story-0"]), st.integers(0, 5)), unique=True
)


@given(keys, keys, st.integers(0, 10))
def test_tables_differ_exactly_when_their_row_sets_differ(
    live_keys: list[tuple[str, int]], fresh_keys: list[tuple[str, int]], cut: int
) -> None:
    live = [row(*key) for key in sorted(live_keys)]
    fresh = [row(*key) for key in sorted(fresh_keys)]
    rows, difference = compare(live, fresh[:cut], fresh[cut:])
    assert rows == len(live)
    assert (difference is None) == (set(live_keys) == set(fresh_keys))
    if difference is not None:
        assert difference.fresh == len(fresh)


def test_a_key_of_another_type_ends_the_merge_as_a_difference() -> None:
    tampered = row("a", "x")  # SQLite keeps text in any column
    live = [row("a", 1), tampered, row("b", 1)]
    fresh = [row("a", 1), row("a", 2), row("b", 1)]
    rows, difference = compare(live, fresh)
    assert rows == 3 and difference is not None and difference.fresh == 3
    assert difference.example == "not in the fold: state='s', story='a', position='x'"


def test_layouts_are_read_from_the_schema_in_key_order() -> None:
    connection = sqlite3.connect(":memory:")
    connection.row_factory = sqlite3.Row
    for statement in SQLITE.create_statements():
        connection.execute(statement)
    layouts = {table: Layout.read(connection, table) for table in PROJECTION_TABLES}
    states = layouts["kw_claim_states"]
    assert states.columns == (
        "story",
        "claim",
        "recorded_at",
        "published_at",
        "position",
        "state",
        "event_id",
        "act",
    )
    assert [column.name for column in states.key] == [
        "story",
        "claim",
        "published_at",
        "position",
        "recorded_at",
    ]
    assert states.key_indexes == (0, 1, 3, 4, 2)
    assert [column.text for column in states.key] == [True, True, False, False, False]
    assert layouts["kw_events"].key_indexes == (0,)
