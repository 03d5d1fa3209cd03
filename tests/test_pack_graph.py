"""pack_graph: walks of everything that read commits and trees in pack order.

The result must be exactly ``git rev-list --objects``'s, including when a
tree's delta base is not reachable (the tree is then walked whole) and when
objects live outside the packs.
"""

from __future__ import annotations

import os
import random

import pytest

from puregit import pack_graph
from puregit.graph import ReachabilityWalker
from puregit.object_store import DiskObjectStore
from puregit.pack_graph import PackGraph
from puregit.upload_walk import CommitGraph, ObjectWalk
from tests.helpers import BENCHDATA, _write, git, make_rich_repo


@pytest.fixture(autouse=True)
def small_packs_too(monkeypatch):
    monkeypatch.setattr(pack_graph, "MIN_OBJECTS", 0)


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("pg") / "repo")
    make_rich_repo(path)
    rng = random.Random(3)
    names = [f"d{i % 5}/s{i % 3}/f{i}.txt" for i in range(60)]
    for n in range(40):
        for name in rng.sample(names, 4):
            _write(path, name, f"{name} {n}\n".encode() * (1 + n % 4))
        git("add", "-A", ".", cwd=path)
        git("commit", "-q", "-m", f"c{n}", cwd=path)
    git("repack", "-adfq", "--window=50", "--depth=50", cwd=path)
    _write(path, "loose/new.txt", b"only loose\n")   # objects outside the pack too
    git("add", "-A", ".", cwd=path)
    git("commit", "-q", "-m", "loose", cwd=path)
    return path


def _expected(path, *revs) -> dict:
    out = git("rev-list", "--objects", *revs, cwd=path)
    return {line[:40]: line[41:] for line in out.splitlines()}


def _types(path, ids) -> dict:
    out = git("cat-file", "--batch-check=%(objectname) %(objecttype)", cwd=path,
              input=b"\n".join(ids) + b"\n")
    names = {b"commit": 1, b"tree": 2, b"blob": 3, b"tag": 4}
    return {line.split()[0]: names[line.split()[1]] for line in out.splitlines()}


def _check(path, got, expected) -> None:
    ids = [sha for sha, _, _ in got]
    assert len(ids) == len(set(ids))
    assert set(ids) == set(expected)
    types = _types(path, ids)
    assert all(types[sha] == t for sha, t, _ in got)
    trees_and_blobs = [(sha, p) for sha, t, p in got if t in (2, 3) and p]
    # paths name the object in some commit (the walk reports the first path it met)
    assert sum(expected[sha] == p for sha, p in trees_and_blobs) > len(trees_and_blobs) // 2


def test_walk_of_everything_matches_git(repo):
    store = DiskObjectStore(os.path.join(repo, ".git", "objects"))
    graph = PackGraph.build(store.packs)
    assert graph is not None and len(graph.trees) > 20 and len(graph.commits) >= 40
    refs = sorted(set(git("for-each-ref", "--format=%(objectname)", cwd=repo).split()))
    got = list(store.iter_reachable(refs))
    _check(repo, got, _expected(repo, "--all"))
    store.close()


def test_clone_walk_matches_git(repo):
    store = DiskObjectStore(os.path.join(repo, ".git", "objects"))
    head = git("rev-parse", "HEAD", cwd=repo).strip()
    walk = ObjectWalk(store, CommitGraph(store.get_raw), [head])
    got = list(walk)
    _check(repo, got, _expected(repo, head.decode()))
    store.close()


def test_tree_whose_base_is_unreachable(tmp_path):
    """B's root tree is a delta of A's; A is then dropped: B's tree is walked whole."""
    path = str(tmp_path / "r")
    git("init", "-q", "-b", "a", path)
    for i in range(120):
        _write(path, f"f{i:03d}", f"file {i}\n".encode())
    _write(path, "sub/only-in-a", b"a\n")
    git("add", "-A", ".", cwd=path)
    git("commit", "-q", "-m", "a", cwd=path)
    git("checkout", "-q", "--orphan", "b", cwd=path)
    for i in range(0, 120, 7):
        os.unlink(os.path.join(path, f"f{i:03d}"))
    git("rm", "-rqf", "sub", cwd=path)
    git("add", "-A", ".", cwd=path)
    git("commit", "-q", "-m", "b", cwd=path)
    git("repack", "-adfq", "--window=50", cwd=path)
    tree_a = git("rev-parse", "a^{tree}", cwd=path).strip().decode()
    tree_b = git("rev-parse", "b^{tree}", cwd=path).strip().decode()
    pack = [p for p in os.listdir(os.path.join(path, ".git", "objects", "pack"))
            if p.endswith(".idx")][0]
    verify = git("verify-pack", "-v", os.path.join(path, ".git", "objects", "pack", pack)).decode()
    assert any(line.startswith(tree_b) and line.split()[-1] == tree_a
               for line in verify.splitlines()), "test needs b's tree stored as a delta of a's"
    git("branch", "-D", "a", cwd=path)   # a's objects stay in the pack, unreachable

    store = DiskObjectStore(os.path.join(path, ".git", "objects"))
    graph = PackGraph.build(store.packs)
    assert graph.trees[bytes.fromhex(tree_b)][0] == bytes.fromhex(tree_a)
    head = git("rev-parse", "b", cwd=path).strip()
    got = list(store.iter_reachable([head]))
    expected = _expected(path, "b")
    _check(path, got, expected)
    walk = ObjectWalk(store, CommitGraph(store.get_raw), [head])
    assert {sha for sha, _, _ in walk} == set(expected)
    store.close()


def test_partial_walks_do_not_use_the_graph(repo, monkeypatch):
    def boom(*a, **k):
        raise AssertionError("a walk with exclusions must not build a pack graph")
    monkeypatch.setattr(PackGraph, "build", boom)
    store = DiskObjectStore(os.path.join(repo, ".git", "objects"))
    head = git("rev-parse", "HEAD", cwd=repo).strip()
    old = git("rev-parse", "HEAD~5", cwd=repo).strip()
    got = list(ReachabilityWalker(store.get_raw, store.hash_algo, has=store.contains,
                                  packs=store.packs).walk([head], [old]))
    assert {sha for sha, _, _ in got} == set(_expected(repo, head.decode(), "--not", old.decode()))
    store.close()


@pytest.mark.skipif(not os.path.exists(os.path.join(BENCHDATA, "dulwich.bundle")),
                    reason="benchdata not available")
def test_real_history(tmp_path):
    mirror = str(tmp_path / "dulwich.git")
    git("clone", "--mirror", "-q", os.path.join(BENCHDATA, "dulwich.bundle"), mirror)
    store = DiskObjectStore(os.path.join(mirror, "objects"))
    refs = sorted(set(git("for-each-ref", "--format=%(objectname)", cwd=mirror).split()))
    got = list(store.iter_reachable(refs))
    expected = _expected(mirror, "--all")
    assert len(got) == len(expected) and {sha for sha, _, _ in got} == set(expected)
    store.close()


def test_parallel_build_gives_the_same_graph(repo, monkeypatch):
    monkeypatch.setattr(pack_graph, "PARALLEL_MIN_ROOTS", 0)
    monkeypatch.setattr(pack_graph, "_cores", lambda: 2)
    forks = []
    real = pack_graph._in_child
    monkeypatch.setattr(pack_graph, "_in_child", lambda *a: forks.append(1) or real(*a))
    store = DiskObjectStore(os.path.join(repo, ".git", "objects"))
    one = PackGraph.build(store.packs)
    two = PackGraph.build(store.packs, parallel=True)
    assert forks and one.trees == two.trees and one.commits == two.commits
    store.close()


def test_parallel_build_survives_a_failing_child(repo, monkeypatch):
    monkeypatch.setattr(pack_graph, "PARALLEL_MIN_ROOTS", 0)
    monkeypatch.setattr(pack_graph, "_cores", lambda: 2)
    from puregit import forking
    monkeypatch.setattr(forking.marshal, "dumps", lambda obj: 1 / 0)   # the child dies
    store = DiskObjectStore(os.path.join(repo, ".git", "objects"))
    one = PackGraph(20)
    one._add_pack(store.packs[0])
    two = PackGraph(20)
    two._add_pack(store.packs[0], parallel=True)
    assert one.trees == two.trees and one.commits == two.commits
    store.close()


@pytest.mark.parametrize("slow", ["parent", "child", "neither"])
def test_the_two_sides_share_every_family(slow):
    """Parent from the start, forked child from the end: each index is taken, none is lost."""
    import time
    from puregit.forking import in_child
    n = 3000
    roots = list(range(n))
    meet = pack_graph._Meeting(n)
    mine, theirs = [], []

    def work(into, pause):
        def take(i):
            into.append(i)
            if pause and i % 50 == 0:
                time.sleep(0.001)
        return take

    got = in_child(lambda: meet.take_from_end(roots, work(theirs, slow == "child")),
                   lambda: theirs,
                   lambda: meet.take_from_start(roots, work(mine, slow == "parent")))
    assert got is not None
    assert sorted(set(mine) | set(got)) == roots
    assert mine == roots[:meet.parent_done]
    assert len(set(mine) & set(got)) <= 2          # only where they met
    if slow == "parent":
        assert len(got) > len(mine)
    elif slow == "child":
        assert len(mine) > len(got)


def test_a_malformed_whole_tree_is_reported_not_skipped(tmp_path):
    """A whole tree nobody deltas against is read only when walked: it must still be checked."""
    from puregit.errors import PuregitError
    path = str(tmp_path / "bad")
    git("init", "-q", path)
    blob = git("hash-object", "-w", "--stdin", cwd=path, input=b"x\n").strip()
    good = git("mktree", cwd=path, input=b"100644 blob " + blob + b"\ta\n").strip()
    bad_file = tmp_path / "bad-tree"
    bad_file.write_bytes(b"100644 a\0" + bytes.fromhex(blob.decode()) + b"100644 b\0\x01\x02")
    bad = git("hash-object", "-t", "tree", "--literally", "-w", str(bad_file), cwd=path).strip()
    commit = git("commit-tree", bad.decode(), "-m", "bad", cwd=path).strip()
    ids = b"\n".join([blob, good, bad, commit]) + b"\n"
    git("pack-objects", "-q", os.path.join(path, ".git", "objects", "pack", "pack"), cwd=path,
        input=ids)
    git("prune-packed", cwd=path)
    store = DiskObjectStore(os.path.join(path, ".git", "objects"))
    with pytest.raises(PuregitError):
        list(store.iter_reachable([commit]))
    with pytest.raises(PuregitError):
        list(ObjectWalk(store, CommitGraph(store.get_raw), [commit]))
    store.close()
