"""Writing reachability bitmaps (``pack-*.bitmap``, version 1) for a pack.

Format (gitformat-pack, "bitmap format"): ``BITM``, version 1, flags
(FULL_DAG | HASH_CACHE), the number of bitmapped commits and the pack's
checksum; four EWAH bitmaps saying which pack positions are commits, trees,
blobs and tags; per selected commit its position in the ``.idx`` (id order),
an XOR offset (always 0 here), flags and the EWAH bitmap of everything
reachable from it; one name hash per object in pack order; a trailing
checksum.  Bit *i* is the *i*-th object of the pack in offset order.

A commit's bitmap is the OR of the bitmaps of its nearest selected ancestors
plus the commits and tree objects in between, found by a walk that stops at
objects already set (a set tree implies its whole subtree is set).  Bitmaps
are Python ints while combined and a bytearray while walked.  Only a pack
that holds everything reachable from the selected commits can be bitmapped.
"""

from __future__ import annotations

import binascii
import os
import struct
from typing import Iterable, Optional

from .errors import PackError
from .graph import (COMMIT, TAG, TREE, BLOB, ReachabilityWalker, commit_tree_and_parents,
                    parse_tree_entries, tag_target, _DIR_MODES, _GITLINK_MODES)
from .pack import OFS_DELTA, REF_DELTA, Pack, PackedObjectReader, parse_entry_header
from .pack_writer import pack_name_hash

BITMAP_OPT_FULL_DAG = 0x1
BITMAP_OPT_HASH_CACHE = 0x4
_ALL_ONES = (1 << 64) - 1
_MAX_RUN = (1 << 32) - 1
_MAX_LITERALS = (1 << 31) - 1

__all__ = ["encode_ewah", "write_bitmap", "select_commits", "BitmapWriteError"]


class BitmapWriteError(PackError):
    """The pack cannot be bitmapped (it lacks reachable objects)."""


def encode_ewah(bits: int, bit_size: int) -> bytes:
    """Serialise a bitset (int, bit i = position i) as git's EWAH: size, words, last RLW."""
    n = (bit_size + 63) >> 6
    words = struct.unpack("<%dQ" % n, bits.to_bytes(n * 8, "little")) if n else ()
    out: list = []
    rlw = 0
    i = 0
    while i < n:
        run = 0
        clean = words[i]
        if clean == 0 or clean == _ALL_ONES:
            while i < n and words[i] == clean and run < _MAX_RUN:
                run += 1
                i += 1
        start = i
        while i < n and words[i] != 0 and words[i] != _ALL_ONES and i - start < _MAX_LITERALS:
            i += 1
        rlw = len(out)
        out.append((1 if run and clean else 0) | (run << 1) | ((i - start) << 33))
        out.extend(words[start:i])
    return (struct.pack(">II", bit_size, len(out)) + struct.pack(">%dQ" % len(out), *out)
            + struct.pack(">I", rlw))


def select_commits(commits: list[bytes], tips: Iterable[bytes], every: int = 100) -> list[bytes]:
    """Commits to bitmap: every ref tip plus every ``every``-th commit of the walk."""
    known = set(commits)
    chosen = dict.fromkeys(t for t in tips if t in known)
    chosen.update(dict.fromkeys(commits[::every]))
    return list(chosen)


def _pack_types(pack: Pack, offsets: list[int]) -> list[int]:
    """The object type of every entry, in pack order (deltas take their base's type)."""
    data = pack.data
    mm = data._mmap
    hs = pack.hash_algo.digest_size
    at = {off: i for i, off in enumerate(offsets)}
    types = [0] * len(offsets)
    for i, off in enumerate(offsets):
        type_num, _, base, _ = parse_entry_header(mm, off, hs)
        if type_num == OFS_DELTA and at.get(base, i) < i:
            type_num = types[at[base]]
        elif type_num in (OFS_DELTA, REF_DELTA):
            type_num = data.resolve_object_at(off, pack.index.find_offset,
                                              pack.resolve_ext_ref)[0]
        types[i] = type_num
    return types


def write_bitmap(store, pack: Pack, tips: Optional[Iterable[bytes]] = None,
                 every: int = 100, path: Optional[str] = None) -> str:
    """Write ``<pack>.bitmap`` for ``pack`` of ``store`` (a DiskObjectStore or a Repo).

    ``tips`` (hex ids; default: every ref of the repository when ``store`` is a
    Repo) are walked; their commits and every ``every``-th commit get bitmaps.
    Returns the path written.
    """
    if hasattr(store, "object_store"):  # a Repo
        if tips is None:
            tips = set(store.get_refs().values())
        store = store.object_store
    if tips is None:
        raise ValueError("tips are needed when given an object store")
    tips = list(tips)
    idx = pack.index
    by_offset = sorted((off, sha) for sha, off, _ in idx.iterentries())
    offsets = [off for off, _ in by_offset]
    pos_of = {sha: i for i, (_, sha) in enumerate(by_offset)}
    idx_pos = {sha: i for i, sha in enumerate(sorted(pos_of))}
    n = len(offsets)

    walker = ReachabilityWalker(store.get_raw, store.hash_algo, has=store.contains,
                                packs=[pack])
    hashes = [0] * n
    commits = []
    for sha, type_num, path_ in walker.walk(tips):
        binsha = binascii.unhexlify(sha)
        pos = pos_of.get(binsha)
        if pos is None:
            raise BitmapWriteError(f"{sha.decode()} is reachable but not in the pack")
        if type_num == COMMIT:
            commits.append(binsha)
        elif path_:
            hashes[pos] = pack_name_hash(path_)
    tip_commits = []
    for t in tips:  # peel tags
        sha = t
        for _ in range(64):
            type_num, body = store.get_raw(sha)
            if type_num != TAG:
                break
            sha = tag_target(body)[0]
        if type_num == COMMIT:
            tip_commits.append(binascii.unhexlify(sha))
    selected = select_commits(commits, tip_commits, every)
    bitmaps = _reachability(store, pack, pos_of, n, commits, set(selected))

    types = _pack_types(pack, offsets)
    out = [b"BITM", struct.pack(">HHI", 1, BITMAP_OPT_FULL_DAG | BITMAP_OPT_HASH_CACHE,
                                len(selected)), idx.get_pack_checksum()]
    for t in (COMMIT, TREE, BLOB, TAG):
        have = bytearray((n + 7) >> 3)
        for i, ty in enumerate(types):
            if ty == t:
                have[i >> 3] |= 1 << (i & 7)
        out.append(encode_ewah(int.from_bytes(have, "little"), n))
    for c in selected:
        out.append(struct.pack(">IBB", idx_pos[c], 0, 0))
        out.append(encode_ewah(bitmaps[c], n))
    out.append(struct.pack(">%dI" % n, *hashes))
    body = b"".join(out)
    h = pack.hash_algo.new()
    h.update(body)
    path = path or pack.basename + ".bitmap"
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(body + h.digest())
    os.replace(tmp, path)
    return path


def _reachability(store, pack, pos_of: dict, n: int, commits: list, selected: set) -> dict:
    """Bitmap (int) of every selected commit, ancestors first."""
    reader = PackedObjectReader([pack])
    digest = store.hash_algo.digest_size

    def raw(binsha):
        got = reader.get_raw(binsha)
        return got if got is not None else store.get_raw(binascii.hexlify(binsha))

    parents = {}
    trees = {}
    for c in commits:
        tree, ps = commit_tree_and_parents(raw(c)[1])
        trees[c] = binascii.unhexlify(tree)
        parents[c] = [binascii.unhexlify(p) for p in ps]
    # ancestors before descendants (iterative post-order)
    order, done, stack = [], set(), [(c, False) for c in commits if c in selected]
    while stack:
        c, expanded = stack.pop()
        if expanded:
            order.append(c)
            continue
        if c in done:
            continue
        done.add(c)
        stack.append((c, True))
        stack.extend((p, False) for p in parents.get(c, ()) if p not in done)
    bitmaps: dict = {}
    for c in order:
        if c not in selected:
            continue
        acc = 0
        segment, visited, todo = [], {c}, [c]
        while todo:
            x = todo.pop()
            if x != c and x in bitmaps:
                acc |= bitmaps[x]
                continue
            segment.append(x)
            for p in parents.get(x, ()):
                if p not in visited:
                    visited.add(p)
                    todo.append(p)
        have = bytearray(acc.to_bytes((n + 7) >> 3, "little"))
        for x in segment:
            _set(have, pos_of, x)
            _walk_tree(raw, have, pos_of, trees[x], digest)
        bitmaps[c] = int.from_bytes(have, "little")
    return bitmaps


def _set(have: bytearray, pos_of: dict, binsha: bytes) -> bool:
    """Set an object's bit; False if it was set already."""
    pos = pos_of.get(binsha)
    if pos is None:
        raise BitmapWriteError(f"{binsha.hex()} is reachable but not in the pack")
    bit = 1 << (pos & 7)
    if have[pos >> 3] & bit:
        return False
    have[pos >> 3] |= bit
    return True


def _walk_tree(raw, have: bytearray, pos_of: dict, tree: bytes, digest: int) -> None:
    if not _set(have, pos_of, tree):
        return  # a set tree's whole subtree is set
    stack = [tree]
    while stack:
        type_num, body = raw(stack.pop())
        for mode, _, child in parse_tree_entries(body, digest):
            if mode in _GITLINK_MODES:
                continue
            if _set(have, pos_of, child) and mode in _DIR_MODES:
                stack.append(child)
