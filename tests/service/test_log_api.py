"""The audit endpoints over HTTP: tree head, entries, RFC 9162 proofs checked by an independent
verifier, verify for admins only, and provenance as PROV-JSON or PROV-N."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from service import routes_audit
from service.access import Services
from service.application import Ledger
from service.merkle import root_hash
from service.problems import EXCEPTION_HANDLERS
from service.settings import Settings
from service.tokens import TokenStore
from tests.service.test_log import append_some
from tests.service.wire import bearer
from tests.unit.test_merkle import flipped, verify_consistency, verify_inclusion
from tests.unit.test_provenance_provn import parsed, provn_to_json


@pytest.fixture
def audit(settings: Settings, ledger: Ledger, tokens: dict[str, str]) -> Iterator[TestClient]:
    """A TestClient over an app mounting only ``routes_audit.routes``, as ``service.api`` would."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        found = Services(settings, ledger, TokenStore.of(ledger))
        try:
            yield {"services": found}
        finally:
            found.close()

    app = Starlette(
        routes=routes_audit.routes, exception_handlers=EXCEPTION_HANDLERS, lifespan=lifespan
    )
    append_some(ledger, "a")
    append_some(ledger, "b")
    with TestClient(app) as client:
        yield client


def hexes(values: list[str]) -> list[bytes]:
    return [bytes.fromhex(v) for v in values]


def root_at(client: TestClient, size: int) -> bytes:
    """The root of the tree of ``size`` leaves, from the leaves the log serves."""
    leaves = [
        bytes.fromhex(client.get(f"/v1/log/entries/{i}").json()["leaf_hash"]) for i in range(size)
    ]
    return root_hash(leaves)


def test_the_log_head_entries_and_proofs_verify_with_an_rfc_9162_verifier(
    audit: TestClient,
) -> None:
    head = audit.get("/v1/log")
    assert head.status_code == 200
    assert head.headers["content-type"] == "application/json"
    size, root = head.json()["tree_size"], head.json()["root_hash"]
    assert size == 10 and root == root.lower() and len(root) == 64
    entries = [audit.get(f"/v1/log/entries/{i}").json() for i in range(size)]
    for i, entry in enumerate(entries):
        assert entry["index"] == i
        assert hashlib.sha256(b"\x00" + entry["leaf"].encode()).hexdigest() == entry["leaf_hash"]
    leaves = [bytes.fromhex(e["leaf_hash"]) for e in entries]
    roots = {n: root_at(audit, n) for n in range(1, size + 1)}
    assert roots[size].hex() == root
    for n in range(1, size + 1):
        for index in range(n):
            r = audit.get("/v1/log/proof/inclusion", params={"index": index, "tree_size": n})
            assert r.status_code == 200
            body = r.json()
            assert (body["index"], body["tree_size"]) == (index, n)
            proof = hexes(body["audit_path"])
            assert verify_inclusion(leaves[index], index, n, proof, roots[n])
            assert not verify_inclusion(flipped(leaves[index]), index, n, proof, roots[n])
        for first in range(1, n + 1):
            r = audit.get("/v1/log/proof/consistency", params={"first": first, "second": n})
            body = r.json()
            assert (body["first"], body["second"]) == (first, n)
            proof = hexes(body["consistency_path"])
            assert verify_consistency(first, n, proof, roots[first], roots[n])
            assert not verify_consistency(first, n, proof, flipped(roots[first]), roots[n])


@pytest.mark.parametrize(
    ("url", "status", "parameter"),
    [
        ("/v1/log/entries/10", 404, None),
        ("/v1/log/entries/x", 404, None),
        ("/v1/log/proof/inclusion?index=0", 400, "tree_size"),
        ("/v1/log/proof/inclusion?index=5&tree_size=5", 400, "index"),
        ("/v1/log/proof/inclusion?index=0&tree_size=11", 400, "tree_size"),
        ("/v1/log/proof/inclusion?index=-1&tree_size=3", 400, "index"),
        ("/v1/log/proof/consistency?first=0&second=3", 400, "first"),
        ("/v1/log/proof/consistency?first=4&second=3", 400, "first"),
        ("/v1/log/proof/consistency?first=1&second=99", 400, "second"),
        ("/v1/log/proof/consistency?first=a&second=3", 400, "first"),
    ],
)
def test_bad_indexes_and_sizes_are_problems(
    audit: TestClient, url: str, status: int, parameter: str | None
) -> None:
    r = audit.get(url)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    if parameter is not None:
        assert r.json()["errors"][0]["parameter"] == parameter


def test_verify_is_for_admins_only(audit: TestClient, tokens: dict[str, str]) -> None:
    assert audit.get("/v1/log/verify").status_code == 401
    assert audit.get("/v1/log/verify").headers["www-authenticate"].startswith("Bearer")
    assert audit.get("/v1/log/verify", headers=bearer(tokens["writer"])).status_code == 403
    assert audit.get("/v1/log/verify", headers=bearer(tokens["reader"])).status_code == 403
    r = audit.get("/v1/log/verify", headers=bearer(tokens["admin"]))
    assert r.status_code == 200
    body = r.json()
    assert body["ok"] is True and body["failure"] is None and body["failure_index"] is None
    assert any(line.startswith("tree heads: 8 recorded, 8 match") for line in body["checked"])


def test_provenance_is_prov_json_or_prov_n_as_accepted(audit: TestClient) -> None:
    url = "/v1/stories/a/claims/c/provenance"
    as_json = audit.get(url)
    assert as_json.status_code == 200
    assert as_json.headers["content-type"] == "application/json"
    assert "st:claim/c" in as_json.json()["entity"]
    as_provn = audit.get(url, headers={"Accept": "text/provenance-notation"})
    assert as_provn.headers["content-type"] == "text/provenance-notation; charset=utf-8"
    assert parsed(provn_to_json(as_provn.text)) == parsed(as_json.json())
    story = audit.get("/v1/stories/a/provenance", params={"at": "2020-10-07"})
    assert set(story.json()["activity"]) == {"st:event/a-0", "st:event/a-1"}


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/v1/stories/zzz/provenance", 404),
        ("/v1/stories/a/claims/nope/provenance", 404),
        ("/v1/stories/a/claims/c/provenance?at=2020-10-01", 404),
        ("/v1/stories/a/provenance?at=yesterday", 400),
    ],
)
def test_provenance_refusals(audit: TestClient, url: str, status: int) -> None:
    r = audit.get(url)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
