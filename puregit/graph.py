"""Reachability walks over an object store.

The walk reads raw object bodies through a ``get_raw(hex_id) -> (type_num,
bytes)`` function and parses only what it needs (a commit's tree and parents,
a tree's entries), so it works the same over memory, loose and packed stores.
Each object is visited once.
"""

from __future__ import annotations

import binascii
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


def iter_tree_entries(body: bytes, digest_size: int = 20) -> Iterator[tuple[int, bytes]]:
    """Yield (mode, hex id) for each entry of a tree body without building objects."""
    pos = 0
    end = len(body)
    find = body.find
    hexlify = binascii.hexlify
    while pos < end:
        sp = find(b" ", pos)
        nul = find(b"\0", sp)
        if sp < 0 or nul < 0 or nul + 1 + digest_size > end:
            raise ObjectFormatError("malformed tree entry")
        yield int(body[pos:sp], 8), hexlify(body[nul + 1:nul + 1 + digest_size])
        pos = nul + 1 + digest_size


def iter_tree_entries_named(body: bytes, digest_size: int = 20) -> Iterator[tuple[bytes, int, bytes]]:
    """Yield (name, mode, hex id) for each tree entry."""
    pos = 0
    end = len(body)
    find = body.find
    hexlify = binascii.hexlify
    while pos < end:
        sp = find(b" ", pos)
        nul = find(b"\0", sp)
        if sp < 0 or nul < 0 or nul + 1 + digest_size > end:
            raise ObjectFormatError("malformed tree entry")
        yield body[sp + 1:nul], int(body[pos:sp], 8), hexlify(body[nul + 1:nul + 1 + digest_size])
        pos = nul + 1 + digest_size


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
        """
        excluded_commits, excluded_other = self.uninteresting_commits(exclude)
        shallow = set(shallow)
        seen_objects: set = set()
        digest = self.hash_algo.digest_size

        # Mark the trees of boundary commits (and excluded non-commits) seen.
        edge_trees = []
        for sha, type_num in excluded_other:
            if type_num == TREE:
                edge_trees.append(sha)
            else:
                seen_objects.add(sha)

        commits_out = []
        tips = []
        tags_out: list = []
        for sha in include:
            peeled, type_num, body = self._peel(sha, tags_out)
            tips.append((peeled, type_num, body))
        for sha, type_num in tags_out:
            if sha not in seen_objects:
                seen_objects.add(sha)
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
            self._mark_tree_seen(tree, seen_objects, digest)

        for sha, _ in commits_out:
            yield sha, COMMIT, None
        for sha, type_num in roots:
            if sha in seen_objects:
                continue
            seen_objects.add(sha)
            yield sha, type_num, b"" if type_num != COMMIT else None
            if type_num == TREE:
                yield from self._walk_tree(sha, b"", seen_objects, digest)
        for _, tree in commits_out:
            if tree not in seen_objects:
                seen_objects.add(tree)
                yield tree, TREE, b""
                yield from self._walk_tree(tree, b"", seen_objects, digest)

    def _mark_tree_seen(self, tree: bytes, seen: set, digest: int) -> None:
        if tree in seen:
            return
        seen.add(tree)
        stack = [tree]
        while stack:
            try:
                type_num, body = self._raw(stack.pop())
            except MissingObjectError:
                continue
            for mode, sha in iter_tree_entries(body, digest):
                if mode == GITLINK_MODE or sha in seen:
                    continue
                seen.add(sha)
                if mode & 0o170000 == DIR_MODE:
                    stack.append(sha)

    def _walk_tree(self, tree: bytes, path: bytes, seen: set, digest: int):
        stack = [(tree, path)]
        while stack:
            sha, base = stack.pop()
            type_num, body = self._raw(sha)
            if type_num != TREE:
                raise ObjectFormatError(f"{sha!r} is not a tree")
            subtrees = []
            for name, mode, child in iter_tree_entries_named(body, digest):
                if mode == GITLINK_MODE or child in seen:
                    continue
                seen.add(child)
                child_path = base + b"/" + name if base else name
                if mode & 0o170000 == DIR_MODE:
                    yield child, TREE, child_path
                    subtrees.append((child, child_path))
                else:
                    yield child, BLOB, child_path
            stack.extend(reversed(subtrees))
