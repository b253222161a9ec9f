"""Merkle tree hashes and proofs as defined by RFC 9162 (Certificate Transparency v2), §2.1.

Leaves are given as leaf hashes (see :func:`leaf_hash`). The plain functions recompute the tree
on every call and serve as the readable reference; :class:`MerkleTree` answers the same questions
for any historical size of an append-only log in O(log n) hash operations by caching the hashes
of complete, aligned power-of-two subtrees; :class:`CompactMerkleTree` does the same keeping only
the subtrees of a block or more (and the last two blocks' leaves), reading other leaves back.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol, cast, overload

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "CompactMerkleTree",
    "LeafReader",
    "MerkleTree",
    "PackedHashes",
    "consistency_path",
    "inclusion_path",
    "leaf_hash",
    "node_hash",
    "root_hash",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

SubtreeHash = Callable[[int, int], bytes]
"""Returns MTH of the leaves in the half-open range [lo, hi), hi > lo."""


def leaf_hash(data: bytes) -> bytes:
    """Hash of one log entry: SHA-256(0x00 || data), domain-separated from interior nodes."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Hash of an interior node: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (n >= 2), where MTH splits."""
    return 1 << ((n - 1).bit_length() - 1)


def _path(mth: SubtreeHash, m: int, lo: int, hi: int) -> list[bytes]:
    """PATH(m, D[lo:hi]) of §2.1.3.1, with ``m`` relative to ``lo``."""
    if hi - lo == 1:
        return []
    k = _split(hi - lo)
    if m < k:
        return [*_path(mth, m, lo, lo + k), mth(lo + k, hi)]
    return [*_path(mth, m - k, lo + k, hi), mth(lo, lo + k)]


def _subproof(mth: SubtreeHash, m: int, lo: int, hi: int, whole: bool) -> list[bytes]:
    """SUBPROOF(m, D[lo:hi], b) of §2.1.4.1; ``whole`` is b, true while D[0:m] is a subtree."""
    n = hi - lo
    if m == n:
        return [] if whole else [mth(lo, hi)]
    k = _split(n)
    if m <= k:
        return [*_subproof(mth, m, lo, lo + k, whole), mth(lo + k, hi)]
    return [*_subproof(mth, m - k, lo + k, hi, False), mth(lo, lo + k)]


def _check_inclusion(index: int, size: int, length: int) -> None:
    if not 0 <= size <= length:
        raise ValueError(f"tree size {size} out of range: need 0 <= size <= {length}")
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} out of range for a tree of {size} leaves")


def _check_consistency(first: int, second: int, length: int) -> None:
    if not 0 <= second <= length:
        raise ValueError(f"tree size {second} out of range: need 0 <= size <= {length}")
    if not 0 < first <= second:
        raise ValueError(f"first tree size {first} out of range: need 0 < first <= {second}")


def _recursive_mth(leaf_hashes: Sequence[bytes]) -> SubtreeHash:
    def mth(lo: int, hi: int) -> bytes:
        if hi - lo == 1:
            return leaf_hashes[lo]
        k = _split(hi - lo)
        return node_hash(mth(lo, lo + k), mth(lo + k, hi))

    return mth


def root_hash(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of §2.1.1: the tree head over all ``leaf_hashes``, recomputed from scratch."""
    if not leaf_hashes:
        return EMPTY_ROOT
    return _recursive_mth(leaf_hashes)(0, len(leaf_hashes))


def inclusion_path(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """PATH(index, D[n]) of §2.1.3.1: the audit path proving leaf ``index`` is in the tree."""
    _check_inclusion(index, len(leaf_hashes), len(leaf_hashes))
    return _path(_recursive_mth(leaf_hashes), index, 0, len(leaf_hashes))


def consistency_path(leaf_hashes: Sequence[bytes], first: int) -> list[bytes]:
    """PROOF(first, D[n]) of §2.1.4.1: proves the first ``first`` leaves are a prefix of the tree."""
    n = len(leaf_hashes)
    _check_consistency(first, n, n)
    return _subproof(_recursive_mth(leaf_hashes), first, 0, n, True)


class HashLevel(Protocol):
    """One level of a ``MerkleTree``: a ``list`` of hashes, or ``PackedHashes``."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int, /) -> bytes: ...

    def append(self, hash_: bytes, /) -> None: ...


class PackedHashes(Sequence[bytes]):
    """Hashes of ``HASH_SIZE`` bytes, appended to one ``bytearray``: 32 bytes each, against a
    ``bytes`` object apiece in a list (``knewwhen verify`` of a 1M store: 273 → 132 MB peak)."""

    __slots__ = ("_packed",)

    def __init__(self) -> None:
        self._packed = bytearray()

    def __len__(self) -> int:
        return len(self._packed) // HASH_SIZE

    @overload
    def __getitem__(self, index: int) -> bytes: ...

    @overload
    def __getitem__(self, index: slice) -> list[bytes]: ...

    def __getitem__(self, index: int | slice) -> bytes | list[bytes]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        count = len(self)
        at = index + count if index < 0 else index
        if not 0 <= at < count:
            raise IndexError(f"hash index {index} out of range for {count}")
        return bytes(self._packed[at * HASH_SIZE : (at + 1) * HASH_SIZE])

    def append(self, hash_: bytes) -> None:
        """Add one hash at the end."""
        self._packed += hash_

    def view(self) -> memoryview:
        """Every hash, in order, as a read-only view of the one buffer (no copy)."""
        return memoryview(self._packed).toreadonly()

    @classmethod
    def of(cls, packed: bytearray) -> PackedHashes:
        """The hashes packed in ``packed`` (as ``view()`` shows them), which it then owns."""
        if len(packed) % HASH_SIZE:
            raise ValueError(f"packed hashes must be a multiple of {HASH_SIZE} bytes")
        hashes = cls()
        hashes._packed = packed
        return hashes


class MerkleTree:
    """An append-only log of leaf hashes answering roots and proofs for any size it has had.

    ``_levels[h][i]`` is the hash of the complete subtree over leaves [i * 2**h, (i + 1) * 2**h);
    ``_levels[0]`` is the leaf hashes themselves. Appending does amortized O(1) hashing, and
    every other range MTH needs splits into O(log n) cached subtrees.
    """

    def __init__(self, leaf_hashes: Iterable[bytes] = (), *, packed: bool = False) -> None:
        """A tree of ``leaf_hashes``; ``packed`` holds its levels in ``PackedHashes`` (for a tree
        kept whole, as verify's: 32 bytes a hash, but each append ~0.8 µs slower, 1.8 µs)."""
        self._level: Callable[[], HashLevel] = PackedHashes if packed else list
        self._levels: list[HashLevel] = [self._level()]
        for h in leaf_hashes:
            self.append(h)

    def __len__(self) -> int:
        return len(self._levels[0])

    def packed_levels(self) -> list[memoryview]:
        """A packed tree's levels (leaf hashes first), each a read-only view of its buffer:
        the whole tree, to be taken up again by ``from_packed_levels`` with no hashing."""
        return [cast(PackedHashes, level).view() for level in self._levels]

    @classmethod
    def from_packed_levels(cls, levels: Sequence[bytearray]) -> MerkleTree:
        """The packed tree whose ``packed_levels()`` these are; it keeps ``levels`` as its own
        buffers, without copying them."""
        tree = cls(packed=True)
        tree._levels = [PackedHashes.of(level) for level in levels] or [PackedHashes()]
        for below, level in zip(tree._levels, tree._levels[1:], strict=False):
            if len(level) != len(below) // 2:
                raise ValueError("each level of a tree holds half the hashes of the one below")
        return tree

    @property
    def leaf_hashes(self) -> Sequence[bytes]:
        """The leaf hashes in log order (a read-only view; do not mutate)."""
        return cast(Sequence[bytes], self._levels[0])  # a list or PackedHashes: both are

    def append(self, leaf_hash: bytes) -> int:
        """Add one leaf hash, complete whatever subtrees it closes, and return its index."""
        if len(leaf_hash) != HASH_SIZE:
            raise ValueError(f"leaf hash must be {HASH_SIZE} bytes, got {len(leaf_hash)}")
        index = len(self)
        self._levels[0].append(leaf_hash)
        level, node = 0, leaf_hash
        while len(self._levels[level]) % 2 == 0:
            node = node_hash(self._levels[level][-2], node)
            level += 1
            if level == len(self._levels):
                self._levels.append(self._level())
            self._levels[level].append(node)
        return index

    def _mth(self, lo: int, hi: int) -> bytes:
        """MTH(D[lo:hi]) for a range of the RFC recursion: ``lo`` is a multiple of its split."""
        n = hi - lo
        if n & (n - 1) == 0:
            level = n.bit_length() - 1
            return self._levels[level][lo >> level]
        k = _split(n)
        return node_hash(self._mth(lo, lo + k), self._mth(lo + k, hi))

    def _size(self, size: int | None) -> int:
        if size is None:
            return len(self)
        if not 0 <= size <= len(self):
            raise ValueError(f"tree size {size} out of range: need 0 <= size <= {len(self)}")
        return size

    def root(self, size: int | None = None) -> bytes:
        """The tree head over the first ``size`` leaves (default: all of them)."""
        n = self._size(size)
        return self._mth(0, n) if n else EMPTY_ROOT

    def subtree_root(self, height: int, index: int) -> bytes:
        """The root of complete subtree ``index`` of ``2**height`` leaves (leaves
        [index * 2**height, (index + 1) * 2**height)), which the tree must hold whole."""
        if not 0 <= index < len(self) >> height:
            raise ValueError(f"the tree has no complete subtree {index} of height {height}")
        return self._levels[height][index]

    def inclusion(self, index: int, size: int | None = None) -> list[bytes]:
        """Audit path for leaf ``index`` in the tree of the first ``size`` leaves (default: all)."""
        n = len(self) if size is None else size
        _check_inclusion(index, n, len(self))
        return _path(self._mth, index, 0, n)

    def consistency(self, first: int, second: int | None = None) -> list[bytes]:
        """Consistency proof from size ``first`` to size ``second`` (default: current size)."""
        n = len(self) if second is None else second
        _check_consistency(first, n, len(self))
        return _subproof(self._mth, first, 0, n, True)


LeafReader = Callable[[int, int], Sequence[bytes]]
"""Returns the stored leaf hashes in the half-open range [lo, hi)."""


class CompactMerkleTree:
    """The same answers as :class:`MerkleTree` in memory that grows by 32 bytes per block.

    It keeps the hashes of complete aligned subtrees of ``2**block_height`` leaves or more,
    and the leaves of the open block and of the block before it. A root of an older size, or
    a proof, that needs other leaves reads them back through ``read`` (one block at a time).
    """

    def __init__(self, block_height: int = 10) -> None:
        self.block_height = block_height
        self.block = 1 << block_height
        self._size = 0
        self._levels: list[bytearray] = [bytearray()]
        self._open = MerkleTree()
        self._last: MerkleTree | None = None
        self._read_back: tuple[int, MerkleTree] | None = None

    def __len__(self) -> int:
        return self._size

    @classmethod
    def of_blocks(
        cls, block_height: int, roots: Sequence[bytes], read: LeafReader
    ) -> CompactMerkleTree:
        """The tree of ``len(roots)`` complete blocks, from their roots as stored, with no leaf
        hashed but the last block's (read back through ``read``, it must give the last root)."""
        tree = cls(block_height)
        for root in roots:
            tree._push(root)
        tree._size = len(roots) * tree.block
        if roots:
            tree._last = MerkleTree(read(tree._size - tree.block, tree._size))
            if tree._last.root() != roots[-1]:
                raise ValueError(f"block {len(roots) - 1}'s leaves do not hash to its root")
        return tree

    @property
    def blocks(self) -> int:
        """How many complete blocks the tree holds."""
        return self._size // self.block

    def block_root(self, index: int) -> bytes:
        """The root of complete block ``index``."""
        if not 0 <= index < self.blocks:
            raise ValueError(f"block {index} out of range: the tree has {self.blocks} blocks")
        return bytes(self._levels[0][index * HASH_SIZE : (index + 1) * HASH_SIZE])

    def append(self, leaf_hash: bytes) -> int:
        """Add one leaf hash, closing its block when it is the block's last; return its index."""
        index = self._size
        self._open.append(leaf_hash)
        self._size += 1
        if len(self._open) == self.block:
            self._push(self._open.root())
            self._last, self._open = self._open, MerkleTree()
        return index

    def _push(self, node: bytes) -> None:
        level = 0
        self._levels[0] += node
        while len(self._levels[level]) // HASH_SIZE % 2 == 0:
            nodes = self._levels[level]
            node = node_hash(bytes(nodes[-2 * HASH_SIZE : -HASH_SIZE]), node)
            level += 1
            if level == len(self._levels):
                self._levels.append(bytearray())
            self._levels[level] += node

    def held_leaf(self, index: int) -> bytes | None:
        """Leaf ``index`` when it is in one of the two blocks held in memory, else None."""
        tree, start = self._held_block(index - index % self.block)
        if tree is None or not 0 <= index - start < len(tree):
            return None
        return tree.leaf_hashes[index - start]

    def _held_block(self, start: int) -> tuple[MerkleTree | None, int]:
        open_start = self._size - len(self._open)
        if start == open_start:
            return self._open, start
        if self._last is not None and start == open_start - self.block:
            return self._last, start
        return None, start

    def _block_tree(self, start: int, read: LeafReader | None) -> MerkleTree:
        """The block starting at leaf ``start``: held, or read back (and kept until the next)."""
        held, _ = self._held_block(start)
        if held is not None:
            return held
        if self._read_back is not None and self._read_back[0] == start:
            return self._read_back[1]
        if read is None:
            raise LookupError(f"leaves from {start} are not held and no reader was given")
        tree = MerkleTree(read(start, min(start + self.block, self._size)))
        self._read_back = (start, tree)
        return tree

    def _mth(self, lo: int, hi: int, read: LeafReader | None) -> bytes:
        n = hi - lo
        if n >= self.block:
            if n & (n - 1) == 0:
                level = n.bit_length() - 1 - self.block_height
                at = (lo >> (self.block_height + level)) * HASH_SIZE
                return bytes(self._levels[level][at : at + HASH_SIZE])
            k = _split(n)
            return node_hash(self._mth(lo, lo + k, read), self._mth(lo + k, hi, read))
        start = lo - lo % self.block
        return self._block_tree(start, read)._mth(lo - start, hi - start)

    def truncate(self, size: int, read: LeafReader) -> None:
        """Forget every leaf from ``size`` on (appends that rolled back); re-read the tail."""
        if not 0 <= size <= self._size:
            raise ValueError(f"tree size {size} out of range: need 0 <= size <= {self._size}")
        blocks = size // self.block
        for level, nodes in enumerate(self._levels):
            del nodes[(blocks >> level) * HASH_SIZE :]
        open_start = blocks * self.block
        self._size = size
        self._read_back = None
        self._last = MerkleTree(read(open_start - self.block, open_start)) if blocks else None
        self._open = MerkleTree(read(open_start, size) if size > open_start else ())

    def root(self, size: int | None = None, read: LeafReader | None = None) -> bytes:
        """The tree head over the first ``size`` leaves (default: all, never reading back)."""
        n = self._size if size is None else size
        if not 0 <= n <= self._size:
            raise ValueError(f"tree size {n} out of range: need 0 <= size <= {self._size}")
        return self._mth(0, n, read) if n else EMPTY_ROOT

    def inclusion(self, index: int, size: int, read: LeafReader | None = None) -> list[bytes]:
        """Audit path for leaf ``index`` in the tree of the first ``size`` leaves."""
        _check_inclusion(index, size, self._size)
        return _path(lambda lo, hi: self._mth(lo, hi, read), index, 0, size)

    def consistency(self, first: int, second: int, read: LeafReader | None = None) -> list[bytes]:
        """Consistency proof from size ``first`` to size ``second``."""
        _check_consistency(first, second, self._size)
        return _subproof(lambda lo, hi: self._mth(lo, hi, read), first, 0, second, True)
