"""The knewwhen command, run in-process against each backend."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from prov.model import ProvActivity, ProvDocument, ProvEntity

from service.cli import bundled_story_path, main
from service.projections.dialect import PROJECTION_FORMAT
from service.schemas import event_decoder
from tests.service.conftest import BetweenCheckAndWrite
from tests.service.test_tamper import Raw

STORY = "doj-zero-tolerance"

# Runs ``knewwhen ARGS``; returns (exit code, stdout, stderr).
Knewwhen = Callable[..., tuple[int, str, str]]


@pytest.fixture
def knewwhen(
    database: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Knewwhen:
    """Run ``knewwhen ARGS`` on the test database; return (exit code, stdout, stderr)."""
    monkeypatch.setenv("KNEWWHEN_DATABASE", database)

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def line(**fields: object) -> str:
    body: dict[str, object] = {
        "story": "s",
        "type": "story_published",
        "source": "nyt",
        "published_at": "2020-10-06T22:00:00Z",
    }
    body.update(fields)
    return json.dumps(body)


def test_import_then_reimport_stores_nothing_new(knewwhen: Knewwhen, tmp_path: Path) -> None:
    code, out, _ = knewwhen("import", str(bundled_story_path()))
    assert code == 0
    assert "15 events read, 15 stored" in out
    code, out, _ = knewwhen("import", "--bundled")
    assert code == 0
    assert "all already stored; nothing new" in out


def test_import_names_the_first_stories_and_counts_the_rest(
    knewwhen: Knewwhen, tmp_path: Path
) -> None:
    path = tmp_path / "many.jsonl"
    path.write_text("\n".join(line(story=f"s{n}", id=f"e{n}") for n in range(7)) + "\n")
    code, out, _ = knewwhen("import", str(path))
    assert code == 0
    assert out.endswith("(stories: 7 in all: s0, s1, s2, s3, s4 and 2 more)\n")


def test_a_bad_line_is_named_and_nothing_is_stored(knewwhen: Knewwhen, tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(
        "\n".join(
            [
                line(id="a", claims=[{"id": "c1", "stance": "asserts", "text": "t"}]),
                line(id="b", claims=[{"id": "c1", "stance": "confirms"}]),
                line(id="c", claims=[{"id": "c1", "stance": "guesses"}]),
            ]
        )
    )
    code, _, err = knewwhen("import", str(path))
    assert code == 1
    assert "line 3: /claims/0/stance" in err
    assert "nothing was stored" in err
    assert knewwhen("knowledge", "s")[0] == 1, "the story must not exist"


def test_a_rule_broken_late_in_the_file_stores_nothing(knewwhen: Knewwhen, tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(
        line(id="a", claims=[{"id": "c1", "stance": "asserts", "text": "t"}])
        + "\n\n"
        + line(id="b", type="report_confirmed", claims=[{"id": "c9", "stance": "confirms"}])
        + "\n"
    )
    code, _, err = knewwhen("import", str(path))
    assert code == 1
    assert "line 3: /claims/0/id: unknown claim 'c9'" in err
    assert "no story 's'" in knewwhen("timeline", "s")[2]


def test_a_file_checked_against_a_stored_story_may_cite_and_repeat_it_not_rewrite_it(
    knewwhen: Knewwhen, tmp_path: Path
) -> None:
    """The check asks the store for the stored events a line names (a story keeps no ids of
    its own, decision 052): a citation of one passes, a changed body under its id is refused
    before anything of the file is stored."""
    first = line(id="a", claims=[{"id": "c1", "stance": "asserts", "text": "t"}])
    path = tmp_path / "first.jsonl"
    path.write_text(first + "\n")
    assert knewwhen("import", str(path))[0] == 0
    confirms = [{"id": "c1", "stance": "confirms"}]
    path.write_text(
        first + "\n" + line(id="b", type="report_confirmed", claims=confirms, cites=["a"]) + "\n"
    )
    code, out, _ = knewwhen("import", str(path))
    assert code == 0
    assert "2 events read, 1 stored, 1 already present" in out
    path.write_text(line(id="c") + "\n" + line(id="a", source="wsj") + "\n")
    code, _, err = knewwhen("import", str(path))
    assert code == 1
    assert "line 2: /id: event id 'a' is already used in this story" in err
    assert "nothing was stored" in err
    exported = knewwhen("export", "s")[1].splitlines()
    assert [json.loads(e)["id"] for e in exported] == ["a", "b"]


def test_an_event_published_after_the_import_is_rejected_and_nothing_stored(
    knewwhen: Knewwhen, tmp_path: Path
) -> None:
    path = tmp_path / "future.jsonl"
    path.write_text(line(id="a") + "\n" + line(id="b", published_at="2120-10-06T22:00:00Z") + "\n")
    code, _, err = knewwhen("import", str(path))
    assert code == 1
    assert "line 2: /published_at: published_at 2120-10-06T22:00:00Z is later than" in err
    assert "nothing was stored" in err
    assert "no story 's'" in knewwhen("timeline", "s")[2]


def test_a_line_changed_after_the_check_stops_the_import_saying_what_was_stored(
    knewwhen: Knewwhen, tmp_path: Path, between_check_and_write: BetweenCheckAndWrite
) -> None:
    path = tmp_path / "changing.jsonl"
    lines = [line(story=story, id=f"e{n}") for n, story in enumerate("abcd")]
    path.write_text("\n".join(lines) + "\n")
    changed = "\n".join([*lines[:3], line(story="d", id="not an id!")]) + "\n"
    between_check_and_write(lambda _, path: path.write_text(changed))

    code, _, err = knewwhen("import", str(path))

    assert code == 1
    assert "line 4: /id" in err
    assert (
        "the 2 events written before it stay stored (the file changed after it was checked)" in err
    )
    # One line a transaction: a and b were written; c's waited for the next line, which failed.
    assert knewwhen("timeline", "b")[0] == 0
    assert "no story 'c'" in knewwhen("timeline", "c")[2]


def test_a_story_changed_after_the_check_stops_the_import_naming_the_line(
    knewwhen: Knewwhen, tmp_path: Path, between_check_and_write: BetweenCheckAndWrite
) -> None:
    path = tmp_path / "three.jsonl"
    path.write_text("\n".join(line(story=s, id=f"e{n}") for n, s in enumerate("abc")) + "\n")
    other = event_decoder.decode(line(id="e1", source="wsj").replace('"story": "s", ', ""))
    between_check_and_write(lambda ledger, _: ledger.append_many({"b": [other]}, "another writer"))

    code, _, err = knewwhen("import", str(path))

    assert code == 1
    assert "line 2: /id: event id 'e1' is already used in this story" in err
    assert "the event written before it stays stored (its story changed after" in err
    assert knewwhen("timeline", "a")[0] == 0
    assert "no story 'c'" in knewwhen("timeline", "c")[2]


def test_naive_timestamps_are_rejected_with_the_field(knewwhen: Knewwhen, tmp_path: Path) -> None:
    path = tmp_path / "naive.jsonl"
    path.write_text(line(id="a", published_at="2020-10-06T22:00:00") + "\n")
    code, _, err = knewwhen("import", str(path))
    assert code == 1
    assert "line 1: /published_at: Expected `datetime` with a timezone component" in err


def test_knowledge_json_is_the_documented_shape(knewwhen: Knewwhen) -> None:
    knewwhen("import", "--bundled")
    code, out, _ = knewwhen(
        "knowledge",
        STORY,
        "--at",
        "2020-10-07",
        "--recorded-before",
        "2100-01-01T00:00:00Z",
        "--json",
    )
    assert code == 0
    answer = json.loads(out)
    assert set(answer) == {
        "story",
        "at",
        "recorded_before",
        "claims",
        "documents",
        "events_applied",
    }
    assert answer["at"] == "2020-10-07T23:59:59.999999Z"
    assert answer["recorded_before"] == "2100-01-01T00:00:00Z"
    sessions = next(c for c in answer["claims"] if c["id"] == "sessions-take-away-children")
    assert sessions["status"] == "corroborated"
    assert sessions["supported_by"] == ["nbc", "nyt"]
    assert set(sessions) == {
        "id",
        "text",
        "status",
        "supported_by",
        "disputed_by",
        "first_reported_at",
        "first_reported_by",
        "occurred_at",
        "events",
    }
    firsts = [(c["first_reported_at"], c["id"]) for c in answer["claims"]]
    assert firsts == sorted(firsts)


def test_readable_knowledge_timeline_history_and_changes(knewwhen: Knewwhen) -> None:
    knewwhen("import", "--bundled")
    code, out, _ = knewwhen("knowledge", STORY, "--at", "2021-02-01")
    assert code == 0
    assert "confirmed     sessions-take-away-children" in out
    code, out, _ = knewwhen("timeline", STORY)
    assert out.splitlines()[0].startswith("2018-04-06T16:00:00Z  document_released")
    code, out, _ = knewwhen("history", STORY, "sessions-take-away-children")
    assert [line.split("→ ")[1].split(":")[0] for line in out.splitlines()] == [
        "reported",
        "corroborated",
        "confirmed",
    ]
    code, out, _ = knewwhen(
        "changes", STORY, "--from", "2020-10-05", "--to", "2020-10-08", "--json"
    )
    changes = json.loads(out)["changes"]
    assert {
        "at": "2020-10-06T23:30:00Z",
        "event": "nyt-2020-10-06-story",
        "kind": "claim_reported",
        "claim": "sessions-take-away-children",
        "status": "reported",
    } in changes
    assert all("2020-10-05" < c["at"] <= "2020-10-08T23:59:59.999999Z" for c in changes)


def test_export_round_trips_through_import(
    knewwhen: Knewwhen, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    knewwhen("import", "--bundled")
    _, exported, _ = knewwhen("export", STORY)
    assert len(exported.splitlines()) == 15
    path = tmp_path / "exported.jsonl"
    path.write_text(exported)
    assert "all already stored" in knewwhen("import", str(path))[1]
    monkeypatch.setenv("KNEWWHEN_DATABASE", str(tmp_path / "copy.sqlite3"))
    assert knewwhen("import", str(path))[0] == 0
    assert knewwhen("export", STORY)[1] == exported


def test_replay_rebuilds_and_answers_the_same(knewwhen: Knewwhen) -> None:
    knewwhen("import", "--bundled")
    before = knewwhen("knowledge", STORY, "--at", "2021-02-01", "--json")[1]
    code, out, _ = knewwhen("replay")
    assert code == 0
    assert "replayed 16 stored events" in out
    assert knewwhen("knowledge", STORY, "--at", "2021-02-01", "--json")[1] == before


def test_replay_with_fold_workers_answers_the_same(knewwhen: Knewwhen) -> None:
    knewwhen("import", "--bundled")
    before = knewwhen("knowledge", STORY, "--at", "2021-02-01", "--json")[1]
    code, out, _ = knewwhen("replay", "--workers", "2")
    assert (code, "replayed 16 stored events" in out) == (0, True)
    assert knewwhen("knowledge", STORY, "--at", "2021-02-01", "--json")[1] == before


def test_replay_refuses_a_negative_worker_count(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["replay", "--workers", "-1"])
    assert exited.value.code == 2
    assert "--workers: '-1' is not a whole number of processes" in capsys.readouterr().err


def test_projections_of_an_earlier_format_are_refused_until_replay_rebuilds_them(
    knewwhen: Knewwhen, database: str
) -> None:
    knewwhen("import", "--bundled")
    before = knewwhen("knowledge", STORY, "--at", "2021-02-01", "--json")[1]
    raw = Raw(database)
    # Format 1: no kw_meta, claim act rows in a table of their own, without recorded_at and
    # event_id (replay drops it: a table of an earlier format).
    raw.run("DROP TABLE kw_meta")
    raw.run(
        "CREATE TABLE kw_claim_acts (story TEXT NOT NULL, claim TEXT NOT NULL,"
        " published_at BIGINT NOT NULL, position BIGINT NOT NULL, act BYTEA NOT NULL,"
        " PRIMARY KEY (story, claim, published_at, position))"
    )
    code, out, err = knewwhen("knowledge", STORY, "--at", "2021-02-01", "--json")
    assert (code, out) == (1, "")
    expected = f"format 1; this release reads format {PROJECTION_FORMAT}"
    assert f"projection tables of this database are {expected}" in err
    assert "run `knewwhen replay`" in err
    code, _, err = knewwhen("serve", "--port", "0")  # refused before it would listen
    assert code == 1
    assert err.startswith("knewwhen serve: the projection tables of this database are format 1")
    code, out, _ = knewwhen("replay")
    assert code == 0
    assert "replayed 16 stored events" in out
    assert knewwhen("knowledge", STORY, "--at", "2021-02-01", "--json")[1] == before
    assert raw.run("SELECT value FROM kw_meta WHERE name = 'projection_format'") == [
        (str(PROJECTION_FORMAT),)
    ]
    catalog = (
        "information_schema.tables WHERE table_name" if raw.postgres else "sqlite_master WHERE name"
    )
    assert not raw.run(f"SELECT 1 FROM {catalog} = 'kw_claim_acts'")
    assert knewwhen("verify")[0] == 0


def test_errors_are_clear(knewwhen: Knewwhen) -> None:
    knewwhen("import", "--bundled")
    assert knewwhen("knowledge", "nope") == (1, "", "knewwhen knowledge: no story 'nope'\n")
    code, _, err = knewwhen("knowledge", STORY, "--at", "yesterday")
    assert code == 2
    assert "--at: 'yesterday' is neither an RFC 3339 timestamp" in err
    code, out, err = knewwhen("changes", STORY, "--from", "2020-10-08", "--to", "2020-10-01")
    assert (code, out) == (2, "")
    assert err == (
        "knewwhen changes: --from: 2020-10-08T23:59:59.999999Z is after --to"
        " (2020-10-01T23:59:59.999999Z); the interval is (from, to]\n"
    )
    code, _, err = knewwhen("history", STORY, "no-such-claim")
    assert code == 1
    assert "has no claim 'no-such-claim'" in err
    code, _, err = knewwhen("import", "/no/such/file.jsonl")
    assert (code, err) == (1, "knewwhen import: no such file: /no/such/file.jsonl\n")


@pytest.mark.parametrize(
    "args",
    [
        ("verify",),
        ("knowledge", STORY),
        ("timeline", STORY),
        ("export", STORY),
        ("provenance", STORY),
        ("replay",),
    ],
)
def test_a_command_that_reads_refuses_a_sqlite_file_that_does_not_exist(
    args: tuple[str, ...],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    missing = tmp_path / "typo" / "knewwhen.sqlite3"
    monkeypatch.setenv("KNEWWHEN_DATABASE", str(missing))
    assert main(list(args)) == 1
    out, err = capsys.readouterr()
    assert (out, err) == (
        "",
        f"knewwhen {args[0]}: no database at {missing} (KNEWWHEN_DATABASE);"
        " 'knewwhen import' creates one\n",
    )
    assert not missing.parent.exists()


def test_import_and_token_create_the_sqlite_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for command in (["token", "create", "desk", "--role", "reader"], ["import", "--bundled"]):
        database = tmp_path / command[0] / "knewwhen.sqlite3"
        monkeypatch.setenv("KNEWWHEN_DATABASE", str(database))
        assert main(command) == 0
        assert database.exists()
    monkeypatch.setenv("KNEWWHEN_DATABASE", str(tmp_path / "token" / "knewwhen.sqlite3"))
    assert main(["verify"]) == 0
    capsys.readouterr()


def test_verify_prints_what_it_checked_and_exits_0_on_a_clean_database(knewwhen: Knewwhen) -> None:
    knewwhen("token", "create", "desk", "--role", "reader")  # a store with no events yet
    code, out, _ = knewwhen("verify")
    assert code == 0
    assert (
        out.splitlines()[0]
        == "stored events: 0, of which 0 reporting events; 0 match their digests"
    )
    knewwhen("import", "--bundled")
    code, out, err = knewwhen("verify")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[:2] == [
        "stored events: 16, of which 15 reporting events; 15 match their digests",
        "log leaves: 15 recomputed from the stored events, compared",
    ]
    assert lines[2].startswith("tree heads: 1 recorded, 1 match the recomputed tree (root of 15")
    assert lines[3] == "log blocks: 0 stored roots, compared with their leaves"
    assert re.fullmatch(r"projections: \d+ tables, \d+ rows, compared with a fresh fold", lines[4])
    assert lines[-1] == "OK: the log and the projections verify"


def test_verify_progress_counts_both_passes_to_the_end(knewwhen: Knewwhen) -> None:
    knewwhen("import", "--bundled")
    code, _, err = knewwhen("verify", "--progress")
    assert code == 0
    # 16 stored events merged with kw_events, then the 15 reporting events folded.
    assert "projections: 100%" in err and "31/31" in err


def test_verify_exits_1_naming_the_first_bad_index(knewwhen: Knewwhen, database: str) -> None:
    knewwhen("import", "--bundled")
    raw = Raw(database)
    try:
        raw.drop_triggers()
        raw.delete(raw.position_of(3))
    finally:
        raw.close()
    code, _, err = knewwhen("verify")
    assert code == 1
    assert err.startswith("knewwhen verify: FAILED: index 3: ")


def test_provenance_prints_prov_json_or_prov_n(knewwhen: Knewwhen) -> None:
    knewwhen("import", "--bundled")
    code, out, _ = knewwhen(
        "provenance", STORY, "sessions-take-away-children", "--at", "2021-02-01"
    )
    assert code == 0
    document = ProvDocument.deserialize(content=out, format="json")
    entities = {str(e.identifier) for e in document.get_records(ProvEntity)}
    assert "st:claim/sessions-take-away-children" in entities
    activities = {str(a.identifier) for a in document.get_records(ProvActivity)}
    assert "st:event/nyt-2020-10-06-story" in activities
    code, out, _ = knewwhen(
        "provenance",
        STORY,
        "--at",
        "2020-10-07",
        "--recorded-before",
        "2100-01-01",
        "--format",
        "provn",
    )
    assert code == 0
    assert out.startswith("document\n")
    assert out.rstrip().endswith("endDocument")
    assert "activity(st:event/guardian-2020-10-08-correction" not in out
    assert "activity(st:event/nyt-2020-10-06-story" in out


def test_provenance_refusals_name_the_story_or_claim(knewwhen: Knewwhen) -> None:
    knewwhen("import", "--bundled")
    assert knewwhen("provenance", "nope") == (1, "", "knewwhen provenance: no story 'nope'\n")
    code, out, err = knewwhen("provenance", STORY, "no-such-claim")
    assert (code, out) == (1, "")
    assert err.startswith(
        f"knewwhen provenance: story {STORY!r} has no claim 'no-such-claim' public at "
    )
    code, _, err = knewwhen(
        "provenance", STORY, "sessions-take-away-children", "--at", "2020-10-01"
    )
    assert code == 1
    assert "no claim 'sessions-take-away-children' public at 2020-10-01T23:59:59.999999Z" in err
    code, _, err = knewwhen("provenance", STORY, "--at", "yesterday")
    assert code == 2
    assert "--at: 'yesterday' is neither" in err
