"""CompactMerkleTree gives MerkleTree's roots and proofs at every size while holding only block
roots and the last two blocks' leaves, reading other leaves back (one block at a time)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.merkle import CompactMerkleTree, MerkleTree
from tests.unit.test_merkle import DISTINCT, leaf_lists


class Store:
    """The leaves as a table holds them; counts the reads."""

    def __init__(self, leaves: list[bytes]) -> None:
        self.leaves = leaves
        self.reads: list[tuple[int, int]] = []

    def read(self, lo: int, hi: int) -> list[bytes]:
        self.reads.append((lo, hi))
        return self.leaves[lo:hi]


def compact(leaves: list[bytes], block_height: int) -> CompactMerkleTree:
    tree = CompactMerkleTree(block_height)
    for index, leaf in enumerate(leaves):
        assert tree.append(leaf) == index
    return tree


@pytest.mark.parametrize("block_height", [0, 1, 2, 3])
def test_every_root_and_proof_equals_the_full_trees(block_height: int) -> None:
    full, store = MerkleTree(DISTINCT), Store(DISTINCT)
    tree = compact(DISTINCT, block_height)
    for size in range(len(DISTINCT) + 1):
        assert tree.root(size, store.read) == full.root(size)
    for size in range(1, len(DISTINCT) + 1):
        for index in range(size):
            assert tree.inclusion(index, size, store.read) == full.inclusion(index, size)
        for first in range(1, size + 1):
            assert tree.consistency(first, size, store.read) == full.consistency(first, size)
    assert all(hi - lo <= 1 << block_height for lo, hi in store.reads)


@settings(max_examples=40, deadline=None)
@given(leaf_lists, st.integers(0, 3))
def test_the_current_root_never_reads_back(leaves: list[bytes], block_height: int) -> None:
    tree, full = CompactMerkleTree(block_height), MerkleTree()
    for leaf in leaves:
        tree.append(leaf)
        full.append(leaf)
        assert tree.root() == full.root()


def test_it_holds_only_the_last_two_blocks_of_leaves() -> None:
    tree = compact(DISTINCT, 3)
    held = [i for i in range(len(DISTINCT)) if tree.held_leaf(i) is not None]
    assert held == list(range(56, 70))
    assert [tree.held_leaf(i) for i in held] == DISTINCT[56:70]
    with pytest.raises(LookupError):
        tree.root(20)


@pytest.mark.parametrize("size", [0, 1, 7, 8, 9, 33, 64, 69, 70])
def test_truncating_forgets_the_rolled_back_leaves(size: int) -> None:
    rolled_back = [bytes([7]) * 32] * 11
    store = Store(DISTINCT[:size])
    tree = compact(DISTINCT[:size] + rolled_back, 3)
    tree.truncate(size, store.read)
    assert len(tree) == size
    assert tree.root() == MerkleTree(DISTINCT[:size]).root()
    for leaf in DISTINCT[size:]:
        tree.append(leaf)
    assert tree.root() == MerkleTree(DISTINCT).root()
    assert sum(hi - lo for lo, hi in store.reads) <= 16


@settings(max_examples=60, deadline=None)
@given(leaves=leaf_lists, block_height=st.integers(0, 3), more=st.integers(0, 9))
def test_a_tree_taken_up_from_its_block_roots_answers_as_the_one_it_came_from(
    leaves: list[bytes], block_height: int, more: int
) -> None:
    whole = compact(leaves, block_height)
    roots = [whole.block_root(index) for index in range(whole.blocks)]
    store = Store(leaves)
    taken_up = CompactMerkleTree.of_blocks(block_height, roots, store.read)
    assert store.reads == (
        [((len(roots) - 1) << block_height, len(roots) << block_height)] if roots else []
    )
    for leaf in leaves[len(taken_up) :]:
        taken_up.append(leaf)
    extra = [bytes([i]) * 32 for i in range(more)]
    for leaf in extra:
        whole.append(leaf)
        taken_up.append(leaf)
    full, everything = MerkleTree(leaves + extra), Store(leaves + extra)
    assert taken_up.root() == whole.root() == full.root()
    for size in range(1, len(taken_up) + 1):
        assert taken_up.root(size, everything.read) == full.root(size)
        assert taken_up.inclusion(size - 1, size, everything.read) == full.inclusion(size - 1, size)


def test_a_block_root_that_is_not_its_leaves_is_refused() -> None:
    tree = compact(DISTINCT[:8], 2)
    roots = [tree.block_root(0), tree.block_root(1)]
    with pytest.raises(ValueError, match="block 1"):
        CompactMerkleTree.of_blocks(2, [roots[0], roots[0]], Store(DISTINCT[:8]).read)
    assert CompactMerkleTree.of_blocks(2, roots, Store(DISTINCT[:8]).read).root() == tree.root()


def test_block_roots_are_the_full_trees_subtree_roots() -> None:
    tree, full = compact(DISTINCT, 2), MerkleTree(DISTINCT)
    assert tree.blocks == len(DISTINCT) // 4
    for index in range(tree.blocks):
        assert (
            tree.block_root(index)
            == full.subtree_root(2, index)
            == MerkleTree(DISTINCT[index * 4 : index * 4 + 4]).root()
        )
    with pytest.raises(ValueError):
        tree.block_root(tree.blocks)
    with pytest.raises(ValueError):
        full.subtree_root(2, tree.blocks)
