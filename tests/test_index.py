"""The index: read what git writes (v2, v3, v4), write what git reads, build trees."""

import os
import struct

import pytest

from helpers import git, make_rich_repo
from puregit.errors import IndexFormatError
from puregit.index import Index, commit_tree, parse_index, serialize_index
from puregit.object_store import DiskObjectStore


def _repo_with_files(path):
    git("init", "-q", str(path))
    for name, data in {"a.txt": b"a\n", "dir/b.txt": b"b\n", "dir/sub/c": b"c\n",
                       "dir.txt": b"x\n", "z": b"z\n"}.items():
        full = os.path.join(path, name)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as f:
            f.write(data)
    os.chmod(os.path.join(path, "z"), 0o755)
    os.symlink("a.txt", os.path.join(path, "link"))
    git("add", ".", cwd=path)


@pytest.mark.parametrize("version", [2, 3, 4])
def test_read_git_index_and_write_back(tmp_path, version):
    r = tmp_path / "r"
    _repo_with_files(r)
    if version == 3:
        with open(r / "new", "wb") as f:
            f.write(b"n\n")
        git("add", "-N", "new", cwd=r)  # intent-to-add sets an extended flag
    git("update-index", f"--index-version={version}", cwd=r)
    index_path = str(r / ".git" / "index")
    with open(index_path, "rb") as f:
        original = f.read()
    idx = Index(index_path)
    assert idx.version == version
    expected = git("ls-files", "-s", cwd=r)
    got = b"".join(b"%06o %s 0\t%s\n" % (e.mode, e.sha, p) for p, e in idx.items())
    assert got == expected
    idx.write()
    with open(index_path, "rb") as f:
        written = f.read()
    if version in (2, 3):
        # git wrote a TREE extension we drop; entries must be byte-identical
        n = struct.unpack(">I", original[8:12])[0]
        assert parse_index(written)[1] == parse_index(original)[1]
        assert n == len(parse_index(written)[1])
    assert git("ls-files", "-s", cwd=r) == expected
    assert git("status", "--porcelain", cwd=r) == git("status", "--porcelain", cwd=r)
    if version != 3:
        tree = idx.commit(DiskObjectStore(str(r / ".git" / "objects")))
        assert tree == git("write-tree", cwd=r).strip()


def test_index_v4_write_is_read_by_git(tmp_path):
    r = tmp_path / "r"
    _repo_with_files(r)
    idx = Index(str(r / ".git" / "index"))
    idx.version = 4
    expected = git("ls-files", "-s", cwd=r)
    idx.write()
    assert git("ls-files", "-s", cwd=r) == expected
    assert Index(str(r / ".git" / "index")).version == 4


def test_commit_tree_matches_git_write_tree(tmp_path):
    make_rich_repo(tmp_path / "r")
    r = tmp_path / "r"
    git("read-tree", "HEAD~1", cwd=r)
    idx = Index(str(r / ".git" / "index"))
    store = DiskObjectStore(str(r / ".git" / "objects"))
    assert commit_tree(store, idx.iterobjects()) == git("write-tree", cwd=r).strip()


@pytest.mark.parametrize("mangle", [
    lambda d: d[:10],                                # too short
    lambda d: b"XXXX" + d[4:],                       # signature (checksum also fails)
    lambda d: d[:-1] + bytes([d[-1] ^ 1]),           # checksum
])
def test_corrupt_index_is_typed(tmp_path, mangle):
    r = tmp_path / "r"
    _repo_with_files(r)
    with open(r / ".git" / "index", "rb") as f:
        data = f.read()
    with pytest.raises(IndexFormatError):
        parse_index(mangle(data))


def test_lying_entry_count_is_typed(tmp_path):
    r = tmp_path / "r"
    _repo_with_files(r)
    with open(r / ".git" / "index", "rb") as f:
        data = f.read()
    import hashlib
    body = data[:8] + struct.pack(">I", 10_000) + data[12:-20]
    with pytest.raises(IndexFormatError):
        parse_index(body + hashlib.sha1(body).digest())
    body = data[:4] + struct.pack(">I", 7) + data[8:-20]
    with pytest.raises(IndexFormatError):
        parse_index(body + hashlib.sha1(body).digest())


def test_empty_index_serializes():
    data = serialize_index([])
    assert parse_index(data) == (2, [])
