"""upload_walk.ObjectWalk on top of the shared tree walk (graph.TreeWalker).

The walk must list what ``git rev-list --objects`` lists (clones, incremental
fetches, partial-clone filters), give the same result whether trees are read
from packs (delta-aware scanning) or through ``get_raw`` alone, and reject
malformed trees.
"""

from __future__ import annotations

import os
import random

import pytest

from puregit.errors import ObjectFormatError
from puregit.graph import BLOB, TREE, TreeWalker
from puregit.object_store import DiskObjectStore
from puregit.upload_walk import CommitGraph, ObjectFilter, ObjectWalk
from tests.helpers import _write, git, make_rich_repo


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """History over a few directories, packed with deep deltas, plus loose commits on top."""
    path = str(tmp_path_factory.mktemp("upload_walk") / "repo")
    make_rich_repo(path)
    rng = random.Random(11)
    names = [f"d{i % 3}/s{i % 2}/f{i}.txt" for i in range(30)]
    for name in names:
        _write(path, name, f"{name} start\n".encode())
    for n in range(40):
        for name in rng.sample(names, 3):
            _write(path, name, f"{name} v{n}\n".encode() * (1 + n % 7))
        if n % 13 == 4:
            _write(path, f"copy{n}.txt", f"{names[0]} start\n".encode())
        git("add", "-A", ".", cwd=path)
        git("commit", "-q", "-m", f"c{n}", cwd=path)
        if n == 20:
            git("branch", "mid", cwd=path)
        if n == 34:
            git("repack", "-adfq", "--window=50", "--depth=50", cwd=path)
    return path


class GetRawOnly:
    """A store without ``_walk_packs``: every tree is read and parsed in full."""

    def __init__(self, store):
        self.get_raw = store.get_raw
        self.hash_algo = store.hash_algo


def _refs(path) -> list[bytes]:
    return sorted(set(git("for-each-ref", "--format=%(objectname)", cwd=path).split()))


def _rev(path, *args) -> set:
    out = git("rev-list", "--objects", *args, cwd=path)
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def _walk(store, wants, haves=(), flt=None):
    walk = ObjectWalk(store, CommitGraph(store.get_raw), wants, haves, (), flt)
    return list(walk), walk


def test_clone_matches_git_and_plain_reads(repo):
    store = DiskObjectStore(os.path.join(repo, ".git", "objects"))
    got, walk = _walk(store, _refs(repo))
    assert {s for s, _, _ in got} == _rev(repo, "--all")
    assert len(got) == len({s for s, _, _ in got})
    assert walk.edge_objects == set()
    plain, _ = _walk(GetRawOnly(store), _refs(repo))
    assert got == plain  # same objects, order and paths


def test_incremental_matches_git_and_exposes_edges(repo):
    store = DiskObjectStore(os.path.join(repo, ".git", "objects"))
    main = git("rev-parse", "main", cwd=repo).strip()
    mid = git("rev-parse", "mid", cwd=repo).strip()
    got, walk = _walk(store, [main], [mid])
    assert {s for s, _, _ in got} == _rev(repo, "main", "--not", "mid")
    mid_tree = git("rev-parse", "mid^{tree}", cwd=repo).strip()
    assert mid_tree in walk.edge_objects
    assert not walk.edge_objects & {s for s, _, _ in got}
    assert mid not in walk.sent_commits and main in walk.sent_commits
    plain, plain_walk = _walk(GetRawOnly(store), [main], [mid])
    assert got == plain and walk.edge_objects == plain_walk.edge_objects


@pytest.mark.parametrize("spec", [b"blob:none", b"blob:limit=40", b"tree:0", b"tree:1",
                                  b"tree:2", b"object:type=blob", b"object:type=tree"])
def test_filters_match_git(repo, spec):
    store = DiskObjectStore(os.path.join(repo, ".git", "objects"))
    main = git("rev-parse", "main", cwd=repo).strip()
    got, _ = _walk(store, [main], (), ObjectFilter(spec))
    want = _rev(repo, "main", f"--filter={spec.decode()}")
    ids = {s for s, _, _ in got}
    if spec.startswith(b"object:type="):
        # rev-list still prints the tip commit; compare trees and blobs only
        commits = set(git("rev-list", "main", cwd=repo).split())
        ids, want = ids - commits, want - commits
    assert ids == want
    plain, _ = _walk(GetRawOnly(store), [main], (), ObjectFilter(spec))
    assert got == plain


def test_tree_walker_filter_hooks():
    """TreeWalker.walk only asks the filter; a filter object needs no upload_walk import."""
    from puregit.object_store import MemoryObjectStore
    store = MemoryObjectStore()
    blob = store.add_raw(BLOB, b"x" * 10)
    small = store.add_raw(BLOB, b"y")
    sub = store.add_raw(TREE, b"100644 b\0" + bytes.fromhex(blob.decode()))
    top = store.add_raw(TREE, b"100644 a\0" + bytes.fromhex(small.decode())
                        + b"40000 s\0" + bytes.fromhex(sub.decode()))

    class Small:
        tree_depth = None

        def type_ok(self, t):
            return True

        def tree_ok(self, depth):
            return True

        def blob_ok(self, size_fn, depth):
            return size_fn() < 5

    walker = TreeWalker(store.get_raw)
    got = list(walker.walk(bytes.fromhex(top.decode()), b"", Small(),
                           lambda h: len(store.get_raw(h)[1])))
    assert got == [(small, BLOB, b"a"), (sub, TREE, b"s")]
    assert bytes.fromhex(blob.decode()) in walker.seen  # omitted for good


def test_malformed_tree_raises(tmp_path):
    path = str(tmp_path / "bad")
    git("init", "-q", "-b", "main", path)
    bad = git("hash-object", "-w", "-t", "tree", "--literally", "--stdin", cwd=path,
              input=b"100644 no-nul-and-no-id")
    bad = bad.strip()
    commit = git("hash-object", "-w", "-t", "commit", "--literally", "--stdin", cwd=path,
                 input=b"tree " + bad + b"\nauthor A <a@b> 0 +0000\n"
                       b"committer A <a@b> 0 +0000\n\nbad\n").strip()
    store = DiskObjectStore(os.path.join(path, ".git", "objects"))
    with pytest.raises(ObjectFormatError):
        _walk(store, [commit])
    with pytest.raises(ObjectFormatError):
        _walk(store, [commit], (), ObjectFilter(b"tree:3"))
    # a "tree" that is a blob is no tree either
    blob = git("hash-object", "-w", "--stdin", cwd=path, input=b"data\n").strip()
    commit2 = git("hash-object", "-w", "-t", "commit", "--literally", "--stdin", cwd=path,
                  input=b"tree " + blob + b"\nauthor A <a@b> 0 +0000\n"
                        b"committer A <a@b> 0 +0000\n\nbad\n").strip()
    with pytest.raises(ObjectFormatError):
        _walk(store, [commit2])
