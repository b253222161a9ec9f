"""The change between two texts: a unified diff, and line-run operations that rebuild the target.

Both views come from one ``difflib.SequenceMatcher`` over lines (line endings kept), so they
describe the same change. Identical texts give an empty diff and no operations.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Sequence
from typing import Literal

from msgspec import Struct

OperationKind = Literal["equal", "insert", "delete"]
NO_NEWLINE = "\\ No newline at end of file\n"


class Operation(Struct, frozen=True):
    """One run of the change: text kept (equal), added (insert) or removed (delete)."""

    op: OperationKind
    text: str


def lines(text: str) -> list[str]:
    """Split on ``\\n`` only, keeping it: joined, the lines are the text again."""
    parts = text.split("\n")
    found = [f"{part}\n" for part in parts[:-1]]
    if parts[-1]:
        found.append(parts[-1])
    return found


def operations(source: str, target: str) -> list[Operation]:
    """The runs that turn ``source`` into ``target``, in order; [] when they are equal."""
    if source == target:
        return []
    a, b = lines(source), lines(target)
    runs: list[Operation] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag in ("equal", "delete", "replace"):
            runs.append(Operation("equal" if tag == "equal" else "delete", "".join(a[i1:i2])))
        if tag in ("insert", "replace"):
            runs.append(Operation("insert", "".join(b[j1:j2])))
    return runs


class OperationsMismatch(ValueError):
    """Operations whose equal or delete runs do not match the text they are applied to."""


def apply(source: str, runs: Sequence[Operation]) -> str:
    """Rebuild the target from ``source`` and its operations (the inverse of ``operations``)."""
    if not runs:
        return source
    cursor, out = 0, []
    for run in runs:
        if run.op == "insert":
            out.append(run.text)
            continue
        if not source.startswith(run.text, cursor):
            raise OperationsMismatch(f"{run.op} run does not match the source at {cursor}")
        if run.op == "equal":
            out.append(run.text)
        cursor += len(run.text)
    if cursor != len(source):
        raise OperationsMismatch(f"operations stop at {cursor} of {len(source)} characters")
    return "".join(out)


def unified(
    source: str, target: str, from_label: str, to_label: str, from_date: str = "", to_date: str = ""
) -> str:
    """A unified diff (``text/x-diff``) as ``diff -u`` writes it; "" when the texts are equal."""
    if source == target:
        return ""
    diff_lines = difflib.unified_diff(
        lines(source),
        lines(target),
        from_label,
        to_label,
        from_date,
        to_date,
    )
    return "".join(terminated(diff_lines))


def terminated(lines: Iterator[str]) -> Iterator[str]:
    """End every diff line, marking a last line that had no newline as ``diff`` does."""
    for line in lines:
        yield line if line.endswith("\n") else f"{line}\n{NO_NEWLINE}"
