"""The benchmark harness, run small: every ratio comes out a finite number, in a strict JSON file."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import msgspec
import pytest

from bench import answer_shape, long_story, pages
from bench.ab import ROOT, compare, report
from bench.ab_bulk import compare_bulk, timed_cli
from bench.ab_bulk import report as bulk_report
from bench.config import quick
from bench.databases import Databases
from bench.generate import Shape, generate
from bench.measure_rows import RowsJob, connect, rows_in_key_order, write_rows
from bench.report import RATIO_KEYS, build, markdown, write
from bench.run import run
from service.application import Ledger
from service.importer import import_file
from service.persistence import is_postgres_url
from service.projections.dialect import POSTGRES, PROJECTION_TABLES, SQLITE


def test_quick_run_writes_every_ratio_as_a_finite_number(tmp_path: Path) -> None:
    config = quick(
        scales=(400, 1200),
        events_per_story=200,
        workdir=str(tmp_path / "work"),
        in_process=True,
    )
    measured = run(config, progress=lambda message: None)
    results = build(measured, msgspec.to_builtins(config), {"cpu": "test"}, "bench --quick")
    saved = json.loads(write(results, tmp_path / "results").read_text())

    assert set(RATIO_KEYS) <= set(saved["ratios"])
    for key in RATIO_KEYS:
        value = saved["ratios"][key]
        assert isinstance(value, int | float) and math.isfinite(value), (key, value)
    figures = saved["figures"]["1200"]
    assert figures["naive_mismatches"]["median"] == 0
    assert figures["http_knowledge_errors"]["median"] == 0
    assert figures["http_post_errors"]["median"] == 0
    assert figures["http_post_busy_errors"]["max"] == 0
    assert figures["http_post_busy_events_per_s"]["median"] > 0
    assert figures["http_uncached_requests_per_s"]["median"] > 0
    assert figures["mean_answer_kib"]["median"] > 0
    assert figures["mean_event_ids_per_answer"]["median"] > 0
    assert figures["claim_history_p50_us"]["median"] > 0
    assert figures["verify_events_per_s"]["median"] > 0
    assert len(figures["knowledge_p50_us_at_smallest"]["runs"]) == config.repeats
    assert "knowledge_p50_us_at_smallest" not in saved["figures"]["400"]
    assert saved["ratios"]["knowledge_p50_growth"] == (
        figures["knowledge_p50_us"]["median"] / figures["knowledge_p50_us_at_smallest"]["median"]
    )
    assert math.isfinite(saved["ratios"]["http_uncached_vs_hello"])
    for key in ("replay_vs_rows_write", "rows_write_vs_raw"):
        assert math.isfinite(saved["ratios"][key]) and saved["ratios"][key] > 0, key
    assert saved["generated"]["1200"]["events"] == 1200
    assert "| `import_vs_raw` |" in markdown(results)


def test_the_generator_is_deterministic_and_shaped_as_asked(tmp_path: Path) -> None:
    shape = Shape(3000, events_per_story=500, claims_per_story=40, seed=7)
    first = generate(shape, tmp_path)
    digest = hashlib.sha256(first.path.read_bytes()).hexdigest()
    again = generate(shape, tmp_path)
    other = generate(Shape(3000, events_per_story=500, claims_per_story=40, seed=8), tmp_path)

    assert hashlib.sha256(again.path.read_bytes()).hexdigest() == digest
    assert other.summary() != first.summary()
    summary = first.summary()
    assert (summary["events"], summary["stories"]) == (3000, 6)
    assert 230 <= summary["claims"] <= 240
    assert 0.03 <= summary["late_fraction"] <= 0.07
    assert 2.5 <= summary["stances_per_event"] <= 3.2
    assert 400 <= summary["mean_line_bytes"] <= 700
    assert summary["document_revisions"] > 0


@pytest.mark.parametrize("events_per_story", [100, 1000, 40_000])
def test_generated_stories_of_any_length_end_before_2026(
    tmp_path: Path, events_per_story: int
) -> None:
    lines = generate(Shape(40_000, events_per_story=events_per_story), tmp_path).path
    times = [msgspec.json.decode(line)["published_at"] for line in lines.read_bytes().splitlines()]
    assert min(times) > "2015-01-01" and max(times) < "2026-01-01"


def test_a_second_run_of_the_day_does_not_overwrite_the_first(tmp_path: Path) -> None:
    results = {
        "date": "2026-12-05T20:00:00+00:00",
        "figures": {"10000": {}, "100000": {}},
        "database": "sqlite",
        "machine": {"commit": "1d39e1afd7e9f9be24654f3a9de257fed27629ed"},
    }
    paths = [write({**results, "run": n}, tmp_path).name for n in range(3)]
    assert paths == [
        "2026-12-05-10000-100000.json",
        "2026-12-05-10000-100000-1d39e1a.json",
        "2026-12-05-10000-100000-1d39e1a-3.json",
    ]
    assert [json.loads((tmp_path / p).read_text())["run"] for p in paths] == [0, 1, 2]


def test_ab_serves_revisions_over_one_database_and_reports_each(tmp_path: Path) -> None:
    generated = generate(Shape(300, events_per_story=100, claims_per_story=20), tmp_path)
    database = str(tmp_path / "ab.sqlite3")
    ledger = Ledger(database)
    try:
        import_file(ledger, generated.path, "bench")
    finally:
        ledger.close()

    found = compare(database, ["HEAD"], rounds=2, seconds=1)

    rounds = found["HEAD"]
    assert len(rounds) == 2
    assert all(r.requests_per_s > 0 and r.cpu_us_per_request > 0 for r in rounds)
    assert report(found).splitlines()[2].startswith("| HEAD | ")

    found = compare(database, ["HEAD"], rounds=1, seconds=1, connections=4, posts=40)
    assert found["HEAD"][0].requests_per_s > 0
    ledger = Ledger(database)
    try:
        written = [s for s in ledger.reader.stories() if s.story.startswith("ab")]
    finally:
        ledger.close()
    assert sorted(s.story_version for s in written) == [10, 10, 10, 10]
    compare(database, ["HEAD"], rounds=1, seconds=1, connections=4, posts=40)
    ledger = Ledger(database)
    try:
        assert len([s for s in ledger.reader.stories() if s.story.startswith("ab")]) == 8
    finally:
        ledger.close()


def test_the_page_size_comparison_imports_and_replays_into_each_size(tmp_path: Path) -> None:
    found = pages.compare(600, [4096, 16384], rounds=1, folder=tmp_path)

    assert [one.page_size for one in found] == [4096, 16384]
    for one in found:
        assert one.import_events_per_s > 0 and one.replay_events_per_s > 0
        assert one.import_written_mb > 0 and one.file_mb > 0
    assert pages.report(found).count("\n") == 3
    assert not list(tmp_path.glob("pages-*"))  # each database removed after its round


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def bench_databases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Databases]:
    """The bench's throwaway databases of each kind; every one made is gone afterwards."""
    kind = request.param
    server = request.getfixturevalue("postgres_server") if kind == "postgres" else None
    databases = Databases(server, tmp_path)
    try:
        yield databases
    finally:
        databases.drop_all()
    assert databases.made == []


def test_a_copied_database_holds_what_the_original_held(
    bench_databases: Databases, tmp_path: Path
) -> None:
    original = imported_store(bench_databases, tmp_path, "original")
    copied = bench_databases.copy(original, "copied")
    ledger = Ledger(copied)
    try:
        assert [s.events for s in ledger.reader.stories()] == [100, 100, 100]
    finally:
        ledger.close()


def test_replays_floor_writes_the_rows_replay_wrote(
    bench_databases: Databases, tmp_path: Path
) -> None:
    imported = imported_store(bench_databases, tmp_path, "imported", replayed=True)
    written = bench_databases.fresh("written")
    found = write_rows(RowsJob(imported, written))
    assert found["events"] == 300 and found["events_per_s"] > 0
    rows = table_rows(imported)
    assert found["rows"] == sum(count for count, _ in rows.values())
    assert table_rows(written) == rows
    ledger = Ledger(written)  # stamped with the current projection format, as replay does
    try:
        assert ledger.recorder.stale_format is None  # type: ignore[attr-defined]
        assert [s.events for s in ledger.reader.stories()] == [100, 100, 100]
    finally:
        ledger.close()


def imported_store(
    databases: Databases, folder: Path, label: str, *, replayed: bool = False
) -> str:
    """A fresh database holding three generated stories of 100 events (then replayed)."""
    database = databases.fresh(label)
    lines = generate(Shape(events=300, events_per_story=100), folder).path
    ledger = Ledger(database)
    try:
        import_file(ledger, lines, recorded_by="test")
        if replayed:
            ledger.replay()
    finally:
        ledger.close()
    return database


def table_rows(database: str) -> dict[str, tuple[int, str]]:
    """Each projection table's row count, and a digest of its rows in key order."""
    found: dict[str, tuple[int, str]] = {}
    dialect = POSTGRES if is_postgres_url(database) else SQLITE
    with closing(connect(database)) as connection:
        for table in PROJECTION_TABLES:
            digest, count = hashlib.sha256(), 0
            for page in rows_in_key_order(connection, dialect, table):
                count += len(page)
                digest.update(repr([tuple(map(plain, row)) for row in page]).encode())
            found[table] = (count, digest.hexdigest())
    return found


def plain(value: object) -> object:
    """A column's value as both drivers give it (PostgreSQL's bytea may come as a memoryview)."""
    return bytes(value) if isinstance(value, memoryview) else value


def test_the_answer_shape_table_asks_each_fraction_of_the_span(tmp_path: Path) -> None:
    lines = generate(Shape(events=400, events_per_story=200), tmp_path).path
    ledger = Ledger(str(tmp_path / "store.sqlite3"))
    try:
        import_file(ledger, lines, recorded_by="test")
        found = answer_shape.table(ledger, stories=2, repeats=1)
        early = answer_shape.shapes(ledger, 0.05, 2, 1)
        late = answer_shape.shapes(ledger, 1.0, 2, 1)
    finally:
        ledger.close()
    rows = found.splitlines()[2:]
    assert [row.split(" | ")[0] for row in rows] == ["| 5%", "| 25%", "| 50%", "| 100%"]
    assert all(shape.knewwhen_us > 0 and shape.naive_us > 0 for shape in (*early, *late))
    assert [shape.applied for shape in late] == [200, 200]  # the whole story at its last time
    assert sum(s.event_ids for s in late) > sum(s.event_ids for s in early)


def test_ab_bulk_times_each_revision_s_import_and_replay_round_after_round(tmp_path: Path) -> None:
    shape = Shape(300, events_per_story=100, claims_per_story=20)

    found = compare_bulk(["HEAD"], shape, rounds=2)

    assert len(found["HEAD"]) == 2
    assert all(run.wall_s > 0 and run.cpu_s > 0 for run in found["HEAD"])
    assert bulk_report(found).splitlines()[2].startswith("| HEAD | ")
    replays = compare_bulk(["HEAD"], shape, rounds=1, replay=True)
    assert len(replays["HEAD"]) == 1 and replays["HEAD"][0].cpu_s > 0


def test_ab_bulk_stops_at_a_command_that_fails_with_its_error(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.jsonl")
    with pytest.raises(RuntimeError) as raised:
        timed_cli(ROOT, str(tmp_path / "db.sqlite3"), "import", missing)
    assert str(raised.value).startswith(f"knewwhen import {missing} (")
    assert f"no such file: {missing}" in str(raised.value)  # the command's own stderr


def test_the_long_story_run_writes_each_figure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert long_story.main(["--events", "400", "--claims", "20", "--results", str(tmp_path)]) == 0
    (path,) = tmp_path.glob("*-long-400.json")
    saved = json.loads(path.read_text())
    assert saved["measured"]["reads"]["events"] == 400
    figures = [value_of(saved["measured"]) for _, _, value_of in long_story.ROWS]
    assert all(v is not None and math.isfinite(v) and v > 0 for v in figures[:2] + figures[3:])
    out = capsys.readouterr().out
    assert "One story of 400 events and 20 claims, sqlite:" in out
    assert "| a claim's provenance, median |" in out
