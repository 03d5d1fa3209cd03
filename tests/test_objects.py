"""Objects: byte-exact round trips on git-made repositories, and strict parsing."""

import os
import subprocess

import pytest

from helpers import all_object_ids, git, make_rich_repo
from puregit.errors import InvalidObjectId, ObjectFormatError, PuregitError
from puregit.hashes import SHA1, SHA256
from puregit.objects import (Blob, Commit, Tag, Tree, format_timezone, hex_to_sha,
                             parse_timezone, sha_to_hex, tree_sort_key)
from puregit.object_store import DiskObjectStore


def _roundtrip_store(path, algo=SHA1):
    store = DiskObjectStore(os.path.join(path, ".git", "objects"), hash_algo=algo)
    ids = all_object_ids(path)
    assert ids
    for sha in ids:
        obj = store[sha]
        raw = obj.as_raw_string()
        # cached bytes
        assert obj.id == sha
        # rebuilt from fields: must give the same bytes and id
        fresh = type(obj).from_string(raw, algo)
        fresh._changed()
        assert fresh.as_raw_string() == raw, (sha, raw)
        assert fresh.id == sha
    return store, ids


def test_roundtrip_rich_repo(tmp_path):
    info = make_rich_repo(tmp_path / "r")
    store, ids = _roundtrip_store(str(tmp_path / "r"))
    signed = store[info["signed"]]
    assert signed.gpgsig.startswith(b"-----BEGIN PGP SIGNATURE-----")
    assert len(signed.mergetag) == 1 and signed.mergetag[0].name == b"v1.0"
    assert signed.mergetag[0].signature.startswith(b"-----BEGIN PGP")
    assert signed.author_timezone == 5 * 3600 + 1800
    assert signed.commit_timezone == -8 * 3600
    latin = store[info["latin1"]]
    assert latin.encoding == b"ISO-8859-1"
    assert latin.message == b"caf\xe9 latin-1 message\n"
    assert latin.author_timezone == 0 and latin.author_timezone_neg_utc
    assert latin.commit_timezone == 14 * 3600
    empty = store[info["empty"]]
    assert store[empty.tree].as_raw_string() == b""
    modes = set()
    for sha in ids:
        obj = store[sha]
        if isinstance(obj, Tree):
            modes.update(mode for _, mode, _ in obj.items())
    assert {0o100644, 0o100755, 0o120000, 0o40000, 0o160000} <= modes


def test_roundtrip_sha256_repo(tmp_path):
    make_rich_repo(tmp_path / "r", object_format="sha256")
    store, ids = _roundtrip_store(str(tmp_path / "r"), SHA256)
    assert all(len(i) == 64 for i in ids)




@pytest.mark.skipif(not os.path.isdir(os.path.join(os.path.dirname(__file__), "..", "..", "shared",
                                                   "benchdata")), reason="no benchdata here")
@pytest.mark.parametrize("bundle", ["dulwich.bundle", "git-v2.0.0.bundle"])
def test_roundtrip_benchdata_sample(tmp_path, bundle):
    """A sample of every kind of object in a real project's history re-serializes exactly."""
    src = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "benchdata", bundle)
    repo = tmp_path / "b.git"
    git("clone", "-q", "--mirror", src, str(repo))
    out = git("cat-file", "--batch-all-objects", "--batch-check=%(objectname) %(objecttype)",
              cwd=repo)
    by_type = {}
    for line in out.splitlines():
        sha, kind = line.split()
        by_type.setdefault(kind, []).append(sha)
    sample = []
    for kind, shas in by_type.items():
        sample += shas[:: max(1, len(shas) // 1500)]
    # read the sample through git cat-file --batch (packs are the pack issue's)
    p = subprocess.run(["git", "cat-file", "--batch"], cwd=repo, input=b"\n".join(sample) + b"\n",
                       stdout=subprocess.PIPE, check=True)
    data = p.stdout
    pos = 0
    checked = 0
    while pos < len(data):
        nl = data.index(b"\n", pos)
        sha, kind, size = data[pos:nl].split()
        size = int(size)
        body = data[nl + 1:nl + 1 + size]
        pos = nl + 2 + size
        cls = {b"commit": Commit, b"tree": Tree, b"blob": Blob, b"tag": Tag}[kind]
        obj = cls.from_string(body)
        assert obj.id == sha
        obj._changed()
        assert obj.as_raw_string() == body and obj.id == sha
        checked += 1
    assert checked == len(sample)


def test_hex_helpers():
    sha = b"a" * 40
    assert sha_to_hex(hex_to_sha(sha)) == sha
    assert hex_to_sha("ab" * 32) == bytes([0xab]) * 32
    for bad in (b"g" * 40, b"a" * 39, b"", b"+" + b"a" * 39, b"a" * 41):
        with pytest.raises(InvalidObjectId):
            hex_to_sha(bad)
    with pytest.raises(InvalidObjectId):
        sha_to_hex(b"short")


def test_timezones():
    assert parse_timezone(b"+0530") == (19800, False)
    assert parse_timezone(b"-0000") == (0, True)
    assert format_timezone(0, True) == b"-0000"
    assert format_timezone(-3600) == b"-0100"
    for bad in (b"0530", b"+", b"+ab"):
        with pytest.raises(ObjectFormatError):
            parse_timezone(bad)


def test_tree_order_matches_git(tmp_path):
    t = Tree()
    blob = Blob.from_data(b"x")
    for name in (b"a.c", b"a", b"a-b", b"b"):
        t.add(name, 0o100644, blob.id)
    t.add(b"a", 0o40000, Tree().id)  # "a/" sorts after "a.c" and "a-b"
    names = [e.path for e in t.items()]
    assert names == sorted(names, key=lambda n: tree_sort_key(n, t[n][0]))
    git("init", "-q", "--bare", str(tmp_path / "r.git"))
    git("hash-object", "-w", "--stdin", cwd=tmp_path / "r.git", input=b"x")
    git("hash-object", "-t", "tree", "-w", "--stdin", cwd=tmp_path / "r.git",
        input=Tree().as_raw_string())
    got = git("hash-object", "-t", "tree", "--stdin", cwd=tmp_path / "r.git",
              input=t.as_raw_string()).strip()
    assert got == t.id
    # git's own mktree orders the same way
    mk = b"".join(b"%06o %s %s\t%s\n" % (m, b"tree" if m == 0o40000 else b"blob", s, n)
                  for n, m, s in t.items())
    assert git("mktree", cwd=tmp_path / "r.git", input=mk).strip() == t.id
    t.check()


def test_commit_from_fields_is_accepted_by_git(tmp_path):
    c = Commit()
    c.tree = Tree().id
    c.author = "Ada <ada@example.com>"
    c.committer = b"Ada <ada@example.com>"
    c.author_time = c.commit_time = 1700000000
    c.author_timezone = -7200
    c.commit_timezone = (0, True)
    c.message = b"hello\n"
    raw = c.as_raw_string()
    assert b"-0200" in raw and b"-0000" in raw
    git("init", "-q", "--bare", str(tmp_path / "r.git"))
    got = git("hash-object", "-t", "commit", "--stdin", cwd=tmp_path / "r.git", input=raw).strip()
    assert got == c.id


@pytest.mark.parametrize("body", [
    b"",
    b"tree zzz\n",
    b"tree " + b"a" * 40 + b"\n",  # no author
    b"tree " + b"a" * 40 + b"\nauthor A <a> 1 +0000\n\nmsg",  # no committer
    b"parent " + b"a" * 40 + b"\ntree " + b"a" * 40 + b"\n",
    b"tree " + b"a" * 40 + b"\nauthor A <a> x +0000\ncommitter A <a> 1 +0000\n\n",
    b"tree " + b"a" * 40 + b"\nauthor A a 1 +0000\ncommitter A <a> 1 +0000\n\n",
    b" continuation\n",
])
def test_malformed_commits(body):
    with pytest.raises(ObjectFormatError):
        Commit.from_string(body)


@pytest.mark.parametrize("body", [
    b"100644 a",                       # no NUL
    b"100644 a\0" + b"\x01" * 5,       # truncated id
    b"10a644 a\0" + b"\x01" * 20,      # bad mode
    b"100644 \0" + b"\x01" * 20,       # empty name
    b" a\0" + b"\x01" * 20,            # empty mode
])
def test_malformed_trees(body):
    with pytest.raises(ObjectFormatError):
        Tree.from_string(body)


def test_tree_check_rejects_hostile_names():
    for name in (b"..", b".", b"a/b"):
        t = Tree()
        t.add(name, 0o100644, Blob.from_data(b"").id)
        with pytest.raises(ObjectFormatError):
            t.check()


@pytest.mark.parametrize("body", [
    b"",
    b"object xyz\ntype commit\ntag v\n\n",
    b"object " + b"a" * 40 + b"\ntype spoon\ntag v\n\n",
    b"object " + b"a" * 40 + b"\ntag v\n\n",
])
def test_malformed_tags(body):
    with pytest.raises(ObjectFormatError):
        Tag.from_string(body)


def test_errors_are_typed():
    assert issubclass(ObjectFormatError, PuregitError)
    with pytest.raises(PuregitError):
        Commit.from_string(b"\xff\xfe")


def test_commit_without_message_separator_roundtrips(tmp_path):
    """cgit accepts a commit whose headers end the body (dulwich's history has two)."""
    body = (b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n"
            b"author A <a@example.com> 1731680347 +0000\n"
            b"committer A <a@example.com> 1731680347 +0000\n"
            b"encoding utf-8\n")
    c = Commit.from_string(body)
    assert c.message is None and c.encoding == b"utf-8"
    c._changed()
    assert c.as_raw_string() == body
    git("init", "-q", "--bare", str(tmp_path / "r.git"))
    assert git("hash-object", "-t", "commit", "--stdin", cwd=tmp_path / "r.git",
               input=body).strip() == c.id
