"""Indexing pack streams (index-pack): identical .idx, thin packs, and every bad input refused
with a specific error and an unchanged store."""

from __future__ import annotations

import glob
import hashlib
import io
import os
import random
import struct
import zlib

import pytest
from helpers import BENCHDATA, git_runner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from puregit.delta import encode_varint
from puregit.errors import (CorruptPackError, DeltaError, MissingDeltaBaseError,
                            ObjectTooLargeError, PackChecksumError, PackError)
from puregit.object_store import DiskObjectStore, MemoryObjectStore
from puregit.pack import OFS_DELTA, REF_DELTA, Pack, encode_entry_header, encode_ofs_distance
from puregit.pack_indexer import PackIndexer, index_pack_stream



@pytest.fixture(scope="module")
def git(tmp_path_factory):
    return git_runner(tmp_path_factory.mktemp("home"))


@pytest.fixture(scope="module")
def repo(git, tmp_path_factory):
    """History with deltas, one object over the indexer's one-call limit, and a tag."""
    path = tmp_path_factory.mktemp("repo")
    git("init", "-q", str(path))
    rnd = random.Random(5)
    lines = [f"line {i} {rnd.random()}\n" for i in range(400)]
    big = bytearray(rnd.randbytes(1 << 20) * 2 + rnd.randbytes(300_000))
    for c in range(12):
        for k in range(4):
            lines[rnd.randrange(len(lines))] = f"changed {c} {k} {rnd.random()}\n"
        (path / "file.txt").write_text("".join(lines))
        (path / f"f{c % 3}.txt").write_text(f"v{c}\n" * 40)
        if c % 4 == 0:
            big[rnd.randrange(len(big))] ^= 0xFF
            (path / "big.bin").write_bytes(bytes(big))
        git("add", "-A", cwd=path)
        git("commit", "-q", "-m", f"commit {c}", cwd=path)
    git("tag", "-a", "v1", "-m", "tag", cwd=path)
    git("repack", "-a", "-d", "-q", cwd=path)
    return path


def the_pack(repo) -> str:
    return glob.glob(str(repo / ".git/objects/pack/*.pack"))[0]


def snapshot(path) -> list:
    out = []
    for root, _, files in os.walk(path):
        for name in files:
            p = os.path.join(root, name)
            out.append((os.path.relpath(p, path), os.path.getsize(p)))
    return sorted(out)


def cat_all(git, repo) -> dict:
    out = git("cat-file", "--batch-all-objects", "--batch", cwd=repo)
    objects, pos = {}, 0
    while pos < len(out):
        nl = out.index(b"\n", pos)
        sha, typ, size = out[pos:nl].split()
        objects[sha] = ({b"commit": 1, b"tree": 2, b"blob": 3, b"tag": 4}[typ],
                        out[nl + 1:nl + 1 + int(size)])
        pos = nl + 2 + int(size)
    return objects


# --- good packs ------------------------------------------------------------

def test_stream_index_is_identical_to_git(repo, tmp_path):
    pack = the_pack(repo)
    store = DiskObjectStore.init(str(tmp_path / "objects"))
    with open(pack, "rb") as f:
        p = store.add_pack_stream(f.read)
    assert os.path.basename(p.basename) == os.path.basename(pack)[:-5]
    assert open(p.basename + ".idx", "rb").read() == open(pack[:-5] + ".idx", "rb").read()
    assert open(p.basename + ".pack", "rb").read() == open(pack, "rb").read()
    assert sorted(os.listdir(store.pack_dir)) == sorted(os.path.basename(p.basename) + e
                                                       for e in (".idx", ".pack"))
    p.check()


def test_every_object_reads_back_from_store(git, repo, tmp_path):
    store = DiskObjectStore.init(str(tmp_path / "objects"))
    store.add_pack_stream(open(the_pack(repo), "rb"))
    expected = cat_all(git, repo)
    assert set(store) == set(expected)
    for sha, raw in expected.items():
        assert store.get_raw(sha) == raw


@pytest.fixture(scope="module")
def small_pack(git, repo, tmp_path_factory):
    """(pack bytes, git's idx bytes) for every object except the big blob: cheap to dribble."""
    revs = [line for line in git("rev-list", "--objects", "--all", cwd=repo).splitlines()
            if not line.endswith(b" big.bin")]
    data = git("pack-objects", "-q", "--delta-base-offset", "--stdout", cwd=repo,
               input=b"\n".join(revs) + b"\n")
    d = tmp_path_factory.mktemp("small")
    (d / "p.pack").write_bytes(data)
    git("index-pack", str(d / "p.pack"))
    return data, (d / "p.idx").read_bytes()


@pytest.mark.parametrize("chunk", [1, 7, 4096, 1 << 22])
def test_chunk_sizes(repo, small_pack, tmp_path, chunk):
    if chunk == 1:
        data, expected = small_pack
    else:
        data = open(the_pack(repo), "rb").read()
        expected = open(the_pack(repo)[:-5] + ".idx", "rb").read()
    indexer = PackIndexer(tmp_path)
    for i in range(0, len(data), chunk):
        indexer.feed(data[i:i + chunk])
    result = indexer.finish()
    assert open(result.idx_path, "rb").read() == expected
    assert open(result.pack_path, "rb").read() == data


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.integers(1, 5000), min_size=1, max_size=30))
def test_random_chunking(small_pack, tmp_path, sizes):
    data, expected = small_pack
    chunks, pos, i = [], 0, 0
    while pos < len(data):
        n = sizes[i % len(sizes)]
        chunks.append(data[pos:pos + n])
        pos += n
        i += 1
    result = index_pack_stream(chunks, tmp_path)
    try:
        assert open(result.idx_path, "rb").read() == expected
    finally:
        os.unlink(result.idx_path)
        os.unlink(result.pack_path)


def test_tiny_base_budget_rebuilds_dropped_bases(repo, monkeypatch, tmp_path):
    # With no room for held bases, every dropped base is rebuilt from the pack.
    import puregit.pack_resolve as pr
    monkeypatch.setattr(pr, "_STACK_BUDGET", 1)
    with open(the_pack(repo), "rb") as f:
        result = index_pack_stream(f.read, tmp_path)
    assert open(result.idx_path, "rb").read() == open(the_pack(repo)[:-5] + ".idx", "rb").read()


def test_ref_delta_stream(git, repo, tmp_path):
    revs = git("rev-list", "--objects", "--all", cwd=repo)
    data = git("pack-objects", "-q", "--stdout", cwd=repo, input=revs)
    (tmp_path / "git").mkdir()
    (tmp_path / "git" / "p.pack").write_bytes(data)
    git("index-pack", str(tmp_path / "git" / "p.pack"))
    store = DiskObjectStore.init(str(tmp_path / "objects"))
    p = store.add_pack_stream([data])
    assert any(e.type_num == REF_DELTA for _, e in p.iter_stored_entries())
    assert open(p.basename + ".idx", "rb").read() == (tmp_path / "git" / "p.idx").read_bytes()


def test_add_pack_commit_and_abort(repo, tmp_path):
    store = DiskObjectStore.init(str(tmp_path / "objects"))
    f, commit, abort = store.add_pack()
    f.write(open(the_pack(repo), "rb").read())
    p = commit()
    assert open(p.basename + ".idx", "rb").read() == open(the_pack(repo)[:-5] + ".idx", "rb").read()
    before = snapshot(store.path)
    f, commit, abort = store.add_pack()
    f.write(b"PACK")
    abort()
    assert snapshot(store.path) == before
    f, commit, abort = store.add_pack()
    f.write(open(the_pack(repo), "rb").read()[:-3])
    with pytest.raises(PackError):
        commit()
    assert snapshot(store.path) == before
    f, commit, abort = store.add_pack()
    assert commit() is None
    assert snapshot(store.path) == before


def test_memory_store_add_pack(git, repo):
    store = MemoryObjectStore()
    n = store.add_pack_stream(open(the_pack(repo), "rb").read)
    expected = cat_all(git, repo)
    assert n == len(expected) == len(store)
    for sha, raw in expected.items():
        assert store.get_raw(sha) == raw


def test_adding_same_pack_twice(repo, tmp_path):
    store = DiskObjectStore.init(str(tmp_path / "objects"))
    data = open(the_pack(repo), "rb").read()
    p1 = store.add_pack_stream([data])
    p2 = store.add_pack_stream([data])
    assert p1.basename == p2.basename
    assert len(os.listdir(store.pack_dir)) == 2


def test_empty_pack(tmp_path):
    body = b"PACK" + struct.pack(">II", 2, 0)
    store = DiskObjectStore.init(str(tmp_path / "objects"))
    assert store.add_pack_stream([body + hashlib.sha1(body).digest()]) is None
    assert os.listdir(store.pack_dir) == []


# --- thin packs ------------------------------------------------------------

@pytest.fixture(scope="module")
def thin(git, repo, tmp_path_factory):
    """(bare repo holding commits[:6], thin pack of commits[6:], git's own fix-thin pack dir)."""
    base = tmp_path_factory.mktemp("base")
    git("init", "-q", "--bare", str(base))
    commits = git("rev-list", "--reverse", "HEAD", cwd=repo).decode().split()
    old, new = commits[5], commits[-1]
    git("push", "-q", str(base), f"{old}:refs/heads/main", cwd=repo)
    data = git("pack-objects", "-q", "--thin", "--revs", "--stdout", cwd=repo,
               input=f"{new}\n^{old}\n".encode())
    return base, data, old, new


def test_thin_pack_needs_fix_thin(thin, tmp_path):
    _, data, _, _ = thin
    with pytest.raises(MissingDeltaBaseError):
        index_pack_stream([data], tmp_path)
    assert os.listdir(tmp_path) == []


def test_thin_pack_completed(git, repo, thin, tmp_path):
    base, data, old, new = thin
    work = tmp_path / "base.git"
    git("clone", "-q", "--bare", "--no-local", str(base), str(work))
    store = DiskObjectStore(str(work / "objects"))
    before = len(list(store))
    p = store.add_thin_pack(io.BytesIO(data).read)
    assert p is not None
    with open(p.basename + ".pack", "rb") as f:
        f.seek(8)
        count = struct.unpack(">I", f.read(4))[0]
    assert count == len(p) > struct.unpack(">I", data[8:12])[0]
    # git accepts the completed pack and finds every object in it
    git("verify-pack", p.basename + ".idx", cwd=work)
    p.check()
    wanted = git("rev-list", "--objects", new, f"^{old}", cwd=repo).split()
    wanted = [w for w in wanted if len(w) == 40]
    expected = cat_all(git, repo)
    for sha in wanted:
        assert p.get_raw(sha) == expected[sha]
    git("update-ref", "refs/heads/main", new, cwd=work)
    git("fsck", "--strict", "--no-dangling", cwd=work)
    assert len(list(store)) > before
    # the same object set as git's own --fix-thin
    gitdir = tmp_path / "gitfix"
    gitdir.mkdir()
    git("index-pack", "--stdin", "--fix-thin", str(gitdir / "p.pack"), cwd=work, input=data)
    out = git("show-index", input=(gitdir / "p.idx").read_bytes()).split(b"\n")
    assert {line.split()[1] for line in out if line} == set(p)


def test_memory_store_thin(git, repo, thin):
    base, data, old, new = thin
    store = MemoryObjectStore()
    for sha, raw in cat_all(git, base).items():
        store.add_raw(*raw)
    n_before = len(store)
    store.add_thin_pack(io.BytesIO(data).read)
    assert len(store) > n_before
    assert store.get_raw(new.encode())[0] == 1


# --- bad input: specific errors, nothing added, no temp files ------------------

def entry(type_num: int, body: bytes, base=None) -> bytes:
    head = encode_entry_header(type_num, len(body))
    if type_num == REF_DELTA:
        head += base
    elif type_num == OFS_DELTA:
        head += encode_ofs_distance(base)
    return head + zlib.compress(body)


def make_pack(entries: list, count=None) -> bytes:
    body = b"PACK" + struct.pack(">II", 2, len(entries) if count is None else count)
    body += b"".join(entries)
    return body + hashlib.sha1(body).digest()


BASE = b"hello hello hello world\n"
BASE_ID = hashlib.sha1(b"blob %d\0" % len(BASE) + BASE).digest()
DELTA = encode_varint(len(BASE)) + encode_varint(10) + b"\x91\x06\x05" + b"\x05there"
E_BASE = entry(3, BASE)
E_OFS = entry(OFS_DELTA, DELTA, len(E_BASE))
GOOD = [E_BASE, E_OFS, entry(REF_DELTA, DELTA, BASE_ID)]


def fix_trailer(pack: bytes) -> bytes:
    return pack[:-20] + hashlib.sha1(pack[:-20]).digest()


def flip_in_zlib(pack: bytes) -> bytes:
    data = bytearray(pack)
    data[12 + 2 + 4] ^= 0xFF  # inside the first entry's deflate data
    return fix_trailer(bytes(data))


def loop_pack() -> bytes:
    # Two REF deltas, each on the other's id (as it would be once resolved).
    x, y = b"\x11" * 20, b"\x22" * 20
    d = encode_varint(3) + encode_varint(3) + b"\x03abc"
    return make_pack([entry(REF_DELTA, d, y), entry(REF_DELTA, d, x)])


def huge_delta_pack() -> bytes:
    d = encode_varint(len(BASE)) + encode_varint(1 << 40) + b"\x91\x00\x05"
    return make_pack([E_BASE, entry(OFS_DELTA, d, len(E_BASE))])


def lying_entry(delta: int) -> bytes:
    return encode_entry_header(3, len(BASE) + delta) + zlib.compress(BASE)


BAD_INPUTS = {
    "count too high": (lambda: make_pack(GOOD, count=4), CorruptPackError),
    "count too low": (lambda: make_pack(GOOD, count=2), CorruptPackError),
    "truncated in header": (lambda: make_pack(GOOD)[:10], CorruptPackError),
    "truncated in entry": (lambda: make_pack(GOOD)[:30], CorruptPackError),
    "truncated in zlib": (lambda: make_pack(GOOD)[:len(E_BASE) + 15], CorruptPackError),
    "truncated trailer": (lambda: make_pack(GOOD)[:-5], CorruptPackError),
    "empty stream": (lambda: b"", CorruptPackError),
    "not a pack": (lambda: b"PACX" + make_pack(GOOD)[4:], CorruptPackError),
    "bad version": (lambda: fix_trailer(b"PACK\0\0\0\x04" + make_pack(GOOD)[8:]), CorruptPackError),
    "bad zlib stream": (lambda: flip_in_zlib(make_pack(GOOD)), CorruptPackError),
    "wrong trailing checksum": (lambda: make_pack(GOOD)[:-1] + b"\0", PackChecksumError),
    "junk after trailer": (lambda: make_pack(GOOD) + b"junk", CorruptPackError),
    "missing delta base": (lambda: make_pack([entry(REF_DELTA, DELTA, b"\x33" * 20)]),
                           MissingDeltaBaseError),
    "delta chain loop": (loop_pack, MissingDeltaBaseError),
    "ofs delta at itself": (lambda: make_pack([E_BASE, entry(OFS_DELTA, DELTA, 0)]),
                            CorruptPackError),
    "ofs delta before pack start": (lambda: make_pack([E_BASE, entry(OFS_DELTA, DELTA, 100)]),
                                    CorruptPackError),
    "ofs delta into an entry": (lambda: make_pack([E_BASE, entry(OFS_DELTA, DELTA, 3)]),
                                CorruptPackError),
    "size larger than data": (lambda: make_pack([lying_entry(+5)]), CorruptPackError),
    "size smaller than data": (lambda: make_pack([lying_entry(-5)]), CorruptPackError),
    "delta claims 1 TiB": (huge_delta_pack, ObjectTooLargeError),
    "entry claims 1 TiB": (lambda: make_pack([encode_entry_header(3, 1 << 40) + zlib.compress(b"x")]),
                           ObjectTooLargeError),
    "delta base size wrong": (lambda: make_pack([E_BASE, entry(
        OFS_DELTA, encode_varint(3) + encode_varint(3) + b"\x03abc", len(E_BASE))]), DeltaError),
    "bad object type": (lambda: make_pack([bytes([0x50 | 3]) + zlib.compress(b"abc")]),
                        CorruptPackError),
}


def test_good_handmade_pack_is_accepted(tmp_path):
    store = DiskObjectStore.init(str(tmp_path / "objects"))
    p = store.add_pack_stream([make_pack(GOOD)])
    assert len(p) == 3
    assert p.get_raw(BASE_ID) == (3, BASE)


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
@pytest.mark.parametrize("thin", [False, True])
def test_bad_input_refused_and_store_unchanged(tmp_path, name, thin):
    make, exc = BAD_INPUTS[name]
    data = make()
    store = DiskObjectStore.init(str(tmp_path / "objects"))
    store.add_raw(1, b"unrelated")  # a store that is not empty
    before = snapshot(store.path)
    with pytest.raises(exc):
        store.add_pack_stream([data], thin=thin)
    assert snapshot(store.path) == before
    # byte at a time too: the same error, still nothing left behind
    with pytest.raises(exc):
        store.add_pack_stream((data[i:i + 1] for i in range(len(data))), thin=thin)
    assert snapshot(store.path) == before
    mem = MemoryObjectStore()
    with pytest.raises(exc):
        mem.add_pack_stream([data], thin=thin)
    assert len(mem) == 0


def test_huge_delta_refused_before_the_rest_arrives(tmp_path):
    # The 1 TiB delta is refused while scanning, before pass 2 or the trailer.
    data = huge_delta_pack()[:-20]
    indexer = PackIndexer(tmp_path)
    with pytest.raises(ObjectTooLargeError):
        indexer.feed(data)
    assert os.listdir(tmp_path) == []


@pytest.mark.skipif(not os.path.exists(os.path.join(BENCHDATA, "dulwich.bundle")),
                    reason="benchdata not available")
def test_benchdata_bundle_identical(git, tmp_path):
    mirror = tmp_path / "d.git"
    git("clone", "--mirror", "-q", os.path.join(BENCHDATA, "dulwich.bundle"), str(mirror))
    pack = glob.glob(str(mirror / "objects/pack/*.pack"))[0]
    store = DiskObjectStore.init(str(tmp_path / "objects"))
    with open(pack, "rb") as f:
        p = store.add_pack_stream(f.read)
    assert open(p.basename + ".idx", "rb").read() == open(pack[:-5] + ".idx", "rb").read()
