"""Two parts of a file's check report as one."""

from __future__ import annotations

from service.import_lines import ImportReport


def test_two_parts_add_up_to_one_report() -> None:
    mine = ImportReport(read=3, stored=0, already_present=1, stories={"a", "b"})
    theirs = ImportReport(read=2, stored=0, already_present=2, stories={"c"})
    assert mine + theirs == ImportReport(5, 0, 3, {"a", "b", "c"})
    assert ImportReport() + ImportReport(1, 1, 0, {"x"}) == ImportReport(1, 1, 0, {"x"})
