"""The reachability walk over packs: delta-aware tree scanning and bulk reads.

The walker reads packed trees through ``PackedObjectReader`` and lets
``TreeScanner`` skip entries a tree shares with its delta base; the output
must be exactly what a plain parse-every-entry walk produces (same objects,
order and paths) and what ``git rev-list --objects`` lists.
"""

from __future__ import annotations

import os
import random

import pytest

from puregit.delta import apply_delta, delta_copy_runs
from puregit.delta_create import create_delta
from puregit.errors import DeltaError, ObjectFormatError
from puregit.graph import ReachabilityWalker, TreeScanner, parse_tree_entries
from puregit.object_store import DiskObjectStore
from puregit.pack import PackedObjectReader
from tests.helpers import _write, git, git_ok, make_rich_repo


def _entry(mode: bytes, name: bytes, sha: bytes) -> bytes:
    return mode + b" " + name + b"\0" + sha


def _tree(entries) -> bytes:
    return b"".join(_entry(*e) for e in sorted(entries, key=lambda e: e[1]))


def _sha(i: int) -> bytes:
    return i.to_bytes(4, "big") * 5


@pytest.fixture(scope="module")
def history_repo(tmp_path_factory):
    """A repository with many versions of a few directories, packed with deep deltas."""
    path = str(tmp_path_factory.mktemp("walk") / "repo")
    make_rich_repo(path)
    rng = random.Random(7)
    names = [f"d{i % 4}/s{i % 3}/f{i}.txt" for i in range(40)]
    for name in names:
        _write(path, name, f"{name} start\n".encode())
    for n in range(60):
        for name in rng.sample(names, 3):
            _write(path, name, f"{name} version {n}\n".encode() * (1 + n % 5))
        if n % 17 == 5:
            git("mv", names[n % 40], names[n % 40] + ".moved", cwd=path)
            names[n % 40] += ".moved"
        if n % 23 == 11:  # the same blob under another name
            _write(path, f"copy{n}.txt", f"{names[0]} version 1\n".encode())
        git("add", "-A", ".", cwd=path)
        git("commit", "-q", "-m", f"c{n}", cwd=path)
        if n == 30:
            git("branch", "mid", cwd=path)
    git("repack", "-adfq", "--window=50", "--depth=50", cwd=path)
    return path


def _refs(path) -> list[bytes]:
    return sorted(set(git("for-each-ref", "--format=%(objectname)", cwd=path).split()))


def _plain_walk(store, include, exclude=()):
    """The same walk reading through get_raw only (every tree parsed in full)."""
    walker = ReachabilityWalker(lambda sha: store.get_raw(sha), store.hash_algo, has=store.contains)
    assert walker._reader is None
    return list(walker.walk(include, exclude))


def test_walk_matches_plain_walk_and_git(history_repo):
    store = DiskObjectStore(os.path.join(history_repo, ".git", "objects"))
    refs = _refs(history_repo)
    walker = ReachabilityWalker(store.get_raw, store.hash_algo, has=store.contains,
                                packs=store.packs)
    assert walker._reader is not None
    fast = list(walker.walk(refs))
    assert fast == _plain_walk(store, refs)
    expected = {line.split()[0] for line in
                git("rev-list", "--objects", "--all", cwd=history_repo).splitlines()}
    assert {sha for sha, _, _ in fast} == expected
    assert len(fast) == len(expected)
    store.close()


def test_incremental_walk_matches(history_repo):
    store = DiskObjectStore(os.path.join(history_repo, ".git", "objects"))
    mid = git("rev-parse", "mid", cwd=history_repo).strip()
    head = git("rev-parse", "HEAD", cwd=history_repo).strip()
    got = list(store.iter_reachable([head], [mid]))
    assert got == _plain_walk(store, [head], [mid])
    expected = {line.split()[0] for line in
                git("rev-list", "--objects", head.decode(), "--not", mid.decode(),
                    cwd=history_repo).splitlines()}
    assert {sha for sha, _, _ in got} == expected
    store.close()


def test_deltified_trees_are_scanned_against_a_base(history_repo):
    store = DiskObjectStore(os.path.join(history_repo, ".git", "objects"))
    calls = {"all": 0, "against": 0}
    scan_all, scan_against = TreeScanner._scan_all, TreeScanner._scan_against

    class Counting(TreeScanner):
        def _scan_all(self, *a):
            calls["all"] += 1
            return scan_all(self, *a)

        def _scan_against(self, *a):
            calls["against"] += 1
            return scan_against(self, *a)

    reader = PackedObjectReader(store.packs)
    scanner = Counting(set())
    deltas = 0
    for line in git("rev-list", "--objects", "--all", cwd=history_repo).splitlines():
        got = reader.read(bytes.fromhex(line[:40].decode()))
        if got is not None and got[0] == 2:
            deltas += got[4] is not None
            scanner.scan(got[1], got[2], got[3], got[4])
    assert deltas > 20 and calls["against"] > deltas // 2
    store.close()


def test_reader_reports_the_delta_it_applied(history_repo):
    store = DiskObjectStore(os.path.join(history_repo, ".git", "objects"))
    pack = store.packs[0]
    deltas = 0
    for sha in list(pack)[:300]:
        off = pack.index.object_offset(sha)
        type_num, body, base, delta = pack.data.resolve_with_delta(off, pack.index.find_offset)
        assert (type_num, body) == pack.get_raw(sha)
        if delta is not None:
            deltas += 1
            base_body = pack.data.resolve_object_at(base, pack.index.find_offset)[1]
            assert apply_delta(base_body, delta) == body
    assert deltas
    store.close()


def _scan_full(body: bytes, seen: set) -> list:
    return TreeScanner(seen).scan(body)


def test_scan_against_base_equals_full_scan():
    rng = random.Random(3)
    for _ in range(60):
        base = [(b"100644", b"file%03d" % i, _sha(i)) for i in range(rng.randrange(1, 80))]
        target = list(base)
        for _ in range(rng.randrange(0, 6)):
            op = rng.randrange(3)
            if op == 0 and target:
                del target[rng.randrange(len(target))]
            elif op == 1 and target:
                i = rng.randrange(len(target))
                target[i] = (target[i][0], target[i][1], _sha(1000 + rng.randrange(50)))
            else:
                target.append((rng.choice([b"40000", b"100755", b"160000"]),
                               b"new%d" % rng.randrange(10 ** 6), _sha(2000 + rng.randrange(50))))
        dedup = {e[1]: e for e in target}
        b_body, t_body = _tree(base), _tree(dedup.values())
        delta = create_delta(b_body, t_body)
        for order in ("base-first", "child-first"):
            seen = {_sha(1001)}
            scanner = TreeScanner(seen)
            reference_seen = set(seen)
            if order == "base-first":
                scanner.scan(b_body, "B")
                got = scanner.scan(t_body, "T", "B", delta)
                _scan_full(b_body, reference_seen)
                expected = _scan_full(t_body, reference_seen)
            else:
                got_t = scanner.scan(t_body, "T", "B", delta)
                got = scanner.scan(b_body, "B")
                assert got_t == _scan_full(t_body, reference_seen)
                expected = _scan_full(b_body, reference_seen)
            assert got == expected
            assert seen == reference_seen


def _edit(rng, entries):
    out = list(entries)
    for _ in range(rng.randrange(1, 5)):
        i = rng.randrange(len(out))
        if rng.random() < 0.7:
            out[i] = (out[i][0], out[i][1], _sha(3000 + rng.randrange(100)))
        else:
            del out[i]
    return out


def test_scan_against_a_sibling_equals_full_scan():
    """Two deltas of one base, the base unscanned: the second uses the first."""
    rng = random.Random(11)
    for _ in range(40):
        base = [(b"100644", b"f%03d" % i, _sha(i)) for i in range(rng.randrange(2, 120))]
        b_body = _tree(base)
        t1, t2 = _tree(_edit(rng, base)), _tree(_edit(rng, base))
        seen = {_sha(3001)}
        reference = set(seen)
        scanner = TreeScanner(seen)
        got1 = scanner.scan(t1, "T1", "B", create_delta(b_body, t1))
        got2 = scanner.scan(t2, "T2", "B", create_delta(b_body, t2))
        assert got1 == _scan_full(t1, reference)
        assert got2 == _scan_full(t2, reference)
        assert seen == reference


def test_scan_skips_gitlinks_and_duplicates():
    seen: set = set()
    body = _tree([(b"160000", b"sub", _sha(1)), (b"100644", b"a", _sha(2)),
                  (b"100644", b"b", _sha(2)), (b"40000", b"d", _sha(3))])
    got = TreeScanner(seen).scan(body)
    assert got == [(b"100644", b"a", _sha(2)), (b"40000", b"d", _sha(3))]
    assert seen == {_sha(2), _sha(3)}


@pytest.mark.parametrize("body", [
    b"100644 a\0" + b"x" * 19,                 # truncated id
    b"100644 a\0" + b"x" * 20 + b"junk",       # trailing garbage
    b"10x644 a\0" + b"x" * 20,                 # bad mode
    b"100644 \0" + b"x" * 20,                  # empty name
    b"100644a\0" + b"x" * 20,                  # no space
])
def test_malformed_trees_raise(body):
    with pytest.raises(ObjectFormatError):
        parse_tree_entries(body)
    with pytest.raises(ObjectFormatError):
        TreeScanner(set()).scan(body)


def test_malformed_tree_raises_when_scanned_against_a_base():
    base = _tree([(b"100644", b"file%02d" % i, _sha(i)) for i in range(20)])
    bad = base[:200] + b"\0\0\0" + base[200:]
    scanner = TreeScanner(set())
    scanner.scan(base, "B")
    with pytest.raises(ObjectFormatError):
        scanner.scan(bad, "T", "B", create_delta(base, bad))


def test_delta_copy_runs_rebuild_the_result():
    rng = random.Random(5)
    base = bytes(rng.randrange(256) for _ in range(5000))
    target = base[100:3000] + b"inserted" + base[2000:4500] + bytes(300)
    delta = create_delta(base, target)
    runs = delta_copy_runs(delta)
    assert runs and all(b_end <= len(target) for _, b_end, _ in runs)
    for start, end, src in runs:
        assert target[start:end] == base[src:src + end - start]
    assert apply_delta(base, delta) == target
    with pytest.raises(DeltaError):
        delta_copy_runs(delta + b"\x91")  # a copy cut short
    with pytest.raises(DeltaError):
        delta_copy_runs(delta + b"\x00")  # the reserved instruction


# --- writing bitmaps ---------------------------------------------------------

def test_ewah_round_trip():
    from puregit.bitmap import _ewah_at
    from puregit.bitmap_write import encode_ewah
    rng = random.Random(2)
    cases = [(0, 0), (0, 100), ((1 << 700) - 1, 700), (1 << 699, 700)]
    for _ in range(30):
        n = rng.randrange(1, 3000)
        bits = 0
        for _ in range(rng.randrange(0, 8)):  # runs of ones among sparse bits
            a = rng.randrange(n)
            b = min(n, a + rng.randrange(1, 400))
            bits |= ((1 << (b - a)) - 1) << a
        bits |= rng.getrandbits(n) & rng.getrandbits(n) & rng.getrandbits(n)
        cases.append((bits, n))
    for bits, n in cases:
        data = encode_ewah(bits, n)
        end, got = _ewah_at(data, 0)
        assert end == len(data) and got == bits


def test_written_bitmap_is_accepted_by_git(history_repo, tmp_path):
    import shutil
    from puregit.bitmap import bits_to_positions, load_bitmap
    from puregit.bitmap_write import write_bitmap
    from puregit.repo import Repo
    path = str(tmp_path / "copy")
    shutil.copytree(history_repo, path)
    repo = Repo(path)
    pack = repo.object_store.packs[0]
    write_bitmap(repo, pack, every=7)
    plain = git("rev-list", "--objects", "--all", cwd=path).splitlines()
    bitmapped = git("rev-list", "--use-bitmap-index", "--objects", "--all", cwd=path).splitlines()
    assert {line[:40] for line in bitmapped} == {line[:40] for line in plain}
    index = load_bitmap(repo.object_store.packs[0])
    assert index is not None and len(index._raw) > 5
    for commit in index._raw:
        done = git_ok("rev-list", "--test-bitmap", commit.hex(), cwd=path)
        assert done.returncode == 0 and b"OK!" in done.stdout + done.stderr
        objects = {index.ids[i] for i in bits_to_positions(index.get(commit))}
        expected = {bytes.fromhex(line[:40].decode()) for line in
                    git("rev-list", "--objects", commit.hex(), cwd=path).splitlines()}
        assert objects == expected
    repo.close()


def test_bitmap_needs_a_closed_pack(history_repo, tmp_path):
    import shutil
    from puregit.bitmap_write import BitmapWriteError, write_bitmap
    from puregit.repo import Repo
    path = str(tmp_path / "copy")
    shutil.copytree(history_repo, path)
    _write(path, "loose.txt", b"only loose\n")
    git("add", "loose.txt", cwd=path)
    git("commit", "-q", "-m", "loose", cwd=path)
    repo = Repo(path)
    with pytest.raises(BitmapWriteError):
        write_bitmap(repo, repo.object_store.packs[0])
    repo.close()
