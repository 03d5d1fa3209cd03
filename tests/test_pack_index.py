"""Pack indexes: git's .idx v1/v2 read back, ours written byte-identically, bad files refused."""

from __future__ import annotations

import glob
import io
import os
import random
import subprocess

import pytest
from helpers import git_runner

from puregit.errors import PackIndexError
from puregit.hashes import SHA1, SHA256
from puregit.pack import PackData
from puregit.pack_index import (MemoryPackIndex, PackIndex1, PackIndex2, load_pack_index,
                                write_pack_index_v1, write_pack_index_v2)


@pytest.fixture(scope="module")
def git_env(tmp_path_factory):
    return git_runner(tmp_path_factory.mktemp("home"))


def build_repo(git, path, object_format="sha1", commits=8):
    git("init", "-q", f"--object-format={object_format}", str(path))
    rnd = random.Random(7)
    lines = [f"line {i} {rnd.random()}\n" for i in range(300)]
    for c in range(commits):
        for k in range(5):
            lines[rnd.randrange(len(lines))] = f"changed {c} {k} {rnd.random()}\n"
        (path / "file.txt").write_text("".join(lines))
        (path / f"new{c}.txt").write_text(f"file {c}\n" * (c + 1))
        (path / "sub").mkdir(exist_ok=True)
        (path / "sub" / "data.bin").write_bytes(bytes(rnd.randrange(256) for _ in range(2000)) * 2)
        git("add", "-A", cwd=path)
        git("commit", "-q", "-m", f"commit {c}", cwd=path)
    git("tag", "-a", "v1", "-m", "a tag", cwd=path)
    git("repack", "-a", "-d", "-q", cwd=path)
    return glob.glob(str(path / ".git/objects/pack/*.pack"))[0]


@pytest.fixture(scope="module")
def repo_pack(git_env, tmp_path_factory):
    path = tmp_path_factory.mktemp("repo")
    return build_repo(git_env, path)


def verify_pack_entries(git, pack_path):
    """{hex id: offset} from git verify-pack -v (run inside the repository for its hash)."""
    out = git("verify-pack", "-v", pack_path[:-5] + ".idx",
              cwd=os.path.dirname(pack_path)).decode()
    entries = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 5 and parts[1] in ("commit", "tree", "blob", "tag"):
            entries[parts[0].encode()] = int(parts[4])
    return entries


def test_reads_git_v2_index(git_env, repo_pack):
    idx = load_pack_index(repo_pack[:-5] + ".idx")
    assert isinstance(idx, PackIndex2)
    expected = verify_pack_entries(git_env, repo_pack)
    assert len(idx) == len(expected)
    for hexsha, offset in expected.items():
        assert hexsha in idx
        assert bytes.fromhex(hexsha.decode()) in idx
        assert idx.object_offset(hexsha) == offset
        assert idx.object_sha1(offset).hex().encode() == hexsha
    assert sorted(idx) == sorted(expected)
    assert [e[0] for e in idx.iterentries()] == sorted(bytes.fromhex(h.decode()) for h in expected)
    assert b"0" * 40 not in idx
    assert b"f" * 40 not in idx
    assert b"zz" not in idx
    with pytest.raises(KeyError):
        idx.object_offset(b"1" * 40)
    idx.check()
    with open(repo_pack, "rb") as f:
        f.seek(-20, 2)
        assert idx.get_pack_checksum() == f.read()
    assert idx.sorted_offsets() == sorted(expected.values())
    idx.close()


def test_v1_index_read_and_written_identically(git_env, repo_pack, tmp_path):
    v1 = tmp_path / "v1.idx"
    git_env("index-pack", "--index-version=1", "-o", str(v1), repo_pack)
    idx = load_pack_index(v1)
    assert isinstance(idx, PackIndex1)
    v2 = load_pack_index(repo_pack[:-5] + ".idx")
    assert [(s, o) for s, o, _ in idx.iterentries()] == [(s, o) for s, o, _ in v2.iterentries()]
    for sha, off, _ in v2.iterentries():
        assert idx.object_offset(sha) == off
    idx.check()
    ours = tmp_path / "ours.idx"
    with PackData(repo_pack) as data:
        data.create_index(ours, version=1)
    assert ours.read_bytes() == v1.read_bytes()


def test_v2_written_identically(repo_pack, tmp_path):
    ours = tmp_path / "ours.idx"
    with PackData(repo_pack) as data:
        checksum = data.create_index(ours)
        assert checksum == data.get_stored_checksum()
    assert ours.read_bytes() == open(repo_pack[:-5] + ".idx", "rb").read()


def test_reads_git_64bit_offset_table(git_env, repo_pack, tmp_path):
    # "--index-version=2,<limit>" makes git put every offset above the limit in the 64-bit table.
    forced = tmp_path / "large.idx"
    git_env("index-pack", "--index-version=2,0x200", "-o", str(forced), repo_pack)
    idx = load_pack_index(forced)
    normal = load_pack_index(repo_pack[:-5] + ".idx")
    assert list(idx.iterentries()) == list(normal.iterentries())
    for sha, off, _ in normal.iterentries():
        assert idx.object_offset(sha) == off


def test_writes_64bit_offsets_for_big_packs():
    rnd = random.Random(3)
    entries = [(rnd.randbytes(20), off, rnd.randrange(1 << 32))
               for off in (12, 5000, 0x7FFFFFFF, 0x80000000, 3 << 32, (1 << 40) + 17)]
    buf = io.BytesIO()
    write_pack_index_v2(buf, entries, b"P" * 20)
    idx = PackIndex2("mem", contents=buf.getvalue())
    assert list(idx.iterentries()) == sorted(entries)
    for sha, off, crc in entries:
        assert idx.object_offset(sha) == off
        assert idx.object_crc32(sha) == crc
    assert idx._n_large == 3  # the three offsets above 2^31 - 1
    idx.check()
    with pytest.raises(PackIndexError):
        write_pack_index_v1(io.BytesIO(), entries, b"P" * 20)


def test_empty_index_round_trip():
    buf = io.BytesIO()
    write_pack_index_v2(buf, [], b"P" * 20)
    idx = PackIndex2("mem", contents=buf.getvalue())
    assert len(idx) == 0 and list(idx) == [] and b"a" * 40 not in idx


def test_memory_index():
    entries = [(b"\x01" * 20, 12, 5), (b"\x00" * 20, 40, None)]
    idx = MemoryPackIndex(entries, b"P" * 20)
    assert len(idx) == 2 and idx.object_offset(b"01" * 20) == 12
    assert list(idx) == [b"00" * 20, b"01" * 20]
    assert idx.object_sha1(40) == b"\x00" * 20


@pytest.mark.parametrize("mutate", [
    lambda d: d[:500],                                     # truncated in the fan-out table
    lambda d: d[:-1],                                      # truncated trailer
    lambda d: d[:4] + b"\x00\x00\x00\x03" + d[8:],         # unknown version
    lambda d: d[:8] + b"\xff\xff\xff\xff" + d[12:],        # fan-out not monotonic
    lambda d: d + b"\x00" * 3,                             # size does not fit the count
    lambda d: b"",                                         # empty
])
def test_malformed_index_refused(repo_pack, tmp_path, mutate):
    bad = tmp_path / "bad.idx"
    bad.write_bytes(mutate(open(repo_pack[:-5] + ".idx", "rb").read()))
    with pytest.raises(PackIndexError):
        load_pack_index(bad)


def test_index_checksum_checked(repo_pack, tmp_path):
    data = bytearray(open(repo_pack[:-5] + ".idx", "rb").read())
    data[2000] ^= 0xFF  # inside the id table
    bad = tmp_path / "bad.idx"
    bad.write_bytes(bytes(data))
    with pytest.raises(PackIndexError):
        load_pack_index(bad).check()


def test_sha256_index_identical(git_env, tmp_path):
    try:
        pack = build_repo(git_env, tmp_path / "r256", object_format="sha256", commits=3)
    except subprocess.CalledProcessError:
        pytest.skip("git without sha256 support")
    idx = load_pack_index(pack[:-5] + ".idx", hash_algo=SHA256)
    expected = verify_pack_entries(git_env, pack)
    assert len(idx) == len(expected)
    for hexsha, offset in expected.items():
        assert len(hexsha) == 64 and idx.object_offset(hexsha) == offset
    idx.check()
    ours = tmp_path / "ours.idx"
    with PackData(pack, hash_algo=SHA256) as data:
        data.create_index(ours)
    assert ours.read_bytes() == open(pack[:-5] + ".idx", "rb").read()
    assert SHA1.digest_size == 20
