"""RFC 9162 Merkle tree: roots and proofs check out against an independent RFC verifier."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service import merkle
from service.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    PackedHashes,
    consistency_path,
    inclusion_path,
    leaf_hash,
    node_hash,
    root_hash,
)


def _sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _interior(left: bytes, right: bytes) -> bytes:
    return _sha(b"\x01" + left + right)


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2, step by step, sharing no code with the module under test."""
    if index >= size:
        return False
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = _interior(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _interior(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    first: int, second: int, proof: Sequence[bytes], first_root: bytes, second_root: bytes
) -> bool:
    """RFC 9162 §2.1.4.2, step by step; equal sizes are the trivial case the RFC leaves out."""
    if not 0 < first <= second:
        return False
    if first == second:
        return not proof and first_root == second_root
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = _interior(c, fr)
            sr = _interior(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = _interior(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0


def flipped(data: bytes, at: int = 0) -> bytes:
    """``data`` with the byte at ``at`` inverted."""
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]


def hashes(*entries: bytes) -> list[bytes]:
    return [leaf_hash(e) for e in entries]


# The 8-entry test tree of the Certificate Transparency reference implementation.
CT_ENTRIES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_INCLUSION = [
    (0, 1, []),
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]  # fmt: skip
CT_CONSISTENCY = [
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]  # fmt: skip

leaf_lists = (
    st.integers(1, 70)
    .flatmap(lambda n: st.lists(st.binary(max_size=16), min_size=n, max_size=n))
    .map(lambda entries: hashes(*entries))
)
"""Leaf hashes of 1 to 70 entries, with the count drawn uniformly so large trees are common."""
DISTINCT = hashes(*(i.to_bytes(2, "big") for i in range(70)))


def test_the_empty_tree_has_the_hash_of_nothing_as_root() -> None:
    expected = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert EMPTY_ROOT.hex() == expected
    assert root_hash([]) == EMPTY_ROOT
    assert MerkleTree().root() == EMPTY_ROOT
    assert MerkleTree(DISTINCT).root(0) == EMPTY_ROOT


def test_leaves_and_nodes_are_hashed_with_distinct_prefixes() -> None:
    a, b = _sha(b"a"), _sha(b"b")
    assert leaf_hash(b"abc") == _sha(b"\x00abc")
    assert node_hash(a, b) == _sha(b"\x01" + a + b)
    assert root_hash([a]) == a
    assert root_hash([a, b]) == node_hash(a, b)


def test_ct_reference_roots() -> None:
    leaves = hashes(*CT_ENTRIES)
    tree = MerkleTree(leaves)
    for size, expected in enumerate(CT_ROOTS, start=1):
        assert root_hash(leaves[:size]).hex() == expected
        assert tree.root(size).hex() == expected


@pytest.mark.parametrize(("index", "size", "expected"), CT_INCLUSION)
def test_ct_reference_inclusion_proofs(index: int, size: int, expected: list[str]) -> None:
    leaves = hashes(*CT_ENTRIES)
    assert [h.hex() for h in inclusion_path(leaves[:size], index)] == expected
    assert [h.hex() for h in MerkleTree(leaves).inclusion(index, size)] == expected
    proof = [bytes.fromhex(h) for h in expected]
    assert verify_inclusion(leaves[index], index, size, proof, bytes.fromhex(CT_ROOTS[size - 1]))


@pytest.mark.parametrize(("first", "second", "expected"), CT_CONSISTENCY)
def test_ct_reference_consistency_proofs(first: int, second: int, expected: list[str]) -> None:
    leaves = hashes(*CT_ENTRIES)
    assert [h.hex() for h in consistency_path(leaves[:second], first)] == expected
    assert [h.hex() for h in MerkleTree(leaves).consistency(first, second)] == expected
    proof = [bytes.fromhex(h) for h in expected]
    roots = [bytes.fromhex(r) for r in (CT_ROOTS[first - 1], CT_ROOTS[second - 1])]
    assert verify_consistency(first, second, proof, *roots)


@settings(max_examples=60, deadline=None)
@given(leaf_lists)
def test_every_inclusion_proof_verifies_at_every_size(leaves: list[bytes]) -> None:
    tree = MerkleTree(leaves)
    for size in range(1, len(leaves) + 1):
        root = tree.root(size)
        for index in range(size):
            assert verify_inclusion(leaves[index], index, size, tree.inclusion(index, size), root)


@settings(max_examples=60, deadline=None)
@given(leaf_lists)
def test_every_consistency_proof_verifies_between_every_pair_of_sizes(leaves: list[bytes]) -> None:
    tree = MerkleTree(leaves)
    roots = [tree.root(size) for size in range(len(leaves) + 1)]
    for second in range(1, len(leaves) + 1):
        for first in range(1, second + 1):
            proof = tree.consistency(first, second)
            assert verify_consistency(first, second, proof, roots[first], roots[second])


@settings(max_examples=40, deadline=None)
@given(leaf_lists)
def test_the_cached_tree_agrees_with_the_plain_recursive_functions(leaves: list[bytes]) -> None:
    tree = MerkleTree()
    for size, h in enumerate(leaves, start=1):
        assert tree.append(h) == size - 1
        assert tree.root() == root_hash(leaves[:size])
    n = len(leaves)
    for size in range(n + 1):
        assert tree.root(size) == root_hash(leaves[:size])
    for index in range(n):
        assert tree.inclusion(index) == inclusion_path(leaves, index)
    for first in range(1, n + 1):
        assert tree.consistency(first) == consistency_path(leaves, first)
    assert list(MerkleTree(leaves).leaf_hashes) == leaves


@settings(max_examples=40, deadline=None)
@given(leaf_lists)
def test_a_packed_tree_taken_up_from_its_levels_answers_as_it_did(leaves: list[bytes]) -> None:
    tree = MerkleTree(leaves, packed=True)
    again = MerkleTree.from_packed_levels([bytearray(level) for level in tree.packed_levels()])
    assert list(again.leaf_hashes) == leaves
    for size in range(len(leaves) + 1):
        assert again.root(size) == tree.root(size)
    for index in range(len(leaves)):
        assert again.inclusion(index) == tree.inclusion(index)
    more = leaf_hash(b"one more")
    assert again.append(more) == tree.append(more)
    assert again.root() == tree.root()


def test_levels_that_do_not_make_a_tree_are_refused() -> None:
    levels = [
        bytearray(level) for level in MerkleTree([_sha(b"a")] * 4, packed=True).packed_levels()
    ]
    with pytest.raises(ValueError, match="half the hashes"):
        MerkleTree.from_packed_levels([levels[0], levels[2]])
    with pytest.raises(ValueError, match="multiple of 32"):
        MerkleTree.from_packed_levels([levels[0] + b"x"])


@settings(max_examples=100, deadline=None)
@given(leaf_lists, st.data())
def test_a_flipped_byte_anywhere_breaks_an_inclusion_proof(
    leaves: list[bytes], data: st.DataObject
) -> None:
    tree = MerkleTree(leaves)
    size = data.draw(st.integers(1, len(leaves)), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    at = data.draw(st.integers(0, 31), label="byte")
    proof, root, leaf = tree.inclusion(index, size), tree.root(size), leaves[index]
    assert verify_inclusion(leaf, index, size, proof, root)
    assert not verify_inclusion(flipped(leaf, at), index, size, proof, root)
    assert not verify_inclusion(leaf, index, size, proof, flipped(root, at))
    for i in range(len(proof)):
        bad = [flipped(p, at) if j == i else p for j, p in enumerate(proof)]
        assert not verify_inclusion(leaf, index, size, bad, root)


@settings(max_examples=100, deadline=None)
@given(leaf_lists, st.data())
def test_a_flipped_byte_anywhere_breaks_a_consistency_proof(
    leaves: list[bytes], data: st.DataObject
) -> None:
    tree = MerkleTree(leaves)
    second = data.draw(st.integers(1, len(leaves)), label="second")
    first = data.draw(st.integers(1, second), label="first")
    at = data.draw(st.integers(0, 31), label="byte")
    proof, r1, r2 = tree.consistency(first, second), tree.root(first), tree.root(second)
    assert verify_consistency(first, second, proof, r1, r2)
    assert not verify_consistency(first, second, proof, flipped(r1, at), r2)
    assert not verify_consistency(first, second, proof, r1, flipped(r2, at))
    for i in range(len(proof)):
        bad = [flipped(p, at) if j == i else p for j, p in enumerate(proof)]
        assert not verify_consistency(first, second, bad, r1, r2)


def test_proofs_do_not_verify_for_another_position_or_when_cut_or_padded() -> None:
    tree = MerkleTree(DISTINCT[:19])
    for size in range(1, 20):
        root = tree.root(size)
        for index in range(size):
            proof = tree.inclusion(index, size)
            for other in range(size):
                ok = verify_inclusion(DISTINCT[index], other, size, proof, root)
                assert ok == (other == index)
            assert not verify_inclusion(DISTINCT[index], index, size, [*proof, root], root)
            if proof:
                assert not verify_inclusion(DISTINCT[index], index, size, proof[:-1], root)
        for first in range(1, size):
            proof = tree.consistency(first, size)
            r1 = tree.root(first)
            assert not verify_consistency(first, size, [*proof, root], r1, root)
            assert not verify_consistency(first, size, proof[:-1], r1, root)


def test_the_largest_generated_size_is_also_covered_exhaustively() -> None:
    tree = MerkleTree(DISTINCT)
    n = len(DISTINCT)
    root = tree.root()
    assert root == root_hash(DISTINCT)
    for index in range(n):
        assert verify_inclusion(DISTINCT[index], index, n, tree.inclusion(index), root)
    for first in range(1, n + 1):
        assert verify_consistency(first, n, tree.consistency(first), tree.root(first), root)


def test_historical_answers_are_cheap_once_subtrees_are_cached(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tree = MerkleTree(hashes(*(i.to_bytes(4, "big") for i in range(5000))))
    calls = 0
    real = merkle.node_hash

    def counting(left: bytes, right: bytes) -> bytes:
        nonlocal calls
        calls += 1
        return real(left, right)

    monkeypatch.setattr(merkle, "node_hash", counting)
    for size in (1, 2, 3, 1000, 4095, 4096, 4097, 4999, 5000):
        budget = size.bit_length()
        calls = 0
        tree.root(size)
        assert calls <= budget
        calls = 0
        tree.inclusion(size // 3, size)
        assert calls <= budget
        calls = 0
        tree.consistency(max(1, size // 3), size)
        assert calls <= budget


def test_out_of_range_arguments_are_refused() -> None:
    tree = MerkleTree(DISTINCT[:5])
    cases: list[tuple[Callable[[], object], str]] = [
        (lambda: inclusion_path([], 0), "leaf index 0"),
        (lambda: inclusion_path(DISTINCT[:5], 5), "leaf index 5"),
        (lambda: inclusion_path(DISTINCT[:5], -1), "leaf index -1"),
        (lambda: consistency_path(DISTINCT[:5], 0), "first tree size 0"),
        (lambda: consistency_path(DISTINCT[:5], 6), "first tree size 6"),
        (lambda: tree.root(6), "tree size 6"),
        (lambda: tree.root(-1), "tree size -1"),
        (lambda: tree.inclusion(0, 6), "tree size 6"),
        (lambda: tree.inclusion(3, 3), "leaf index 3"),
        (lambda: tree.consistency(1, 6), "tree size 6"),
        (lambda: tree.consistency(4, 3), "first tree size 4"),
        (lambda: tree.append(b"short"), "32 bytes"),
    ]
    for call, match in cases:
        with pytest.raises(ValueError, match=match):
            call()


def test_a_tree_of_equal_sizes_is_trivially_consistent() -> None:
    tree = MerkleTree(DISTINCT[:6])
    assert tree.consistency(6) == [] == consistency_path(DISTINCT[:6], 6)
    assert verify_consistency(6, 6, [], tree.root(), tree.root())
    assert not verify_consistency(6, 6, [], tree.root(), tree.root(5))


def test_packed_hashes_index_like_a_list() -> None:
    hashes = [leaf_hash(bytes([n])) for n in range(5)]
    packed = PackedHashes()
    for h in hashes:
        packed.append(h)
    assert len(packed) == 5 and list(packed) == hashes
    assert (packed[0], packed[-1], packed[-2]) == (hashes[0], hashes[4], hashes[3])
    assert packed[1:4] == hashes[1:4] and packed[::-2] == hashes[::-2]
    for outside in (5, -6):
        with pytest.raises(IndexError):
            packed[outside]


@given(st.integers(0, 40))
def test_a_packed_tree_answers_as_the_plain_one(n: int) -> None:
    leaves = [leaf_hash(bytes([i])) for i in range(n)]
    plain, packed = MerkleTree(leaves), MerkleTree(leaves, packed=True)
    assert list(packed.leaf_hashes) == leaves
    for size in range(n + 1):
        assert packed.root(size) == plain.root(size)
        if size:
            assert packed.inclusion(size - 1, size) == plain.inclusion(size - 1, size)
            assert packed.consistency(1, size) == plain.consistency(1, size)
