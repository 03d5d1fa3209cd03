"""Pack writing, checked by real git: index-pack --strict, verify-pack, cat-file, sizes."""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import zlib
from collections import namedtuple

import pytest

from puregit.object_store import DiskObjectStore, MemoryObjectStore
from puregit.objects import Blob, Commit, Tree
from puregit.pack_writer import (
    OFS_DELTA, REF_DELTA, PackGenerator, encode_entry_header, encode_ofs_delta_offset,
    generate_pack_chunks, pack_name_hash, pack_object_header, write_pack_header,
    write_pack_objects,
)

TYPE_NUMS = {"commit": 1, "tree": 2, "blob": 3, "tag": 4}


# --- helpers ------------------------------------------------------------------

def _env(home) -> dict:
    env = dict(os.environ)
    env.update(GIT_CONFIG_NOSYSTEM="1", HOME=str(home), GIT_AUTHOR_NAME="Ada",
               GIT_AUTHOR_EMAIL="ada@example.com", GIT_COMMITTER_NAME="Carl",
               GIT_COMMITTER_EMAIL="carl@example.com", GIT_AUTHOR_DATE="1700000000 +0000",
               GIT_COMMITTER_DATE="1700000000 +0000", LC_ALL="C")
    return env


class Git:
    def __init__(self, home) -> None:
        self.env = _env(home)

    def __call__(self, *args, cwd=None, input=None, check=True) -> bytes:
        p = subprocess.run(["git", *map(str, args)], cwd=cwd, input=input, env=self.env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if check and p.returncode:
            raise AssertionError(f"git {args} failed: {p.stderr.decode(errors='replace')}")
        return p.stdout

    def run(self, *args, cwd=None, input=None) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *map(str, args)], cwd=cwd, input=input, env=self.env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.fixture
def git(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    return Git(home)


def make_history(git, path, commits=30, files=6, seed=0) -> None:
    """A repository with many similar revisions of a few files (via fast-import: quick)."""
    rnd = random.Random(seed)
    git("init", "-q", "-b", "main", path)
    contents = {f"src/mod{i}.py": [f"def f{j}(x):  # {rnd.random()}\n    return x + {j}\n"
                                   for j in range(rnd.randrange(60, 300))]
                for i in range(files)}
    contents["README"] = [f"readme line {j}\n" for j in range(40)]
    stream = []
    for c in range(commits):
        for name in rnd.sample(sorted(contents), 3):
            lines = contents[name]
            for _ in range(rnd.randrange(1, 5)):
                k = rnd.randrange(len(lines))
                r = rnd.random()
                if r < 0.4:
                    lines[k] = f"# changed in {c}: {rnd.random()}\n"
                elif r < 0.7:
                    lines.insert(k, f"# added in {c}: {rnd.random()}\n")
                elif len(lines) > 10:
                    del lines[k]
        stream.append(f"commit refs/heads/main\nmark :{c + 1}\n"
                      f"committer C <c@example.com> {1700000000 + c} +0000\n"
                      f"data {len(f'change {c}')}\nchange {c}\n")
        if c:
            stream.append(f"from :{c}\n")
        for name, lines in sorted(contents.items()):
            data = "".join(lines).encode()
            stream.append(f"M 100644 inline {name}\ndata {len(data)}\n")
            stream.append(data.decode() + "\n")
        if c % 10 == 9:
            stream.append(f"tag v{c}\nfrom :{c + 1}\ntagger T <t@example.com> "
                          f"{1700000000 + c} +0000\ndata 4\nrel\n")
    git("fast-import", "--quiet", cwd=path, input="".join(stream).encode())
    git("repack", "-q", "-a", "-d", "-f", "--depth=0", cwd=path)  # whole objects only
    git("prune-packed", cwd=path)


def load_store(git, path, cls=MemoryObjectStore):
    """A store holding every object of the repository (read with git cat-file)."""
    store = cls()
    ids = git("cat-file", "--batch-all-objects", "--batch-check=%(objectname)", cwd=path).split()
    out = git("cat-file", "--batch", cwd=path, input=b"\n".join(ids) + b"\n")
    pos = 0
    while pos < len(out):
        nl = out.index(b"\n", pos)
        sha, type_name, size = out[pos:nl].split()
        size = int(size)
        body = out[nl + 1:nl + 1 + size]
        assert store.add_raw(TYPE_NUMS[type_name.decode()], body) == sha
        pos = nl + 1 + size + 1
    return store


def all_refs(git, path) -> list[bytes]:
    return git("for-each-ref", "--format=%(objectname)", cwd=path).split()


def check_pack(git, tmp_path, data: bytes, expect_ids=None) -> bytes:
    """index-pack --strict into a new bare repo, verify-pack, cat-file every object."""
    assert data[:4] == b"PACK"
    assert hashlib.sha1(data[:-20]).digest() == data[-20:]
    bare = tmp_path / f"verify{len(list(tmp_path.iterdir()))}.git"
    git("init", "-q", "--bare", bare)
    pack = bare / "objects" / "pack" / "pack-test.pack"
    pack.write_bytes(data)
    git("index-pack", "--strict", pack, cwd=bare)
    out = git("verify-pack", "-v", pack)
    if expect_ids is not None:
        listed = {line.split()[0] for line in out.splitlines()
                  if len(line.split()) >= 5 and len(line.split()[0]) == 40}
        assert listed == set(expect_ids)
        batch = git("cat-file", "--batch-check", cwd=bare, input=b"\n".join(expect_ids) + b"\n")
        assert b"missing" not in batch
    return out


def git_pack_size(git, path, *extra) -> int:
    return len(git("pack-objects", "--all", "--stdout", "-q", *extra, cwd=path, input=b""))


# --- encoding -----------------------------------------------------------------

def test_entry_header_encoding():
    assert encode_entry_header(3, 0) == b"\x30"
    assert encode_entry_header(3, 15) == b"\x3f"
    assert encode_entry_header(1, 16) == b"\x90\x01"
    assert encode_entry_header(2, 1000) == b"\xa8\x3e"
    assert encode_entry_header(7, 2**35)[-1] < 0x80


def test_ofs_delta_offset_encoding():
    assert encode_ofs_delta_offset(1) == b"\x01"
    assert encode_ofs_delta_offset(127) == b"\x7f"
    assert encode_ofs_delta_offset(128) == b"\x80\x00"
    assert encode_ofs_delta_offset(16511) == b"\xff\x7f"
    assert encode_ofs_delta_offset(16512) == b"\x80\x80\x00"
    for n in (1, 200, 70000, 2**40 + 3):
        enc = encode_ofs_delta_offset(n)
        c = enc[0]
        v = c & 0x7F
        for c in enc[1:]:
            v = ((v + 1) << 7) | (c & 0x7F)
        assert v == n


def test_pack_object_header_and_pack_header():
    assert pack_object_header(OFS_DELTA, 128, 5) == b"\x65\x80\x00"
    assert pack_object_header(REF_DELTA, b"\x11" * 20, 5) == b"\x75" + b"\x11" * 20
    out = []
    write_pack_header(out.append, 3)
    assert b"".join(out) == b"PACK\x00\x00\x00\x02\x00\x00\x00\x03"


def test_pack_name_hash_like_git():
    assert pack_name_hash(None) == 0 and pack_name_hash(b"") == 0
    assert pack_name_hash(b"a") == ord("a") << 24
    # whitespace is ignored; the last characters dominate
    assert pack_name_hash(b"a b.c") == pack_name_hash(b"ab.c")
    assert pack_name_hash(b"ab") == 0x7A400000      # (0x61 << 24 >> 2) + (0x62 << 24)
    assert pack_name_hash(b"\xff\xff") == 0x3EC00000  # unsigned 32-bit wrap-around


# --- writing ------------------------------------------------------------------

def test_write_pack_objects_git_accepts(git, tmp_path):
    blobs = [Blob.from_data(b"".join(b"line %d of version %d\n" % (i, v if i % 50 == 0 else 0)
                                     for i in range(500))) for v in range(6)]
    tree = Tree()
    tree.add(b"file.txt", 0o100644, blobs[-1].id)
    commit = Commit()
    commit.tree = tree.id
    commit.author = commit.committer = b"A <a@example.com>"
    commit.author_time = commit.commit_time = 1700000000
    commit.author_timezone = commit.commit_timezone = 0
    commit.message = b"msg\n"
    objs = [(commit, None), (tree, ""), *[(b, "file.txt") for b in blobs]]
    out = []
    entries, checksum = write_pack_objects(out.append, objs)
    data = b"".join(out)
    assert data[-20:] == checksum
    ids = [o.id for o, _ in objs]
    verify = check_pack(git, tmp_path, data, ids)
    assert set(entries) == set(ids)
    # offsets and CRCs agree with git's view of the pack
    for line in verify.splitlines():
        parts = line.split()
        if len(parts) >= 5 and parts[0] in entries:
            offset, size_in_pack = int(parts[4]), int(parts[3])
            assert entries[parts[0]][0] == offset
            assert entries[parts[0]][1] == zlib.crc32(data[offset:offset + size_in_pack])
    assert b"chain length" in verify  # the blob revisions were deltified
    # plain ShaFiles, no deltas, REF_DELTA option
    out = []
    write_pack_objects(out.append, [b for b in blobs], deltify=False)
    assert b"chain length" not in check_pack(git, tmp_path, b"".join(out), [b.id for b in blobs])


def test_empty_pack(git, tmp_path):
    out = []
    entries, checksum = write_pack_objects(out.append, [])
    data = b"".join(out)
    assert data == b"PACK\x00\x00\x00\x02\x00\x00\x00\x00" + hashlib.sha1(data[:12]).digest()
    assert entries == {}


@pytest.mark.parametrize("ofs_delta", [True, False])
def test_repository_pack_size_and_validity(git, tmp_path, ofs_delta):
    repo = tmp_path / "repo"
    make_history(git, repo, commits=40)
    store = load_store(git, repo)
    entries = list(store.iter_reachable(all_refs(git, repo)))
    progress = []
    gen = PackGenerator(store, entries, ofs_delta=ofs_delta, progress=progress.append)
    chunks = list(gen)
    data = b"".join(chunks)
    verify = check_pack(git, tmp_path, data, [e[0] for e in entries])
    assert gen.checksum == data[-20:]
    assert gen.stats["deltas"] > len(entries) // 3
    ours = len(data)
    theirs = git_pack_size(git, repo, "--no-reuse-delta")
    assert ours <= 1.3 * theirs, (ours, theirs)
    # deltas stay within git's default depth
    for line in verify.splitlines():
        if line.startswith(b"chain length = "):
            assert int(line.split(b"=")[1].split(b":")[0]) <= 50
    text = b"".join(progress)
    assert b"Counting objects: 100%" in text and b"Compressing objects: 100%" in text
    assert text.rstrip().endswith(b"reused 0 (delta 0)")


def test_streams_in_chunks(git, tmp_path):
    store = MemoryObjectStore()
    rnd = random.Random(1)
    ids = [store.add_raw(3, bytes(rnd.getrandbits(8) for _ in range(20000))) for _ in range(20)]
    gen = generate_pack_chunks(store, [(i, 3, b"f%d" % n) for n, i in enumerate(ids)])
    first = next(gen)
    assert first.startswith(b"PACK")
    rest = list(gen)
    assert len(rest) >= 3
    assert all(len(c) < 64 * 1024 + 30000 for c in [first, *rest])
    check_pack(git, tmp_path, first + b"".join(rest), ids)


def test_depth_and_window_limits(git, tmp_path):
    store = MemoryObjectStore()
    text = b"".join(b"%d\n" % i for i in range(3000))
    ids = []
    for v in range(30):
        text = text.replace(b"%d\n" % (v * 97), b"v%d\n" % v)
        ids.append(store.add_raw(3, text))
    data = b"".join(generate_pack_chunks(store, [(i, 3, b"f") for i in ids], depth=3))
    verify = check_pack(git, tmp_path, data, ids)
    depths = [int(line.split(b"=")[1].split(b":")[0]) for line in verify.splitlines()
              if line.startswith(b"chain length = ")]
    assert depths and max(depths) <= 3
    data = b"".join(generate_pack_chunks(store, [(i, 3, b"f") for i in ids], window=0))
    assert b"chain length" not in check_pack(git, tmp_path, data, ids)


# --- reuse from existing packs ---------------------------------------------------

StoredEntry = namedtuple("StoredEntry", "type_num size delta_base compressed offset")


class GitMadePack:
    """The reader's interface (``get_stored_entry``) over a pack git wrote, for these tests."""

    def __init__(self, git, pack_path) -> None:
        self.data = pack_path.read_bytes()
        self.entries = {}
        by_offset = {}
        rows = []
        for line in git("verify-pack", "-v", pack_path).splitlines():
            parts = line.split()
            if len(parts) >= 5 and len(parts[0]) == 40:
                rows.append((parts[0], int(parts[3]), int(parts[4])))
                by_offset[int(parts[4])] = parts[0]
        for sha, size_in_pack, offset in rows:
            d = self.data
            c = d[offset]
            type_num = (c >> 4) & 7
            size = c & 15
            shift, pos = 4, offset + 1
            while c & 0x80:
                c = d[pos]
                pos += 1
                size |= (c & 0x7F) << shift
                shift += 7
            base = None
            if type_num == OFS_DELTA:
                c = d[pos]
                pos += 1
                dist = c & 0x7F
                while c & 0x80:
                    c = d[pos]
                    pos += 1
                    dist = ((dist + 1) << 7) | (c & 0x7F)
                base = by_offset[offset - dist]
            elif type_num == REF_DELTA:
                base = d[pos:pos + 20].hex().encode()
                pos += 20
            self.entries[sha] = StoredEntry(type_num, size, base, d[pos:offset + size_in_pack],
                                            offset)

    def __contains__(self, sha) -> bool:
        return sha in self.entries

    def get_stored_entry(self, sha):
        return self.entries[sha]


class StoreWithPacks(MemoryObjectStore):
    packs: tuple = ()


def _repo_with_pack_and_loose(git, tmp_path):
    repo = tmp_path / "repo"
    make_history(git, repo, commits=30, seed=7)
    git("repack", "-q", "-a", "-d", "-f", "--window=10", "--depth=50", cwd=repo)
    # more history, left loose
    git("reset", "-q", "--hard", cwd=repo)
    for i in range(3):
        path = repo / "src" / "mod0.py"
        path.write_bytes(path.read_bytes() + b"# loose change %d\n" % i)
        git("add", "-A", cwd=repo)
        git("commit", "-q", "-m", f"loose {i}", cwd=repo)
    store = load_store(git, repo, StoreWithPacks)
    (pack_path,) = (repo / ".git" / "objects" / "pack").glob("*.pack")
    store.packs = (GitMadePack(git, pack_path),)
    return repo, store


def test_reuse_copies_entries_from_existing_pack(git, tmp_path):
    repo, store = _repo_with_pack_and_loose(git, tmp_path)
    pack = store.packs[0]
    entries = list(store.iter_reachable(all_refs(git, repo)))
    gen = PackGenerator(store, entries)
    data = b"".join(gen)
    check_pack(git, tmp_path, data, [e[0] for e in entries])
    stored_deltas = sum(1 for se in pack.entries.values() if se.type_num >= 6)
    assert gen.stats["reused_deltas"] == stored_deltas
    assert gen.stats["reused"] == len(pack.entries)
    # reused entries are byte-for-byte the stored compressed data
    for sha, (offset, _) in gen.entries_written.items():
        se = pack.entries.get(sha)
        if se is not None:
            assert data.find(se.compressed, offset) != -1
    # the new loose objects were deltified against the packed ones
    assert gen.stats["deltas"] > stored_deltas
    assert len(data) <= 1.3 * git_pack_size(git, repo)


def test_no_reuse_recomputes(git, tmp_path):
    repo, store = _repo_with_pack_and_loose(git, tmp_path)
    entries = list(store.iter_reachable(all_refs(git, repo)))
    gen = PackGenerator(store, entries, reuse=False)
    data = b"".join(gen)
    check_pack(git, tmp_path, data, [e[0] for e in entries])
    assert gen.stats["reused"] == 0
    assert len(data) <= 1.3 * git_pack_size(git, repo, "--no-reuse-delta")


def test_thin_pack_reuses_deltas_against_receiver_objects(git, tmp_path):
    repo, store = _repo_with_pack_and_loose(git, tmp_path)
    tip = git("rev-parse", "main~3", cwd=repo).strip()   # a commit inside the pack
    old = git("rev-parse", "main~8", cwd=repo).strip()
    have = {e[0] for e in store.iter_reachable([old])}
    entries = list(store.iter_reachable([tip], [old]))
    gen = PackGenerator(store, entries, thin_bases=have)
    data = b"".join(gen)
    assert gen.stats["reused_deltas"] > 0
    # without the receiver's objects the pack does not resolve ...
    bare = tmp_path / "empty.git"
    git("init", "-q", "--bare", bare)
    p = git.run("index-pack", "--stdin", cwd=bare, input=data)
    assert p.returncode != 0
    # ... with them (git completes it with --fix-thin) it does
    clone = tmp_path / "receiver.git"
    git("init", "-q", "--bare", clone)
    git("push", "-q", clone, old.decode() + ":refs/heads/main", cwd=repo)
    assert git.run("cat-file", "-e", tip.decode(), cwd=clone).returncode != 0
    git("index-pack", "--stdin", "--fix-thin", "--strict", cwd=clone, input=data)
    batch = git("cat-file", "--batch-check", cwd=clone,
                input=b"\n".join(e[0] for e in entries) + b"\n")
    assert b"missing" not in batch


def test_reuse_with_real_disk_store(git, tmp_path):
    """Once puregit.pack exists: the same through DiskObjectStore and the reader's Pack."""
    pytest.importorskip("puregit.pack")
    repo = tmp_path / "repo"
    make_history(git, repo, commits=20, seed=3)
    git("repack", "-q", "-a", "-d", "-f", cwd=repo)
    store = DiskObjectStore(repo / ".git" / "objects")
    assert store.packs
    entries = list(store.iter_reachable(all_refs(git, repo)))
    gen = PackGenerator(store, entries)
    data = b"".join(gen)
    check_pack(git, tmp_path, data, [e[0] for e in entries])
    assert gen.stats["reused"] == len(entries)


class DictPack:
    """A pack that is only a dict of StoredEntry (delta loops and deep chains on demand)."""

    def __init__(self, entries: dict) -> None:
        self.entries = entries

    def __contains__(self, sha) -> bool:
        return sha in self.entries

    def __len__(self) -> int:
        return len(self.entries)

    def get_stored_entry(self, sha):
        return self.entries[sha]


def _versions(n: int) -> list[bytes]:
    text = b"".join(b"line %d\n" % i for i in range(2000))
    out = []
    for v in range(n):
        text = text.replace(b"line %d\n" % (v * 31), b"edit %d\n" % v)
        out.append(text)
    return out


def test_stored_delta_loop_and_deep_chain_are_cut(git, tmp_path):
    from puregit.delta_create import create_delta

    store = StoreWithPacks()
    bodies = _versions(8)
    ids = [store.add_raw(3, b) for b in bodies]
    entries = {}
    # ids[0] <-> ids[1] form a loop; ids[2..7] a chain 7 -> 6 -> ... -> 2 -> 1
    for i, sha in enumerate(ids):
        base = 1 if i == 0 else i - 1
        delta = create_delta(bodies[base], bodies[i])
        entries[sha] = StoredEntry(OFS_DELTA, len(delta), ids[base], zlib.compress(delta), i * 100)
    store.packs = (DictPack(entries),)
    gen = PackGenerator(store, [(i, 3, b"f") for i in ids], depth=3, deltify=False)
    data = b"".join(gen)
    verify = check_pack(git, tmp_path, data, ids)
    depths = [int(line.split(b"=")[1].split(b":")[0]) for line in verify.splitlines()
              if line.startswith(b"chain length = ")]
    assert max(depths) <= 3
    assert 0 < gen.stats["reused_deltas"] < len(ids)
