"""Pack-slice reuse (puregit.pack_reuse): checked by real git index-pack / verify-pack."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import subprocess

import pytest

from helpers import fsck, git, git_runner, make_rich_repo
from puregit.hashes import SHA1, SHA256
from puregit.object_store import DiskObjectStore
from puregit.pack_reuse import MAX_CHUNK
from puregit.pack_writer import PackGenerator


# --- fixtures -------------------------------------------------------------------

def _history(run, path, commits=60, files=8, seed=1, big_blob=False) -> None:
    """Many similar revisions of a few files (fast-import), packed with OFS deltas."""
    rnd = random.Random(seed)
    run("init", "-q", "-b", "main", str(path))
    contents = {f"src/m{i}.txt": [f"line {j} {rnd.random()}\n"
                                  for j in range(rnd.randrange(40, 200))]
                for i in range(files)}
    stream = []
    for c in range(commits):
        for name in rnd.sample(sorted(contents), 3):
            lines = contents[name]
            for _ in range(rnd.randrange(1, 4)):
                k = rnd.randrange(len(lines))
                if rnd.random() < 0.5:
                    lines[k] = f"changed {c} {rnd.random()}\n"
                else:
                    lines.insert(k, f"added {c} {rnd.random()}\n")
        stream.append(f"commit refs/heads/main\nmark :{c + 1}\n"
                      f"committer C <c@example.com> {1700000000 + c} +0000\n"
                      f"data {len(str(c))}\n{c}\n")
        if c:
            stream.append(f"from :{c}\n")
        for name, lines in contents.items():
            body = "".join(lines)
            stream.append(f"M 100644 inline {name}\ndata {len(body.encode())}\n{body}\n")
        if big_blob and c == commits - 1:
            blob = rnd.randbytes(2_500_000).hex()[:2_500_000]
            stream.append(f"M 100644 inline big.bin\ndata {len(blob)}\n{blob}\n")
    run("fast-import", "--quiet", cwd=str(path), input="".join(stream).encode())
    run("tag", "-a", "-m", "tag", "v1", "main~10", cwd=str(path))
    run("repack", "-q", "-a", "-d", "-f", "--window=10", "--depth=50", cwd=str(path))


@pytest.fixture(scope="module")
def base_repo(tmp_path_factory):
    root = tmp_path_factory.mktemp("reuse")
    run = git_runner(root)
    path = root / "repo"
    _history(run, path, big_blob=True)
    return path


@pytest.fixture
def repo(base_repo, tmp_path):
    path = tmp_path / "repo"
    shutil.copytree(base_repo, path, symlinks=True)
    return path


def _store(repo, hash_algo=SHA1) -> DiskObjectStore:
    return DiskObjectStore(str(repo / ".git" / "objects"), hash_algo=hash_algo)


def _pack_table(idx_path, cwd) -> list[dict]:
    """``git verify-pack -v``: one dict per entry, in pack offset order."""
    out = git("verify-pack", "-v", str(idx_path), cwd=cwd)
    rows = []
    for line in out.splitlines():
        f = line.split()
        if len(f) < 5 or len(f[0]) not in (40, 64):
            continue
        rows.append({"id": f[0], "type": f[1], "size_in_pack": int(f[3]), "offset": int(f[4]),
                     "base": f[6] if len(f) > 6 else None})
    rows.sort(key=lambda r: r["offset"])
    return rows


def _show_index(idx_path, cwd) -> dict:
    """hex id -> (offset, crc32) from ``git show-index``."""
    with open(idx_path, "rb") as f:
        out = git("show-index", cwd=cwd, input=f.read())
    res = {}
    for line in out.splitlines():
        off, sha, crc = line.split()
        res[sha] = (int(off), int(crc.strip(b"()"), 16))
    return res


def _generate(store, ids, **kw):
    kw.setdefault("slice_min_objects", 1)
    gen = PackGenerator(store, [(h, None, None) for h in ids], **kw)
    chunks = list(gen)
    assert all(len(c) <= MAX_CHUNK + 64 for c in chunks[:-1])
    return gen, b"".join(chunks)


def _check(repo, tmp_path, gen, data, wanted, *, strict=True) -> dict:
    """index-pack --strict and verify-pack accept it; exactly ``wanted``; offsets and CRCs."""
    algo = hashlib.sha256 if len(next(iter(wanted), b"0" * 40)) == 64 else hashlib.sha1
    assert data[-algo().digest_size:] == algo(data[:-algo().digest_size]).digest()
    assert gen.checksum == data[-algo().digest_size:]
    pack = tmp_path / "out.pack"
    pack.write_bytes(data)
    idx = tmp_path / "out.idx"
    if idx.exists():
        idx.unlink()
    git("index-pack", *(["--strict"] if strict else []), "-o", str(idx), str(pack), cwd=repo)
    git("verify-pack", "-v", str(idx), cwd=repo)
    entries = _show_index(idx, repo)
    assert set(entries) == set(wanted)
    assert gen.entries_written == entries
    assert gen.stats["total"] == len(wanted)
    return entries


def _leaves_and_bases(rows):
    bases = {r["base"] for r in rows if r["base"]}
    return [r["id"] for r in rows if r["id"] not in bases], sorted(bases)


def _pack_idx(repo):
    (idx,) = (repo / ".git" / "objects" / "pack").glob("*.idx")
    return idx


# --- tests ----------------------------------------------------------------------

def test_whole_pack_is_one_slice(repo, tmp_path):
    store = _store(repo)
    (pack,) = store.packs
    ids = [h for h in pack]
    gen, data = _generate(store, ids, slice_min_objects=None)   # default threshold: too few
    assert gen._slices is None
    gen, data = _generate(store, ids)
    plan = gen._slices
    assert plan.pieces == [(12, pack.data.data_end)] and plan.count == len(ids)
    with open(pack.basename + ".pack", "rb") as f:
        assert data == f.read()           # the very same file
    assert gen.entries_written == _show_index(pack.basename + ".idx", repo)
    rows = _pack_table(pack.basename + ".idx", repo)
    deltas = sum(1 for r in rows if r["base"])
    assert gen.stats == {"total": len(ids), "deltas": deltas, "reused": len(ids),
                         "reused_deltas": deltas}
    _check(repo, tmp_path, gen, data, ids)


@pytest.mark.parametrize("seed", range(4))
def test_subset_of_leaves_reencodes_distances(repo, tmp_path, seed):
    store = _store(repo)
    rows = _pack_table(_pack_idx(repo), repo)
    leaves, _ = _leaves_and_bases(rows)
    rnd = random.Random(seed)
    drop = set(rnd.sample(leaves, len(leaves) // (3 + seed)))
    wanted = [r["id"] for r in rows if r["id"] not in drop]
    gen, data = _generate(store, wanted)
    plan = gen._slices
    assert plan.count == len(wanted)      # every base is sent: nothing left out
    assert plan._rewrites                 # distances across the gaps changed
    assert not gen._objects
    _check(repo, tmp_path, gen, data, wanted)


def test_header_shrinks_when_a_gap_closes_in(repo, tmp_path):
    store = _store(repo)
    rows = _pack_table(_pack_idx(repo), repo)
    pos = {r["id"]: i for i, r in enumerate(rows)}
    for i, r in enumerate(rows):
        if not r["base"]:
            continue
        b = pos[r["base"]]
        if r["offset"] - rows[b]["offset"] >= 128 and rows[b]["size_in_pack"] < 128 and i - b > 1:
            break
    else:
        pytest.fail("no OFS_DELTA with a distance >= 128 over a small base")
    drop = {rows[j]["id"] for j in range(b + 1, i)}
    wanted = [x["id"] for x in rows if x["id"] not in drop]
    gen, data = _generate(store, wanted)
    plan = gen._slices
    header, _, grow = plan._rewrites[i]
    assert grow < 0 and header[0] >> 4 & 7 == 6
    # the new distance is the base's entry length: the base is now right before it
    offset, _ = gen.entries_written[r["id"]]
    base_offset, _ = gen.entries_written[rows[b]["id"]]
    assert offset - base_offset == rows[b]["size_in_pack"]
    _check(repo, tmp_path, gen, data, wanted)


def test_unwanted_base_in_thin_bases_becomes_ref_delta(repo, tmp_path):
    store = _store(repo)
    rows = _pack_table(_pack_idx(repo), repo)
    _, bases = _leaves_and_bases(rows)
    drop = set(random.Random(3).sample(bases, len(bases) // 3))
    wanted = [r["id"] for r in rows if r["id"] not in drop]
    gen, data = _generate(store, wanted, thin_bases=drop)
    plan = gen._slices
    assert plan.count == len(wanted)
    refs = [h for h, _, _ in plan._rewrites.values() if h[0] >> 4 & 7 == 7]
    assert refs
    # a receiver that has the bases completes it, offsets and CRCs as we said
    recv = tmp_path / "recv.git"
    git("clone", "-q", "--bare", str(repo), str(recv))
    out = git("index-pack", "--stdin", "--fix-thin", "--strict", cwd=recv, input=data)
    fixed = recv / "objects" / "pack" / f"pack-{out.split()[-1].decode()}.idx"
    entries = _show_index(fixed, recv)
    assert {h: entries[h] for h in wanted} == gen.entries_written
    appended = set(entries) - set(wanted)
    assert appended and appended <= drop
    # a receiver without them cannot use it
    git("init", "-q", "--bare", str(tmp_path / "empty.git"))
    p = subprocess.run(["git", "index-pack", "--stdin"], cwd=tmp_path / "empty.git", input=data,
                       capture_output=True)
    assert p.returncode != 0


def test_unwanted_base_not_thin_leaves_object_to_normal_path(repo, tmp_path):
    store = _store(repo)
    rows = _pack_table(_pack_idx(repo), repo)
    _, bases = _leaves_and_bases(rows)
    drop = set(random.Random(5).sample(bases, len(bases) // 4))
    wanted = [r["id"] for r in rows if r["id"] not in drop]
    gen, data = _generate(store, wanted)
    plan = gen._slices
    assert plan is not None and plan.count < len(wanted)
    left = {e.id for e in gen._objects}
    assert left and not left & set(plan.ids())
    assert len(left) + plan.count == len(wanted)
    _check(repo, tmp_path, gen, data, wanted)


def test_objects_split_between_pack_loose_and_second_pack(repo, tmp_path):
    # Q: a thin pack of new history completed with --fix-thin (REF_DELTAs against
    # bases it copies from P); then loose objects; some objects in several places.
    old_tip = git("rev-parse", "main", cwd=repo).strip()
    for i in range(4):
        f = repo / "src" / f"m{i}.txt"
        git("checkout", "-q", "-f", "main", cwd=repo)
        f.write_bytes(f.read_bytes() + b"more %d\n" % i)
        git("commit", "-q", "-a", "-m", f"q{i}", cwd=repo)
    new_tip = git("rev-parse", "main", cwd=repo).strip()
    thin = git("pack-objects", "--thin", "--stdout", "--revs", "-q", cwd=repo,
               input=new_tip + b"\n^" + old_tip + b"\n")
    git("index-pack", "--stdin", "--fix-thin", cwd=repo, input=thin)
    git("prune-packed", cwd=repo)
    for i in range(3):
        f = repo / "src" / "m7.txt"
        f.write_bytes(f.read_bytes() + b"loose %d\n" % i)
        git("commit", "-q", "-a", "-m", f"loose{i}", cwd=repo)
    store = _store(repo)
    assert len(store.packs) == 2
    refs = git("for-each-ref", "--format=%(objectname)", cwd=repo).split()
    entries = list(store.iter_reachable(refs))
    wanted = [e[0] for e in entries]
    gen = PackGenerator(store, entries + entries[:50], slice_min_objects=1)   # duplicates too
    data = b"".join(gen)
    plan = gen._slices
    assert plan is not None and plan.count < len(wanted)
    assert gen._slice_stubs               # Q's deltas refer into the copied region
    assert gen.stats["reused_deltas"] > plan.deltas
    _check(repo, tmp_path, gen, data, wanted)
    clone = tmp_path / "clone.git"
    git("init", "-q", "--bare", str(clone))
    git("index-pack", "--stdin", "--strict", cwd=clone, input=data)
    for r in refs:
        git("update-ref", f"refs/tags/t{r.decode()[:8]}", r.decode(), cwd=clone)
    fsck(clone)


def test_ofs_delta_false_takes_the_normal_path(repo, tmp_path):
    store = _store(repo)
    rows = _pack_table(_pack_idx(repo), repo)
    wanted = [r["id"] for r in rows]
    gen, data = _generate(store, wanted, ofs_delta=False)
    assert gen._slices is None
    _check(repo, tmp_path, gen, data, wanted)
    for off, _ in gen.entries_written.values():
        assert data[off] >> 4 & 7 != 6


def test_pack_with_ref_deltas(repo, tmp_path):
    git("-c", "repack.useDeltaBaseOffset=false", "repack", "-q", "-a", "-d", "-f", cwd=repo)
    store = _store(repo)
    rows = _pack_table(_pack_idx(repo), repo)
    _, bases = _leaves_and_bases(rows)
    rnd = random.Random(11)
    drop = set(rnd.sample(bases, len(bases) // 3))
    thin = set(rnd.sample(sorted(drop), len(drop) // 2))
    wanted = [r["id"] for r in rows if r["id"] not in drop]
    gen, data = _generate(store, wanted, thin_bases=thin)
    plan = gen._slices
    assert plan is not None and 0 < plan.count < len(wanted)
    assert not plan._rewrites            # REF_DELTAs do not depend on position
    recv = tmp_path / "recv.git"
    git("clone", "-q", "--bare", str(repo), str(recv))
    git("index-pack", "--stdin", "--fix-thin", "--strict", cwd=recv, input=data)
    # without thin bases: a complete pack
    gen, data = _generate(store, wanted)
    _check(repo, tmp_path, gen, data, wanted)


def test_ref_delta_before_its_base_is_left_out(repo, tmp_path):
    # --fix-thin appends the missing bases at the end: REF_DELTAs point forward
    old = git("rev-parse", "main~5", cwd=repo).strip()
    thin = git("pack-objects", "--thin", "--stdout", "--revs", "-q", cwd=repo,
               input=b"main\n^" + old + b"\n")
    recv = tmp_path / "recv"
    git("clone", "-q", "--no-local", "--bare", "-b", "main", str(repo), str(recv))
    git("update-ref", "refs/heads/main", old.decode(), cwd=recv)
    git("-C", str(recv), "repack", "-q", "-a", "-d")
    out = git("index-pack", "--stdin", "--fix-thin", cwd=recv, input=thin)
    store = DiskObjectStore(str(recv / "objects"))
    (pack,) = [p for p in store.packs if p.name() == out.split()[-1]]
    rows = _pack_table(pack.basename + ".idx", recv)
    wanted = [r["id"] for r in rows]
    gen, data = _generate(store, wanted)
    plan = gen._slices
    assert plan is not None and plan.count < len(wanted)    # forward REF_DELTAs go later
    git("init", "-q", "--bare", str(tmp_path / "chk"))
    entries = _check(tmp_path / "chk", tmp_path, gen, data, wanted, strict=False)
    assert len(entries) == len(rows)


def test_index_v1_crcs_are_computed(repo, tmp_path):
    idx = _pack_idx(repo)
    pack_file = str(idx)[:-4] + ".pack"
    os.chmod(idx, 0o644)
    idx.unlink()
    git("index-pack", "--index-version=1", "-o", str(idx), pack_file, cwd=repo)
    store = _store(repo)
    rows = _pack_table(idx, repo)
    leaves, _ = _leaves_and_bases(rows)
    drop = set(random.Random(2).sample(leaves, 40))
    for wanted in ([r["id"] for r in rows], [r["id"] for r in rows if r["id"] not in drop]):
        gen, data = _generate(store, wanted)
        assert gen._slices is not None
        _check(repo, tmp_path, gen, data, wanted)


def test_sha256_repository(tmp_path):
    path = tmp_path / "rich"
    make_rich_repo(path, object_format="sha256")
    git("repack", "-q", "-a", "-d", "-f", cwd=path)
    store = _store(path, SHA256)
    rows = _pack_table(_pack_idx(path), path)
    wanted = [r["id"] for r in rows]
    gen, data = _generate(store, wanted)
    assert gen._slices.keep is None
    _check(path, tmp_path, gen, data, wanted)
    gen, data = _generate(store, wanted[:3] + wanted[5:])
    assert gen._slices is not None
    _check(path, tmp_path, gen, data, wanted[:3] + wanted[5:])


def test_progress_and_chunks(repo, tmp_path):
    store = _store(repo)
    rows = _pack_table(_pack_idx(repo), repo)
    wanted = [r["id"] for r in rows][5:]
    lines = []
    gen = PackGenerator(store, [(h, None, None) for h in wanted], slice_min_objects=1,
                        progress=lines.append)
    chunks = list(gen)
    assert sum(map(len, chunks)) > MAX_CHUNK
    assert max(map(len, chunks)) <= MAX_CHUNK
    text = b"".join(lines)
    n = len(wanted)
    assert b"Enumerating objects: %d, done.\n" % n in text
    assert b"Counting objects: 100%% (%d/%d), done.\n" % (n, n) in text
    s = gen.stats
    assert text.endswith(b"Total %d (delta %d), reused %d (delta %d)\n"
                         % (n, s["deltas"], s["reused"], s["reused_deltas"]))
    assert s["reused"] == n


def test_most_objects_elsewhere_takes_the_normal_path(repo, tmp_path):
    store = _store(repo)
    rows = _pack_table(_pack_idx(repo), repo)
    wanted = [r["id"] for r in rows]
    fake = [hashlib.sha1(b"%d" % i).hexdigest().encode() for i in range(len(wanted) + 1)]
    from puregit.pack_reuse import plan_slice_reuse
    assert plan_slice_reuse(store.packs, set(wanted + fake), min_objects=1) is None
    assert plan_slice_reuse(store.packs, set(wanted + fake[:-2]), min_objects=1) is not None


def test_a_few_stored_entries_do_not_read_the_whole_pack(tmp_path):
    """A small fetch reads stored entries through the index; a layout is built only for
    clones and big packs (it reads every entry's first byte), then shared."""
    from puregit import pack_reuse
    path = str(tmp_path / "r")
    make_rich_repo(path)
    git("repack", "-adq", cwd=path)
    store = DiskObjectStore(os.path.join(path, ".git", "objects"))
    pack = store.packs[0]
    ids = [e[0] for e in pack.index.iterentries()][:5]
    first = [pack.get_stored_entry(i.hex().encode()) for i in ids]
    assert pack_reuse.cached_layout(pack) is None
    pack_reuse._layout(pack)
    again = [pack.get_stored_entry(i.hex().encode()) for i in ids]
    assert pack._offset_order() is not None
    assert [(s.type_num, s.size, s.delta_base, bytes(s.compressed), s.offset) for s in first] \
        == [(s.type_num, s.size, s.delta_base, bytes(s.compressed), s.offset) for s in again]
    listed = dict(pack.iter_stored_entries())
    assert len(listed) == len(pack)
    store.close()
