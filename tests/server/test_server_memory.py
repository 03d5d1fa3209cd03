"""What a server keeps in memory: shared per repository, bounded, released after a connection."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import time
import weakref

import pytest
from helpers import fsck, git, make_rich_repo
from helpers_server import serving, url

from puregit import backend as backend_mod
from puregit import bitmap as bitmap_mod
from puregit import pack_reuse
from puregit.backend import FileSystemBackend
from puregit.pack import PackData, _BaseCache
from puregit.repo import Repo


@pytest.fixture
def served(tmp_path):
    src = tmp_path / "src"
    make_rich_repo(src)
    bare = tmp_path / "root" / "repo.git"
    git("clone", "-q", "--mirror", str(src), str(bare))
    git("repack", "-adbq", cwd=bare)       # one pack with a bitmap
    return bare


def test_base_cache_stays_within_its_budget():
    cache = _BaseCache(1000)
    for i in range(200):
        cache.put(i * 10, 3, b"x" * (50 + i % 7))
        assert cache._bytes <= 1000
        assert sum(len(v[1]) for v in cache._d.values()) == cache._bytes
    cache.put(99999, 3, b"y" * 600)       # over half the budget: never cached
    assert cache.get(99999) is None


def test_connections_to_one_repository_share_its_object_store(served, monkeypatch):
    backend = FileSystemBackend(str(served.parent))
    a = backend.open_repository("/repo.git")
    b = backend.open_repository("/repo.git")
    assert a is not b and a.object_store is b.object_store
    store = weakref.ref(a.object_store)
    del a, b
    gc.collect()
    assert store() is not None                # kept a while after its last use ...
    again = backend.open_repository("/repo.git")
    assert again.object_store is store()      # ... for the next connection
    del again
    monkeypatch.setattr(backend_mod, "KEEP_SECONDS", 0.0)
    backend_mod.forget_idle_stores()
    gc.collect()
    assert store() is None                    # then let go
    c = backend.open_repository("/repo.git")
    assert c.object_store.packs and c.object_store.get_raw(git(
        "rev-parse", "HEAD", cwd=served).strip())[0] == 1


def test_bitmap_cache_does_not_keep_packs_alive(served):
    repo = Repo(str(served))
    pack = repo.object_store.packs[0]
    bm = bitmap_mod.load_bitmap(pack)
    assert bm is not None and bm.pack is pack
    ids = sorted((off, sha) for sha, off, _ in pack.index.iterentries())
    assert [bm.ids[i] for i in range(len(ids))] == [sha for _, sha in ids]
    assert all(bm.pos_of.get(sha) == i for i, (_, sha) in enumerate(ids))
    assert bm.pos_of.get(b"\0" * 20) is None and bm.pos_of.get(b"\xff" * 20) is None
    ref = weakref.ref(pack)
    del bm, pack
    repo.close()
    del repo
    gc.collect()
    assert ref() is None
    repo = Repo(str(served))
    again = bitmap_mod.load_bitmap(repo.object_store.packs[0])   # from the cache
    assert again is not None and again.pack is repo.object_store.packs[0]
    repo.close()


def test_identical_slice_plans_are_shared(served):
    repo = Repo(str(served))
    pack = repo.object_store.packs[0]
    ids = [sha.hex().encode() for sha in pack.index.iter_sha()]
    wanted = set(ids[: len(ids) - 3])
    first = pack_reuse.plan_slice_reuse([pack], wanted, min_objects=1)
    second = pack_reuse.plan_slice_reuse([pack], set(wanted), min_objects=1)
    thin = pack_reuse.plan_slice_reuse([pack], wanted, {ids[-1]}, min_objects=1)
    shared, fresh = first is second, thin is not first   # thin bases: never cached
    ref = weakref.ref(pack_reuse._layout(pack))
    del first, second, thin
    assert shared and fresh
    repo.close()
    del repo, pack
    assert ref() is None                      # no cycle keeps the layout and its mapping


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/smaps")
def test_release_pages_drops_the_mapping_from_rss(tmp_path):
    work = tmp_path / "w"
    git("init", "-q", str(work))
    (work / "big").write_bytes(os.urandom(3 << 20))
    git("add", "big", cwd=work)
    git("commit", "-q", "-m", "big", cwd=work)
    git("repack", "-adq", cwd=work)
    packdir = work / ".git" / "objects" / "pack"
    path = str(next(packdir.glob("*.pack")))
    data = PackData(path)
    try:
        total = sum(data._mmap[i] for i in range(0, data._size, 4096))   # touch every page
        assert total >= 0
        assert _mapped_rss_kib(path) >= 2048
        data.release_pages()
        assert _mapped_rss_kib(path) == 0
        data.get_stored_checksum()                 # still readable afterwards
    finally:
        data.close()


def _mapped_rss_kib(path: str) -> int:
    rss = 0
    inside = False
    with open("/proc/self/smaps") as f:
        for line in f:
            first = line.split(None, 1)[0]
            if "-" in first and not first.endswith(":"):
                inside = line.rstrip("\n").endswith(path)
            elif inside and first == "Rss:":
                rss += int(line.split()[1])
    return rss


def test_nothing_per_connection_stays_after_clones(served, tmp_path, monkeypatch):
    monkeypatch.setattr(backend_mod, "KEEP_SECONDS", 0.0)   # nothing kept after use
    with serving(FileSystemBackend(str(served.parent))) as srv:
        dests = [tmp_path / f"c{i}" for i in range(3)]
        procs = [subprocess.Popen(["git", "clone", "-q", "--bare", url(srv), str(d)],
                                  stderr=subprocess.PIPE) for d in dests]
        errors = [p.communicate()[1] for p in procs]
        assert [p.returncode for p in procs] == [0, 0, 0], errors
    for d in dests:
        fsck(d)
    backend_mod.forget_idle_stores()
    gc.collect()
    assert len(backend_mod._STORES) == 0
    assert len(pack_reuse._LAYOUTS) == 0
    assert all(bm.pack is None for bm in bitmap_mod._CACHE.values())


def test_an_idle_server_lets_go_of_kept_stores(served, tmp_path, monkeypatch):
    monkeypatch.setattr(backend_mod, "KEEP_SECONDS", 0.3)
    with serving(FileSystemBackend(str(served.parent))) as srv:
        git("clone", "-q", "--bare", url(srv), str(tmp_path / "c"))
        assert backend_mod._RECENT          # kept for the next clone ...
        deadline = time.monotonic() + 10
        while backend_mod._RECENT and time.monotonic() < deadline:
            time.sleep(0.1)                 # ... no connection comes
        assert not backend_mod._RECENT      # let go by the serving loop itself
