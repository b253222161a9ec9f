"""Import, replay and verify run with the cyclic collector paused, and make no cyclic garbage
that would pile up meanwhile; a server process's app tunes its collector once started."""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from bench.generate import Shape, generate
from service.api import create_app
from service.application import Ledger
from service.audit.verify import verify
from service.collection import SERVING_THRESHOLDS, collector_paused
from service.import_lines import ImportRejected
from service.importer import import_file
from service.settings import Settings


@pytest.fixture
def collector_on() -> Iterator[None]:
    """The collector on at the start, and on again at the end whatever the test did."""
    was = gc.isenabled()
    gc.enable()
    try:
        yield
    finally:
        (gc.enable if was else gc.disable)()


def test_the_collector_is_off_in_the_block_and_on_after_it(collector_on: None) -> None:
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(ValueError), collector_paused():
        raise ValueError
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off(collector_on: None) -> None:
    gc.disable()
    with collector_paused():
        pass
    assert not gc.isenabled()


def test_overlapping_blocks_in_threads_turn_it_on_once_both_end(collector_on: None) -> None:
    entered, leave = threading.Event(), threading.Event()

    def other() -> None:
        with collector_paused():
            entered.set()
            leave.wait(5)

    thread = threading.Thread(target=other)
    with collector_paused():
        thread.start()
        entered.wait(5)
    assert not gc.isenabled()
    leave.set()
    thread.join(5)
    assert gc.isenabled()


def test_a_refused_import_turns_the_collector_back_on(
    collector_on: None, ledger: Ledger, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"story": "s", "id": "e1"}\n')
    with pytest.raises(ImportRejected):
        import_file(ledger, bad, "test")
    assert gc.isenabled()


def garbage_of(run: Callable[..., object], *args: object, **kwargs: object) -> int:
    """The unreachable objects ``run(*args, **kwargs)`` leaves for the cyclic collector (it
    runs with the collector off)."""
    gc.collect()
    gc.disable()
    try:
        run(*args, **kwargs)
        return gc.collect()
    finally:
        gc.enable()


@pytest.fixture(scope="module")
def two_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Generated files of 300 and 3,000 events."""
    folder = tmp_path_factory.mktemp("generated")
    small = generate(Shape(events=300, events_per_story=100, claims_per_story=20), folder).path
    large = generate(Shape(events=3000, events_per_story=100, claims_per_story=20), folder).path
    return small, large


def test_bulk_work_leaves_no_cyclic_garbage_that_grows_with_the_events(
    collector_on: None, two_files: tuple[Path, Path], tmp_path: Path
) -> None:
    found: dict[str, list[int]] = {"import": [], "replay": [], "verify": []}
    for path in two_files:
        ledger = Ledger(str(tmp_path / f"{path.stem}.sqlite3"))
        try:
            found["import"].append(garbage_of(import_file, ledger, path, "test"))
            found["replay"].append(garbage_of(ledger.replay, workers=0))
            found["verify"].append(garbage_of(verify, ledger, workers=0))
        finally:
            ledger.close()
    for work, (small, large) in found.items():
        assert large < 50 + small, (work, found)
    print(found)  # ten times the events, not more garbage


@pytest.fixture
def thresholds_restored() -> Iterator[None]:
    """The collector's thresholds and its permanent generation as they were, after the test."""
    thresholds = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def test_a_server_process_s_app_freezes_what_is_alive_once_started_and_raises_the_thresholds(
    settings: Settings, ledger: Ledger, thresholds_restored: None
) -> None:
    gc.unfreeze()
    with TestClient(create_app(settings, ledger)) as client:
        assert client.get("/healthz").status_code == 200
        assert gc.get_threshold() != SERVING_THRESHOLDS
        assert gc.get_freeze_count() == 0
    with TestClient(create_app(settings, ledger, serving=True)) as client:
        assert gc.get_threshold() == SERVING_THRESHOLDS
        assert gc.get_freeze_count() > 0
        assert client.get("/healthz").status_code == 200
