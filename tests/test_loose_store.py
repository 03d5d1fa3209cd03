"""Loose objects and the object stores: real git reads what we write, bad files fail typed."""

import os
import zlib

import pytest

from helpers import git, make_rich_repo
from puregit.errors import LooseObjectError, MissingObjectError, PuregitError
from puregit.hashes import SHA256
from puregit.loose import decode_loose, encode_loose
from puregit.object_store import DiskObjectStore, MemoryObjectStore
from puregit.objects import Blob, Commit, Tree


def _snapshot(root):
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames:
            p = os.path.join(dirpath, name)
            with open(p, "rb") as f:
                out[p] = f.read()
    return out


def test_loose_roundtrip():
    data = encode_loose(b"blob", b"hello")
    assert decode_loose(data) == (b"blob", b"hello")


@pytest.mark.parametrize("data", [
    b"",
    b"not zlib at all",
    zlib.compress(b"blob 5\0hell"),            # size says 5, data has 4
    zlib.compress(b"blob 3\0hello"),           # data longer than size
    zlib.compress(b"spoon 5\0hello"),          # unknown type
    zlib.compress(b"blob x\0hello"),           # bad size
    zlib.compress(b"blob 05\0hello"),          # leading zero
    zlib.compress(b"blob5\0hello"),            # no space
    zlib.compress(b"blob 5 hello" * 10),       # no NUL in header window
    zlib.compress(b"blob 5\0hello")[:-3],      # truncated stream
    zlib.compress(b"blob 5\0hello") + b"junk",  # garbage after the stream
])
def test_loose_corruption_is_typed(data):
    with pytest.raises(LooseObjectError):
        decode_loose(data)


def test_loose_size_limit():
    with pytest.raises(LooseObjectError):
        decode_loose(encode_loose(b"blob", b"x" * 100), max_size=10)


def test_git_reads_puregit_loose_objects(tmp_path):
    git("init", "-q", "--bare", str(tmp_path / "r.git"))
    store = DiskObjectStore(str(tmp_path / "r.git" / "objects"))
    blob = Blob.from_data(b"content\n")
    store.add_object(blob)
    tree = Tree()
    tree.add(b"file", 0o100644, blob.id)
    store.add_object(tree)
    assert git("cat-file", "-p", blob.id.decode(), cwd=tmp_path / "r.git") == b"content\n"
    assert git("cat-file", "-t", tree.id.decode(), cwd=tmp_path / "r.git") == b"tree\n"
    # written read-only, no temp files left
    path = os.path.join(str(tmp_path / "r.git" / "objects"), blob.id[:2].decode(), blob.id[2:].decode())
    assert not os.stat(path).st_mode & 0o222
    assert not [n for n in os.listdir(os.path.dirname(path)) if n.startswith("tmp")]
    assert blob.id in store and store[blob.id].data == b"content\n"
    assert set(store) == {blob.id, tree.id}


def test_store_reads_git_loose_objects(tmp_path):
    make_rich_repo(tmp_path / "r")
    store = DiskObjectStore(str(tmp_path / "r" / ".git" / "objects"))
    ids = git("cat-file", "--batch-all-objects", "--batch-check=%(objectname)",
              cwd=tmp_path / "r").split()
    assert sorted(store) == sorted(ids)
    for sha in ids:
        assert store.get_raw(sha)[1] == git("cat-file", store[sha].type_name.decode(),
                                              sha.decode(), cwd=tmp_path / "r")


def test_missing_object(tmp_path):
    store = DiskObjectStore.init(str(tmp_path / "objects"))
    with pytest.raises(MissingObjectError):
        store[b"a" * 40]
    with pytest.raises(KeyError):
        store[b"a" * 40]
    assert b"a" * 40 not in store


def test_corrupt_loose_file_raises_and_changes_nothing(tmp_path):
    store = DiskObjectStore.init(str(tmp_path / "objects"))
    sha = store.add_object(Blob.from_data(b"hello"))
    path = os.path.join(store.path, sha[:2].decode(), sha[2:].decode())
    os.chmod(path, 0o644)
    with open(path, "wb") as f:
        f.write(zlib.compress(b"blob 9\0hello"))
    before = _snapshot(store.path)
    with pytest.raises(LooseObjectError):
        store[sha]
    with pytest.raises(PuregitError):
        store.get_raw(sha)
    assert _snapshot(store.path) == before


def test_alternates(tmp_path):
    base = DiskObjectStore.init(str(tmp_path / "base"))
    sha = base.add_object(Blob.from_data(b"shared"))
    child = DiskObjectStore.init(str(tmp_path / "child"))
    child.add_alternate_path(base.path)
    assert sha in child
    assert child[sha].data == b"shared"


def test_sha256_store(tmp_path):
    git("init", "-q", "--bare", "--object-format=sha256", str(tmp_path / "r.git"))
    store = DiskObjectStore(str(tmp_path / "r.git" / "objects"), hash_algo=SHA256)
    blob = Blob.from_data(b"x\n")
    blob.hash_algo = SHA256
    sha = store.add_object(blob)
    assert len(sha) == 64 and sha == blob.id
    assert git("cat-file", "-p", sha.decode(), cwd=tmp_path / "r.git") == b"x\n"


def _commit(store, tree, parents, msg):
    c = Commit()
    c.tree = tree
    c.parents = parents
    c.author = c.committer = b"A <a@example.com>"
    c.author_time = c.commit_time = 1700000000 + len(parents)
    c.author_timezone = c.commit_timezone = 0
    c.message = msg
    store.add_object(c)
    return c.id


def _tree(store, files):
    t = Tree()
    for name, data in files.items():
        t.add(name, 0o100644, store.add_object(Blob.from_data(data)))
    store.add_object(t)
    return t.id


@pytest.mark.parametrize("make_store", [MemoryObjectStore, "disk"])
def test_reachability_walk(tmp_path, make_store):
    store = MemoryObjectStore() if make_store is MemoryObjectStore else \
        DiskObjectStore.init(str(tmp_path / "o"))
    t1 = _tree(store, {b"a": b"1", b"b": b"2"})
    c1 = _commit(store, t1, [], b"one")
    t2 = _tree(store, {b"a": b"1", b"b": b"3"})
    c2 = _commit(store, t2, [c1], b"two")
    everything = list(store.iter_reachable([c2]))
    ids = [sha for sha, _, _ in everything]
    assert len(ids) == len(set(ids))  # each object once
    assert set(ids) == set(store)
    incremental = {sha for sha, _, _ in store.iter_reachable([c2], [c1])}
    blob3 = Blob.from_data(b"3").id
    assert incremental == {c2, t2, blob3}
    paths = {sha: path for sha, _, path in store.iter_reachable([c2])}
    assert paths[blob3] == b"b"
    # unknown exclude ids are ignored, as a server ignores unknown haves
    assert {s for s, _, _ in store.iter_reachable([c2], [b"f" * 40])} == set(store)
