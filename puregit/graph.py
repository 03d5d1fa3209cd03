"""Reachability walks over an object store.

The walk reads raw object bodies through a ``get_raw(hex_id) -> (type_num,
bytes)`` function and parses only what it needs (a commit's tree and parents,
a tree's entries), so it works the same over memory, loose and packed stores.
Each object is visited once.
"""

from __future__ import annotations

import binascii
import re
from typing import Callable, Iterable, Iterator, Optional

from .errors import MissingObjectError, ObjectFormatError
from .hashes import SHA1, HashAlgorithm

COMMIT, TREE, BLOB, TAG = 1, 2, 3, 4
GITLINK_MODE = 0o160000
DIR_MODE = 0o40000

GetRaw = Callable[[bytes], "tuple[int, bytes]"]


def commit_tree_and_parents(body: bytes) -> tuple[bytes, list[bytes]]:
    """Read just ``tree`` and ``parent`` headers of a commit body (fast path)."""
    if body[:5] != b"tree ":
        raise ObjectFormatError("commit does not start with a tree header")
    nl = body.find(b"\n")
    tree = body[5:nl]
    parents = []
    pos = nl + 1
    while body.startswith(b"parent ", pos):
        nl = body.find(b"\n", pos)
        if nl < 0:
            raise ObjectFormatError("truncated parent header")
        parents.append(body[pos + 7:nl])
        pos = nl + 1
    return tree, parents


def commit_time(body: bytes) -> int:
    """The committer time of a commit body (0 when unreadable)."""
    at = body.find(b"\ncommitter ")
    if at < 0:
        return 0
    nl = body.find(b"\n", at + 1)
    line = body[at + 11:nl]
    gt = line.rfind(b">")
    try:
        return int(line[gt + 1:].split()[0])
    except (ValueError, IndexError):
        return 0


def tag_target(body: bytes) -> tuple[bytes, bytes]:
    """(hex id, type name) of the object a tag body points at."""
    if body[:7] != b"object ":
        raise ObjectFormatError("tag does not start with an object header")
    nl = body.find(b"\n")
    target = body[7:nl]
    tl = body.find(b"\n", nl + 1)
    line = body[nl + 1:tl]
    if line[:5] != b"type ":
        raise ObjectFormatError("tag lacks a type header")
    return target, line[5:]


_ENTRY_RE = {}


def _entry_re(digest_size: int):
    """A regex matching one tree entry: mode, name, binary id."""
    pats = _ENTRY_RE.get(digest_size)
    if pats is None:
        pats = (re.compile(rb"([0-7]+) ([^\0]+)\0(.{%d})" % digest_size, re.S),
                re.compile(rb"(?:[0-7]+ [^\0]+\0.{%d})*" % digest_size, re.S))
        _ENTRY_RE[digest_size] = pats
    return pats


def parse_tree_entries(body: bytes, digest_size: int = 20) -> list[tuple[bytes, bytes, bytes]]:
    """(mode text, name, binary id) for every entry, parsed in C by one regex.

    ``findall`` would silently skip malformed stretches, so the body is first
    checked with an anchored match of the same grammar.
    """
    pats = _entry_re(digest_size)
    if pats[1].fullmatch(body) is None:
        raise ObjectFormatError("malformed tree")
    return pats[0].findall(body)


def iter_tree_entries(body: bytes, digest_size: int = 20) -> Iterator[tuple[int, bytes]]:
    """Yield (mode, hex id) for each entry of a tree body without building objects."""
    hexlify = binascii.hexlify
    for mode, _, sha in parse_tree_entries(body, digest_size):
        yield int(mode, 8), hexlify(sha)


def iter_tree_entries_named(body: bytes, digest_size: int = 20) -> Iterator[tuple[bytes, int, bytes]]:
    """Yield (name, mode, hex id) for each tree entry."""
    hexlify = binascii.hexlify
    for mode, name, sha in parse_tree_entries(body, digest_size):
        yield name, int(mode, 8), hexlify(sha)


_DIR_MODES = frozenset((b"40000", b"040000"))
_GITLINK_MODES = frozenset((b"160000",))


class ReachabilityWalker:
    """Objects reachable from ``include`` tips but not from ``exclude`` tips.

    Commits reachable from an excluded tip are not sent; the trees of the
    excluded commits at the boundary are marked seen first, so unchanged
    subtrees and blobs are skipped (as ``git rev-list --objects`` does with
    edge marking).  ``exclude`` ids that are missing locally are ignored, as a
    server ignores ``have`` lines for objects it lacks.
    """

    def __init__(self, get_raw: GetRaw, hash_algo: HashAlgorithm = SHA1,
                 has: Optional[Callable[[bytes], bool]] = None,
                 include_tree_edges: bool = True):
        self.get_raw = get_raw
        self.hash_algo = hash_algo
        self.has = has
        self.include_tree_edges = include_tree_edges

    def _raw(self, sha: bytes) -> tuple[int, bytes]:
        try:
            return self.get_raw(sha)
        except KeyError:
            raise MissingObjectError(sha) from None

    def _peel(self, sha: bytes, emit: Optional[list]) -> tuple[bytes, int, bytes]:
        """Follow tags to a non-tag; tags passed are appended to ``emit``."""
        seen = set()
        while True:
            type_num, body = self._raw(sha)
            if type_num != TAG:
                return sha, type_num, body
            if sha in seen:
                raise ObjectFormatError("tag loop")
            seen.add(sha)
            if emit is not None:
                emit.append((sha, TAG))
            sha = tag_target(body)[0]

    def uninteresting_commits(self, exclude: Iterable[bytes]) -> tuple[set, list]:
        """All commits reachable from ``exclude`` plus its non-commit objects."""
        seen: set = set()
        others = []
        stack = []
        for sha in exclude:
            if self.has is not None and not self.has(sha):
                continue
            try:
                peeled, type_num, body = self._peel(sha, None)
            except MissingObjectError:
                continue
            if type_num == COMMIT:
                stack.append(peeled)
            else:
                others.append((peeled, type_num))
        while stack:
            sha = stack.pop()
            if sha in seen:
                continue
            seen.add(sha)
            try:
                type_num, body = self._raw(sha)
            except MissingObjectError:
                continue  # shallow boundary on the excluded side
            stack.extend(p for p in commit_tree_and_parents(body)[1] if p not in seen)
        return seen, others

    def walk(self, include: Iterable[bytes], exclude: Iterable[bytes] = (),
             shallow: Iterable[bytes] = ()) -> Iterator[tuple[bytes, int, Optional[bytes]]]:
        """Yield (hex id, type number, path or None) for each object to send.

        ``shallow`` commits are sent but their parents are not followed.
        Trees, blobs and tags already handled are remembered by binary id so
        that the common case (an entry seen before) costs one set lookup.
        """
        excluded_commits, excluded_other = self.uninteresting_commits(exclude)
        shallow = set(shallow)
        seen: set = set()  # binary ids of trees, blobs and tags
        unhex = binascii.unhexlify
        digest = self.hash_algo.digest_size

        # Mark the trees of boundary commits (and excluded non-commits) seen.
        edge_trees = []
        for sha, type_num in excluded_other:
            if type_num == TREE:
                edge_trees.append(sha)
            else:
                seen.add(unhex(sha))

        commits_out = []
        tips = []
        tags_out: list = []
        for sha in include:
            peeled, type_num, body = self._peel(sha, tags_out)
            tips.append((peeled, type_num, body))
        for sha, type_num in tags_out:
            if unhex(sha) not in seen:
                seen.add(unhex(sha))
                yield sha, TAG, None

        stack = [t[0] for t in tips if t[1] == COMMIT]
        roots = [(t[0], t[1]) for t in tips if t[1] != COMMIT]
        seen_commits: set = set()
        while stack:
            sha = stack.pop()
            if sha in seen_commits or sha in excluded_commits:
                continue
            seen_commits.add(sha)
            type_num, body = self._raw(sha)
            if type_num != COMMIT:
                raise ObjectFormatError(f"{sha!r} is not a commit")
            tree, parents = commit_tree_and_parents(body)
            commits_out.append((sha, tree))
            if sha in shallow:
                continue
            for p in parents:
                if p in excluded_commits:
                    if self.include_tree_edges:
                        try:
                            edge_trees.append(commit_tree_and_parents(self._raw(p)[1])[0])
                        except MissingObjectError:
                            pass
                elif p not in seen_commits:
                    stack.append(p)

        for tree in edge_trees:
            self._mark_tree_seen(tree, seen, digest)

        for sha, _ in commits_out:
            yield sha, COMMIT, None
        for sha, type_num in roots:
            if unhex(sha) in seen:
                continue
            seen.add(unhex(sha))
            yield sha, type_num, b"" if type_num != COMMIT else None
            if type_num == TREE:
                yield from self._walk_tree(sha, b"", seen, digest)
        for _, tree in commits_out:
            if unhex(tree) not in seen:
                seen.add(unhex(tree))
                yield tree, TREE, b""
                yield from self._walk_tree(tree, b"", seen, digest)

    def _mark_tree_seen(self, tree: bytes, seen: set, digest: int) -> None:
        """Add a tree (hex id) and everything below it to ``seen`` (binary ids)."""
        hexlify = binascii.hexlify
        if binascii.unhexlify(tree) in seen:
            return
        seen.add(binascii.unhexlify(tree))
        stack = [tree]
        while stack:
            try:
                type_num, body = self._raw(stack.pop())
            except MissingObjectError:
                continue
            for mode, _, sha in parse_tree_entries(body, digest):
                if sha in seen or mode in _GITLINK_MODES:
                    continue
                seen.add(sha)
                if mode in _DIR_MODES:
                    stack.append(hexlify(sha))

    def _walk_tree(self, tree: bytes, path: bytes, seen: set, digest: int):
        hexlify = binascii.hexlify
        stack = [(tree, path)]
        while stack:
            sha, base = stack.pop()
            type_num, body = self._raw(sha)
            if type_num != TREE:
                raise ObjectFormatError(f"{sha!r} is not a tree")
            subtrees = []
            prefix = base + b"/" if base else b""
            for mode, name, child in parse_tree_entries(body, digest):
                if child in seen or mode in _GITLINK_MODES:
                    continue
                seen.add(child)
                child = hexlify(child)
                if mode in _DIR_MODES:
                    yield child, TREE, prefix + name
                    subtrees.append((child, prefix + name))
                else:
                    yield child, BLOB, prefix + name
            stack.extend(reversed(subtrees))
