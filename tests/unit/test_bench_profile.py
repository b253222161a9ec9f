"""The profile's parts: each sample counted once, for the first part on its stack."""

from __future__ import annotations

from bench.profile import IMPORT_PARTS, OTHER, REPLAY_PARTS, THREADS, part_of, shares, table

SAVE = "Ledger._save (service/application.py:210)"
PROJECT = "Projector.project (service/projections/writer.py:150)"
INSERT = "Dialect.insert_rows (service/projections/dialect.py:235)"
LOG = "VerifiableLog.after_append (service/audit/log.py:114)"
IMPORT = "<module> (knewwhen:6);main (service/cli.py:401);import_file (service/importer.py:158)"
RAW = [
    f"{IMPORT};validate (service/importer.py:137);check_lines (service/import_lines.py:120) 3\n",
    f"{IMPORT};_append (service/importer.py:170);{SAVE};{PROJECT};{INSERT} 5\n",
    f"{IMPORT};_append (service/importer.py:170);{SAVE};{PROJECT};{LOG};{INSERT} 2\n",
    f"{IMPORT};_append (service/importer.py:170);{SAVE} 1\n",
    "Thread._bootstrap (threading.py:1002);Checkpointer._run (service/checkpointer.py:80) 7\n",
    "<module> (knewwhen:3);_find_and_load (<frozen importlib._bootstrap>:1176) 1\n",
    " 4\n",
]


def test_each_sample_counts_for_the_first_part_on_its_stack() -> None:
    found = shares(RAW, IMPORT_PARTS)
    names = {part.frames[0].split(" (")[0]: part.name for part in IMPORT_PARTS}
    assert found[names["validate"]] == 3
    assert found[names["Dialect.insert_rows"]] == 5
    assert found[names["VerifiableLog.after_append"]] == 2  # the log's inserts are the log's
    assert found[names["Ledger._save"]] == 1
    assert found[THREADS] == 7
    assert found[OTHER] == 1 + 4  # start-up, and py-spy's samples without a stack
    assert sum(found.values()) == 3 + 5 + 2 + 1 + 7 + 1 + 4


def test_the_table_shares_the_main_threads_samples_only() -> None:
    printed = table(shares(RAW, IMPORT_PARTS), IMPORT_PARTS)
    inserting = "| inserting the projection rows (`Dialect.insert_rows`) | 31.2 % |"
    assert inserting in printed  # 5 of 16
    assert printed.endswith("16 samples of the main thread; 7 of other threads.")


def test_a_replay_sample_outside_every_part_is_other() -> None:
    assert part_of(["<module> (knewwhen:6)", "main (service/cli.py:401)"], REPLAY_PARTS) == OTHER
    assert part_of([], REPLAY_PARTS) == OTHER


def test_kw_events_written_while_waiting_for_a_worker_count_for_kw_events() -> None:
    run = "main (service/cli.py:401);Ledger.replay (service/application.py:311)"
    rebuild = f"{run};Rebuild.run (service/projections/rebuild.py:286)"
    waiting = f"{rebuild};answers (service/projections/fold_workers.py:188)"
    raw = [
        f"{waiting};Rebuild.event_pages (service/projections/rebuild.py:306);{INSERT} 3\n",
        f"{waiting};Worker.answer (service/projections/fold_workers.py:134) 2\n",
        f"{rebuild};{INSERT} 5\n",
    ]
    found = shares(raw, REPLAY_PARTS)
    names = {part.frames[0].split(" (")[0]: part.name for part in REPLAY_PARTS}
    assert found[names["Rebuild.event_pages"]] == 3
    assert found[names["answers"]] == 2
    assert found[names["Dialect.insert_rows"]] == 5
