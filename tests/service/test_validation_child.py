"""Import's check split by story with a child process (decision 032), on both databases: the
same report as checking in process, and the file's first bad line named whichever process
found it, with nothing stored."""

from __future__ import annotations

import sys
import zlib
from itertools import count, islice
from pathlib import Path

import msgspec
import pytest

from bench.generate import Shape, generate
from service import importer, validation_child
from service.application import Ledger
from service.import_lines import WHOLE, ImportRejected, Part, check_lines
from service.importer import import_file, validate
from service.validation_child import ChildFailed

CHILD = Part(1, 2)


def stories_of(part: Part, wanted: int) -> list[str]:
    """The first ``wanted`` story ids of the form ``s<n>`` that ``part`` owns."""
    return list(islice((s for s in (f"s{n}" for n in count()) if part.owns(s)), wanted))


def line(story: str, n: int, stance: str = "asserts") -> bytes:
    fields = {
        "story": story,
        "id": f"e{n}",
        "type": "story_published",
        "source": "nyt",
        "published_at": f"2020-10-06T{n % 24:02d}:00:00Z",
        "claims": [{"id": "c", "stance": stance, "text": "a claim"}],
    }
    return msgspec.json.encode(fields) + b"\n"


@pytest.fixture
def split(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every file is checked with a child, however small."""
    monkeypatch.setattr(validation_child, "SPLIT_FROM_BYTES", 0)


def test_both_parts_together_are_the_whole(ledger: Ledger, tmp_path: Path) -> None:
    generated = generate(Shape(600, events_per_story=100, claims_per_story=10), tmp_path)
    whole = check_lines(ledger, generated.path, WHOLE, lambda _: None)
    parts = [check_lines(ledger, generated.path, Part(i, 2), lambda _: None) for i in (0, 1)]
    assert sum(p.read for p in parts) == whole.read == 600
    assert parts[0].stories | parts[1].stories == whole.stories
    assert not parts[0].stories & parts[1].stories
    assert all(p.stories for p in parts)  # six stories: both parts hold some


@pytest.mark.usefixtures("split")
def test_a_split_check_reports_what_one_process_does(ledger: Ledger, tmp_path: Path) -> None:
    generated = generate(Shape(3000, events_per_story=500, claims_per_story=40), tmp_path)
    first = tmp_path / "first.jsonl"
    with generated.path.open("rb") as whole:
        first.write_bytes(b"".join(whole.readlines()[:1000]))
    import_file(ledger, first, recorded_by="test")  # some of each story stored already

    assert validation_child.splits(ledger.database, generated.path)
    report = validate(ledger, generated.path, progress=False)
    one_process = check_lines(ledger, generated.path, WHOLE, lambda _: None)

    assert (report.read, report.already_present) == (3000, 1000)
    assert report == one_process
    # The lines each passed, with their bytes' CRC-32s, come back from the child too.
    split_lines = sorted(zip(report.checked.numbers, report.checked.sums, strict=True))
    one = one_process.checked
    assert split_lines == list(zip(one.numbers, one.sums, strict=True))
    with generated.path.open("rb") as whole:
        assert split_lines == [(n, zlib.crc32(raw)) for n, raw in enumerate(whole, start=1)]


@pytest.mark.usefixtures("split")
def test_a_bad_line_only_the_child_checks_rejects_the_file(ledger: Ledger, tmp_path: Path) -> None:
    mine, theirs = stories_of(Part(0, 2), 1)[0], stories_of(CHILD, 1)[0]
    path = tmp_path / "bad.jsonl"
    lines = [line(s, n) for n, s in enumerate([mine, theirs] * 50)]
    lines[61] = line(theirs, 61, stance="confirms").replace(b'"c"', b'"unknown"')
    path.write_bytes(b"".join(lines))

    with pytest.raises(ImportRejected) as rejected:
        import_file(ledger, path, recorded_by="test")

    assert (rejected.value.line, rejected.value.pointer) == (62, "/claims/0/id")
    assert ledger.reader.position() == 0


@pytest.mark.usefixtures("split")
@pytest.mark.parametrize(("child_line", "parent_line"), [(11, 31), (31, 11)])
def test_the_first_bad_line_of_the_file_is_named(
    ledger: Ledger, tmp_path: Path, child_line: int, parent_line: int
) -> None:
    mine, theirs = stories_of(Part(0, 2), 1)[0], stories_of(CHILD, 1)[0]
    lines = [line(s, n) for n, s in enumerate([mine, theirs] * 2000)]
    # Lines are numbered from 1: line k is lines[k - 1]; odd numbers are the parent's story.
    lines[child_line] = b'{"story": "' + theirs.encode() + b'", "id": 5}\n'
    lines[parent_line - 1] = b'{"story": "' + mine.encode() + b'", "id": 5}\n'
    path = tmp_path / "two-bad.jsonl"
    path.write_bytes(b"".join(lines))

    with pytest.raises(ImportRejected) as rejected:
        validate(ledger, path, progress=False)

    assert rejected.value.line == min(child_line + 1, parent_line)
    assert ledger.reader.position() == 0


@pytest.mark.usefixtures("split")
def test_a_child_that_ends_without_answering_fails_the_import(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "fine.jsonl"
    path.write_bytes(b"".join(line(s, n) for n, s in enumerate(stories_of(CHILD, 3))))
    monkeypatch.setattr(sys, "executable", "/bin/false")

    with pytest.raises(ChildFailed, match="exited with 1"):
        import_file(ledger, path, recorded_by="test")
    assert ledger.reader.position() == 0


def test_small_files_are_checked_in_process(ledger: Ledger, tmp_path: Path) -> None:
    path = tmp_path / "small.jsonl"
    path.write_bytes(line("s", 0))
    assert not validation_child.splits(ledger.database, path)
    assert importer.validate(ledger, path, progress=False).read == 1
