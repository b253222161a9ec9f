"""Diff properties: the JSON operations rebuild revision m from revision n; equal texts: no diff."""

from __future__ import annotations

import itertools
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.events import Document
from service.application import Ledger
from service.diff import apply, lines, operations, unified
from service.documents import Documents
from service.revisions import revision_diff
from tests.builders import event

HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+\d+(?:,\d+)? @@")

line_texts = st.lists(st.sampled_from(["a", "b", "c", "", "a b", " "]), max_size=8).map(
    "\n".join
) | st.lists(st.sampled_from(["a\n", "b\n", "c\n", "\n", "x"]), max_size=8).map("".join)
texts = line_texts | st.text(max_size=40)


def patch(source: str, diff: str) -> str:
    """Apply a unified diff the way ``patch`` does (a test oracle for ``unified``)."""
    old, out, cursor = lines(source), [], 0
    last_side = ""
    for line in lines(diff)[2:]:
        hunk = HUNK.match(line)
        if hunk:
            start = int(hunk.group(1)) - (0 if hunk.group(2) == "0" else 1)
            out.extend(old[cursor:start])
            cursor, last_side = start, "@"
        elif line.startswith("\\"):
            if last_side in (" ", "+"):
                out[-1] = out[-1].removesuffix("\n")
        else:
            last_side = line[0]
            if line[0] in " -":
                cursor += 1
            if line[0] in " +":
                out.append(line[1:])
    return "".join([*out, *old[cursor:]])


@given(texts, texts)
def test_applying_the_operations_to_the_source_yields_the_target(a: str, b: str) -> None:
    runs = operations(a, b)
    assert apply(a, runs) == b
    assert "".join(r.text for r in runs if r.op != "insert") == (a if runs else "")
    assert all(r.text for r in runs)


@given(texts, texts)
def test_the_unified_diff_patches_the_source_into_the_target(a: str, b: str) -> None:
    assert patch(a, unified(a, b, "a", "b")) == b


@given(texts)
def test_identical_texts_have_an_empty_diff(a: str) -> None:
    assert operations(a, a) == []
    assert unified(a, a, "a", "b") == ""


stories = itertools.count()


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(versions=st.lists(line_texts, min_size=1, max_size=5), data=st.data())
def test_stored_revisions_diff_into_each_other(
    ledger: Ledger, versions: list[str], data: st.DataObject
) -> None:
    story = f"s{next(stories)}"
    for day, text in enumerate(versions, start=1):
        doc = Document(id="d", title="T", text=text)
        published = f"2020-10-{day:02d}T10:00"
        ledger.append(story, [event("story_published", f"e{day}", "nyt", published, doc=doc)], "t")
    revisions = Documents.of(ledger).revisions(story, "d")
    kept = [v for i, v in enumerate(versions) if i == 0 or v != versions[i - 1]]
    assert [r.text for r in revisions] == kept
    n = data.draw(st.integers(1, len(revisions)), "n")
    m = data.draw(st.integers(1, len(revisions)), "m")
    old, new = revisions[n - 1], revisions[m - 1]
    diff = revision_diff(old, new)
    assert apply(old.text or "", diff.operations) == new.text
    assert (diff.operations == ()) == (old.text == new.text)
