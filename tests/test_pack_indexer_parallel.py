"""The indexer's forked resolving pass gives the same index, ids and fsck findings."""

from __future__ import annotations

import os
import random

import pytest

from helpers import git

from puregit import pack_resolve
from puregit.fsck import FsckPolicy
from puregit.fsck_stream import StreamFsck
from puregit.object_store import DiskObjectStore
from puregit.pack_indexer import PackIndexer, install_pack


@pytest.fixture(autouse=True)
def always_fork(monkeypatch):
    monkeypatch.setattr(pack_resolve, "PARALLEL_MIN_DELTAS", 0)
    monkeypatch.setattr(pack_resolve, "cores", lambda: 2)


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """Many delta families (files, trees, commits), two hostile trees in different families."""
    path = tmp_path_factory.mktemp("repo")
    git("init", "-q", str(path))
    rnd = random.Random(11)
    for c in range(30):
        for f in range(6):
            lines = [f"{f} line {i} {rnd.randrange(5) if i % 7 == c % 7 else 0}\n"
                     for i in range(200)]
            (path / f"d{f % 3}").mkdir(exist_ok=True)
            (path / f"d{f % 3}" / f"f{f}.txt").write_text("".join(lines))
        git("add", "-A", cwd=path)
        git("commit", "-q", "-m", f"c{c}", cwd=path)
    blob = git("hash-object", "-w", "--stdin", cwd=path, input=b"x\n").strip()
    bad = []
    for name in (b".git", b"a/b"):
        body = b"100644 " + name + b"\0" + bytes.fromhex(blob.decode())
        bad.append(git("hash-object", "-t", "tree", "-w", "--literally", "--stdin", cwd=path,
                       input=body).strip())
    git("repack", "-adq", cwd=path)
    data = git("pack-objects", "-q", "--stdout", "--all", cwd=path, input=b"\n".join(bad) + b"\n")
    return path, data, bad


def index(tmp_path, data, parallel):
    refs: set = set()
    chk = StreamFsck(FsckPolicy(True), 20, refs)
    ix = PackIndexer(str(tmp_path), fix_thin=True, inspect=chk, parallel=parallel)
    ix.feed(data)
    result = ix.finish()
    idx = open(result.idx_path, "rb").read()
    for p in (result.pack_path, result.idx_path):
        os.unlink(p)
    return idx, sorted((h, p.msg_id) for h, p in chk.finish(lambda h: (3, b""))), refs, chk.stats


def test_forked_pass_matches_the_single_one(repo, tmp_path, monkeypatch):
    _, data, bad = repo
    forks = []
    real = pack_resolve.in_child
    monkeypatch.setattr(pack_resolve, "in_child", lambda *a: forks.append(1) or real(*a))
    one = index(tmp_path / "one", data, False)
    assert not forks
    two = index(tmp_path / "two", data, True)
    assert forks
    assert one[0] == two[0]              # the same .idx bytes
    assert one[1] == two[1] and {h for h, _ in one[1]} == set(bad)
    assert one[2] == two[2] and one[3] == two[3]


def test_child_failure_falls_back(repo, tmp_path, monkeypatch):
    _, data, _ = repo
    from puregit import forking
    monkeypatch.setattr(forking.marshal, "dumps", lambda obj: 1 / 0)   # the child dies
    one = index(tmp_path / "one", data, False)
    two = index(tmp_path / "two", data, True)
    assert one == two


def test_thin_pack_in_a_forked_pass(repo, tmp_path):
    path, _, _ = repo
    commits = git("rev-list", "--reverse", "HEAD", cwd=path).decode().split()
    base = tmp_path / "base.git"
    git("init", "-q", "--bare", str(base))
    git("push", "-q", str(base), f"{commits[10]}:refs/heads/main", cwd=path)
    data = git("pack-objects", "-q", "--thin", "--revs", "--stdout", cwd=path,
               input=f"{commits[-1]}\n^{commits[10]}\n".encode())
    store = DiskObjectStore(str(base / "objects"))
    idx = []
    for parallel in (False, True):
        ix = PackIndexer(store.pack_dir, fix_thin=True, parallel=parallel,
                         resolve_ext_ref=lambda b: store.get_raw(b.hex().encode()))
        ix.feed(data)
        result = ix.finish()
        assert result.thin_bases_added > 0
        idx.append(open(result.idx_path, "rb").read())
        if parallel:
            name = install_pack(result, store.pack_dir)
            git("verify-pack", name + ".idx", cwd=base)
            git("update-ref", "refs/heads/main", commits[-1], cwd=base)
            git("fsck", "--strict", "--no-dangling", cwd=base)
        else:
            ix.abort()   # removes its temp files
    assert idx[0] == idx[1]


def test_the_meter_adds_up_both_sides(repo, tmp_path, monkeypatch):
    """The resolving meter runs beside a forked child and never claims more than the total."""
    import re
    _, data, _ = repo
    monkeypatch.setattr(pack_resolve, "PROGRESS_SECONDS", 0.0005)
    real = pack_resolve.Resolver.resolve_from

    def slowly(self, *a):   # slow enough for the meter to show up
        import time
        time.sleep(0.002)
        return real(self, *a)
    monkeypatch.setattr(pack_resolve.Resolver, "resolve_from", slowly)
    said = []
    ix = PackIndexer(str(tmp_path), fix_thin=True, parallel=True, progress=said.append)
    ix.feed(data)
    result = ix.finish()
    plain = PackIndexer(str(tmp_path), fix_thin=True)
    plain.feed(data)
    other = plain.finish()
    assert open(result.idx_path, "rb").read() == open(other.idx_path, "rb").read()
    counts = [tuple(map(int, m.groups())) for m in
              (re.fullmatch(rb"Resolving deltas: +\d+% \((\d+)/(\d+)\)\r", s) for s in said)]
    assert counts and all(done <= total for done, total in counts)
    for r in (result, other):
        for p in (r.pack_path, r.idx_path):
            os.unlink(p)
