"""Replay's transaction and verify's snapshot may wait for their workers as long as they must:
on PostgreSQL the library ends a connection idle in a transaction after 5 s, which ended both
on a long story. The limit is lifted for those transactions alone."""

from __future__ import annotations

from typing import Any

import pytest

from service.application import Ledger
from service.audit.snapshot import snapshot
from service.projections.dialect import Dialect
from service.projections.rebuild import Rebuild
from tests.builders import claim, event


def idle_limit(cursor: Any, dialect: Dialect) -> str | None:
    """The transaction's ``idle_in_transaction_session_timeout``; None on SQLite, which has
    none."""
    if dialect.name != "postgres":
        return None
    cursor.execute("SHOW idle_in_transaction_session_timeout")
    return str(cursor.fetchone()["idle_in_transaction_session_timeout"])


def test_verify_s_snapshot_has_no_idle_limit(ledger: Ledger) -> None:
    datastore = ledger.recorder.datastore  # type: ignore[attr-defined]
    postgres = ledger.dialect.name == "postgres"
    with snapshot(datastore, ledger.dialect, ledger.store) as snap:
        assert idle_limit(snap.cursor, ledger.dialect) == ("0" if postgres else None)
    with datastore.transaction(commit=False) as cursor:  # others keep the library's
        assert idle_limit(cursor, ledger.dialect) == ("5s" if postgres else None)


def test_replay_s_transaction_has_no_idle_limit(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger.append(
        "s", [event("story_published", "e1", "a", "2020-10-06T10:00", claim("c1", "asserts"))], "t"
    )
    seen: list[str | None] = []
    run = Rebuild.run

    def watched(self: Rebuild, cursor: Any, *args: Any) -> Any:
        seen.append(idle_limit(cursor, ledger.dialect))
        return run(self, cursor, *args)

    monkeypatch.setattr(Rebuild, "run", watched)
    assert ledger.replay(workers=0) == 2
    postgres = ledger.dialect.name == "postgres"
    assert seen == (["0"] if postgres else [None])
    datastore = ledger.recorder.datastore  # type: ignore[attr-defined]
    with datastore.transaction(commit=False) as cursor:  # replay committed: nothing else kept it
        assert idle_limit(cursor, ledger.dialect) == ("5s" if postgres else None)
