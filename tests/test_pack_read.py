"""Reading packs made by git: every object, OFS and REF deltas, stored entries, bad packs."""

from __future__ import annotations

import glob
import hashlib
import os
import random
import shutil
import struct
import threading
import zlib

import pytest
from helpers import git_runner

from puregit.errors import (CorruptPackError, DeltaChainLoopError, MissingObjectError,
                            PackChecksumError, PackIndexError)
from puregit.object_store import DiskObjectStore
from puregit.pack import (OFS_DELTA, REF_DELTA, Pack, PackData, encode_entry_header,
                          encode_ofs_distance, parse_entry_header, read_pack_header)
from puregit.pack_index import write_pack_index_v2
from puregit.delta import encode_varint


@pytest.fixture(scope="module")
def git(tmp_path_factory):
    return git_runner(tmp_path_factory.mktemp("home"))


@pytest.fixture(scope="module")
def repo(git, tmp_path_factory):
    """A repository with enough history for deep delta chains, repacked into one pack."""
    path = tmp_path_factory.mktemp("repo")
    git("init", "-q", str(path))
    rnd = random.Random(11)
    lines = [f"line {i} {rnd.random()}\n" for i in range(400)]
    for c in range(15):
        for k in range(4):
            lines[rnd.randrange(len(lines))] = f"changed {c} {k} {rnd.random()}\n"
        (path / "file.txt").write_text("".join(lines))
        (path / "sub").mkdir(exist_ok=True)
        (path / "sub" / f"n{c % 4}.txt").write_text(f"version {c}\n" * 50)
        (path / "big.bin").write_bytes(bytes(rnd.randrange(256) for _ in range(300)) * 300
                                       + bytes([c]) * 100)
        git("add", "-A", cwd=path)
        git("commit", "-q", "-m", f"commit {c}\n\nbody {c}", cwd=path)
    git("tag", "-a", "v1", "-m", "annotated", cwd=path)
    git("repack", "-a", "-d", "-f", "-q", "--depth=50", "--window=50", cwd=path)
    return path


def all_objects(git, repo):
    """{hex id: (type name, body)} from git cat-file --batch-all-objects."""
    out = git("cat-file", "--batch-all-objects", "--batch", cwd=repo)
    objects = {}
    pos = 0
    while pos < len(out):
        nl = out.index(b"\n", pos)
        sha, typ, size = out[pos:nl].split()
        body = out[nl + 1:nl + 1 + int(size)]
        objects[sha] = (typ, body)
        pos = nl + 2 + int(size)
    return objects


TYPE_NUMS = {b"commit": 1, b"tree": 2, b"blob": 3, b"tag": 4}


def the_pack(repo) -> str:
    return glob.glob(str(repo / ".git/objects/pack/*.pack"))[0][:-5]


def verify_pack(git, basename):
    """[(hex, type, size, size in pack, offset, base or None)] from git verify-pack -v."""
    rows = []
    for line in git("verify-pack", "-v", basename + ".idx").decode().splitlines():
        p = line.split()
        if len(p) >= 5 and p[1] in ("commit", "tree", "blob", "tag"):
            rows.append((p[0].encode(), p[1], int(p[2]), int(p[3]), int(p[4]),
                         p[6].encode() if len(p) == 7 else None))
    return rows


def test_every_object_reads_back(git, repo):
    expected = all_objects(git, repo)
    with Pack(the_pack(repo)) as pack:
        assert len(pack) == len(expected)
        assert sorted(pack) == sorted(expected)
        for sha, (typ, body) in expected.items():
            assert sha in pack
            assert pack.get_raw(sha) == (TYPE_NUMS[typ], body)
            assert pack.get_raw(bytes.fromhex(sha.decode())) == (TYPE_NUMS[typ], body)
        obj = pack[next(s for s, (t, _) in expected.items() if t == b"commit")]
        assert obj.type_name == b"commit"
        with pytest.raises(MissingObjectError):
            pack.get_raw(b"0" * 40)
        with pytest.raises(KeyError):
            pack.get_raw(b"not hex at all, but forty characters ...")


def test_deltas_are_exercised(git, repo):
    out = git("verify-pack", "-v", the_pack(repo) + ".idx").decode().splitlines()
    depths = [int(line.split()[5]) for line in out if len(line.split()) == 7]
    assert len(depths) > 10 and max(depths) >= 5


def test_ref_delta_pack(git, repo, tmp_path):
    # Plain pack-objects (no --delta-base-offset) writes REF_DELTA entries.
    revs = git("rev-list", "--objects", "--all", cwd=repo)
    git("pack-objects", "-q", "--window=50", str(tmp_path / "ref"), cwd=repo, input=revs)
    basename = glob.glob(str(tmp_path / "ref-*.pack"))[0][:-5]
    expected = all_objects(git, repo)
    with Pack(basename) as pack:
        kinds = {e.type_num for _, e in pack.iter_stored_entries()}
        assert REF_DELTA in kinds and OFS_DELTA not in kinds
        for sha, (typ, body) in expected.items():
            assert pack.get_raw(sha) == (TYPE_NUMS[typ], body)
        pack.check()


def test_stored_entries_match_verify_pack(git, repo):
    basename = the_pack(repo)
    rows = verify_pack(git, basename)
    with Pack(basename) as pack:
        by_offset = {}
        for hexsha, entry in pack.iter_stored_entries():
            by_offset[entry.offset] = (hexsha, entry)
        assert len(by_offset) == len(rows)
        for sha, typ, size, in_pack, offset, base in rows:
            hexsha, entry = by_offset[offset]
            assert hexsha == sha
            assert pack.get_stored_entry(sha) == entry
            header_len = parse_entry_header(pack.data._mmap, offset)[3] - offset
            assert header_len + len(entry.compressed) == in_pack
            assert entry.size == size
            assert entry.delta_base == base
            assert pack.data.get_compressed_data_at(offset) == entry.compressed
            inflated = zlib.decompress(entry.compressed)
            assert len(inflated) == entry.size
            if base is None:
                assert entry.type_num == TYPE_NUMS[typ.encode()]
                assert pack.get_raw(sha)[1] == inflated
            else:
                assert entry.type_num == OFS_DELTA
        offsets = [e.offset for _, e in pack.iter_stored_entries()]
        assert offsets == sorted(offsets)


def test_pack_data_sequential_and_checks(git, repo):
    basename = the_pack(repo)
    rows = {r[4]: r for r in verify_pack(git, basename)}
    with PackData(basename + ".pack") as data:
        assert len(data) == len(rows) and data.version == 2
        data.check()
        assert data.calculate_checksum() == data.get_stored_checksum()
        seen = 0
        for offset, type_num, obj, crc in data.iterobjects():
            row = rows[offset]
            assert crc is not None
            if type_num == OFS_DELTA:
                base_offset, delta = obj
                assert rows[base_offset][0] == row[5]
            else:
                assert hashlib.sha1(b"%s %d\0" % (row[1].encode(), len(obj)) + obj).hexdigest() \
                    == row[0].decode()
            assert data.get_object_at(offset)[0] == type_num
            seen += 1
        assert seen == len(rows)


def test_check_passes_and_store_reads(git, repo):
    store = DiskObjectStore(str(repo / ".git/objects"))
    expected = all_objects(git, repo)
    assert len(store.packs) == 1
    store.packs[0].check()
    for sha, (typ, body) in list(expected.items())[:50]:
        assert store.get_raw(sha) == (TYPE_NUMS[typ], body)
    assert set(store) == set(expected)
    store.close()


def test_concurrent_readers(git, repo):
    expected = all_objects(git, repo)
    items = list(expected.items())
    errors = []
    with Pack(the_pack(repo)) as pack:
        pack.data.__class__  # open once up front is not required; race on lazy open too
        def work(seed):
            rnd = random.Random(seed)
            try:
                for sha, (typ, body) in rnd.sample(items, min(200, len(items))):
                    assert pack.get_raw(sha) == (TYPE_NUMS[typ], body)
            except Exception as e:  # pragma: no cover - reported below
                errors.append(e)
        threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors


def test_bad_header():
    with pytest.raises(CorruptPackError):
        read_pack_header(b"PACX\0\0\0\2\0\0\0\0")
    with pytest.raises(CorruptPackError):
        read_pack_header(b"PACK\0\0\0\4\0\0\0\0")
    assert read_pack_header(b"PACK\0\0\0\3\0\0\0\5") == (3, 5)


def test_header_encodings_round_trip():
    for typ, size in [(1, 0), (3, 15), (3, 16), (2, 1 << 20), (4, (1 << 35) + 3)]:
        raw = encode_entry_header(typ, size) + b"rest"
        assert parse_entry_header(raw, 0) == (typ, size, None, len(raw) - 4)
    for dist in (1, 127, 128, 16511, 16512, 2113663, 2113664, 3_000_000):
        offset = dist + 100
        raw = b"\0" * offset + encode_entry_header(OFS_DELTA, 9) + encode_ofs_distance(dist)
        assert parse_entry_header(raw, offset)[2] == offset - dist


# --- hand-made packs -------------------------------------------------------

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


def write_pack(tmp_path, pack: bytes, idx_entries, name="pack-test"):
    basename = str(tmp_path / name)
    with open(basename + ".pack", "wb") as f:
        f.write(pack)
    with open(basename + ".idx", "wb") as f:
        write_pack_index_v2(f, idx_entries, pack[-20:])
    return basename


def test_ref_delta_loop_detected(tmp_path):
    # Two REF deltas on each other's (claimed) ids: reading either must not spin.
    x, y = b"\x11" * 20, b"\x22" * 20
    delta = encode_varint(3) + encode_varint(3) + b"\x03abc"
    e1 = entry(REF_DELTA, delta, y)
    e2 = entry(REF_DELTA, delta, x)
    pack = make_pack([e1, e2])
    basename = write_pack(tmp_path, pack, [(x, 12, 0), (y, 12 + len(e1), 0)])
    with Pack(basename) as p:
        with pytest.raises(DeltaChainLoopError):
            p.get_raw(x.hex())
        with pytest.raises(CorruptPackError):
            p.check()


def test_index_from_another_pack_refused(tmp_path):
    blob = entry(3, b"hello\n")
    pack = make_pack([blob])
    other = make_pack([entry(3, b"other\n")])
    sha = hashlib.sha1(b"blob 6\0hello\n").digest()
    basename = str(tmp_path / "pack-x")
    open(basename + ".pack", "wb").write(pack)
    with open(basename + ".idx", "wb") as f:
        write_pack_index_v2(f, [(sha, 12, 0)], other[-20:])
    with Pack(basename) as p:
        with pytest.raises(PackIndexError):
            p.get_raw(sha.hex())


def test_index_with_wrong_count_refused(tmp_path):
    pack = make_pack([entry(3, b"hello\n"), entry(3, b"world\n")])
    sha = hashlib.sha1(b"blob 6\0hello\n").digest()
    basename = write_pack(tmp_path, pack, [(sha, 12, 0)])
    with Pack(basename) as p:
        with pytest.raises(PackIndexError):
            p.get_raw(sha.hex())


def test_index_offset_outside_pack_refused(tmp_path):
    pack = make_pack([entry(3, b"hello\n")])
    sha = hashlib.sha1(b"blob 6\0hello\n").digest()
    basename = write_pack(tmp_path, pack, [(sha, 5000, 0)])
    with Pack(basename) as p:
        with pytest.raises(CorruptPackError):
            p.get_raw(sha.hex())
        with pytest.raises(PackIndexError):
            p.check()


def test_corrupt_pack_detected_by_check(git, repo, tmp_path):
    src = the_pack(repo)
    dst = str(tmp_path / os.path.basename(src))
    shutil.copy(src + ".idx", dst + ".idx")
    data = bytearray(open(src + ".pack", "rb").read())
    data[len(data) // 2] ^= 0x40
    open(dst + ".pack", "wb").write(bytes(data))
    with Pack(dst) as p:
        with pytest.raises(PackChecksumError):
            p.check()


def test_lying_sizes_in_pack(tmp_path):
    body = b"hello world\n"
    good = entry(3, body)
    liar = encode_entry_header(3, len(body) + 5) + zlib.compress(body)
    short = encode_entry_header(3, len(body) - 5) + zlib.compress(body)
    for bad in (liar, short):
        pack = make_pack([bad])
        sha = hashlib.sha1(b"blob 12\0" + body).digest()
        basename = write_pack(tmp_path, pack, [(sha, 12, 0)], name=f"p{len(bad)}")
        with Pack(basename) as p:
            with pytest.raises(CorruptPackError):
                p.get_raw(sha)
    assert good
