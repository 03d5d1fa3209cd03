"""``repack``/``puregit gc``: one pack of everything reachable, with a bitmap git accepts."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys

import pytest

from tests.helpers import fsck, git, git_ok, make_rich_repo

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _write(root, name, data: bytes) -> None:
    full = os.path.join(root, name)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "wb") as f:
        f.write(data)


def _commit(path, n, files):
    for name, data in files.items():
        _write(path, name, data)
    git("add", "-A", ".", cwd=path)
    git("commit", "-q", "-m", f"c{n}", cwd=path)


@pytest.fixture(scope="module")
def source_repo(tmp_path_factory):
    """Branches, merges, all kinds of tags; part packed, part loose; garbage in both."""
    path = str(tmp_path_factory.mktemp("repack") / "repo")
    make_rich_repo(path)
    for n in range(12):
        _commit(path, n, {f"d{n % 3}/f{n % 5}.txt": f"version {n}\n".encode() * (n + 1),
                          "top.txt": f"top {n}\n".encode()})
    git("checkout", "-q", "-b", "topic", "HEAD~4", cwd=path)
    for n in range(12, 16):
        _commit(path, n, {f"d{n % 3}/f{n % 5}.txt": f"topic {n}\n".encode(),
                          "d9/new.txt": f"new {n}\n".encode()})
    # a commit that will become unreachable once its branch is gone, packed
    git("checkout", "-q", "-b", "doomed", cwd=path)
    _commit(path, 99, {"doomed.txt": b"only on a deleted branch\n"})
    git("checkout", "-q", "main", cwd=path)
    git("repack", "-adq", cwd=path)
    git("branch", "-q", "-D", "doomed", cwd=path)
    git("reflog", "expire", "--expire=now", "--all", cwd=path)
    # a second pack, then loose objects on top
    for n in range(16, 20):
        _commit(path, n, {f"d{n % 3}/g{n}.txt": f"packed {n}\n".encode()})
    git("repack", "-dq", cwd=path)
    git("merge", "-q", "--no-ff", "-m", "merge topic", "topic", cwd=path)
    for n in range(20, 24):
        _commit(path, n, {f"d{n % 3}/h{n}.txt": f"loose {n}\n".encode(), "top.txt": b"last\n"})
    git("tag", "-a", "-m", "late tag", "v2.0", cwd=path)
    git("branch", "feature", "HEAD~2", cwd=path)
    git("hash-object", "-w", "--stdin", cwd=path, input=b"an unreachable loose blob\n")
    return path


def _objects(path) -> set:
    return {line[:40] for line in git("rev-list", "--objects", "--all", cwd=path).splitlines()}


def _all_stored(path) -> set:
    out = git("cat-file", "--batch-all-objects", "--batch-check=%(objectname)", cwd=path)
    return set(out.split())


def _packs(path) -> list:
    return sorted(glob.glob(os.path.join(path, ".git", "objects", "pack", "pack-*.pack")))


def _loose(path) -> set:
    objdir = os.path.join(path, ".git", "objects")
    return {(d + f).encode() for d in os.listdir(objdir) if len(d) == 2
            for f in os.listdir(os.path.join(objdir, d))}


def _pack_ids(pack_path) -> set:
    with open(pack_path[:-5] + ".idx", "rb") as f:
        out = git("show-index", input=f.read())
    return {line.split()[1] for line in out.splitlines()}


def _check_bitmap(path, tips=(b"HEAD",)):
    for tip in tips:
        done = git_ok("rev-list", "--test-bitmap", tip.decode(), cwd=path)
        assert done.returncode == 0 and b"OK!" in done.stdout + done.stderr, done.stderr.decode()
    plain = _objects(path)
    bitmapped = {line[:40] for line in git("rev-list", "--use-bitmap-index", "--objects", "--all",
                                           cwd=path).splitlines()}
    assert bitmapped == plain


@pytest.fixture
def repo_copy(source_repo, tmp_path):
    path = str(tmp_path / "copy")
    shutil.copytree(source_repo, path, symlinks=True)
    return path


def test_repack_makes_one_pack_with_a_bitmap(repo_copy):
    from puregit.bitmap import bits_to_positions, load_bitmap
    from puregit.repack import repack
    from puregit.repo import Repo
    path = repo_copy
    before = _objects(path)
    stored_before = _all_stored(path)
    loose_before = _loose(path)
    assert len(_packs(path)) == 2 and loose_before
    unreachable = stored_before - before
    assert len(unreachable) >= 4  # the doomed commit, its tree and blob; a loose blob

    repo = Repo(path)
    result = repack(repo)
    repo.close()

    fsck(path)
    packs = _packs(path)
    assert len(packs) == 1 and result.pack + ".pack" == packs[0]
    assert os.path.exists(result.pack + ".bitmap") and result.bitmap == result.pack + ".bitmap"
    assert _objects(path) == before
    assert _pack_ids(packs[0]) == before  # exactly the reachable objects
    # nothing was lost: the unreachable objects are loose now
    assert _all_stored(path) == stored_before
    assert _loose(path) == unreachable
    assert result.loosened == len(unreachable) - 1 and result.removed_loose
    _check_bitmap(path, [b"HEAD", b"topic", b"feature", b"v2.0^{commit}", b"v1.0^{commit}"])
    # refs are packed
    assert not glob.glob(os.path.join(path, ".git", "refs", "heads", "*"))
    with open(os.path.join(path, ".git", "packed-refs"), "rb") as f:
        packed = f.read()
    assert b"refs/heads/topic" in packed and b"refs/tags/v2.0" in packed

    # the server's reader loads it and agrees with git
    repo = Repo(path)
    index = load_bitmap(repo.object_store.packs[0])
    assert index is not None and len(index._raw) >= 4
    head = bytes.fromhex(git("rev-parse", "HEAD", cwd=path).strip().decode())
    got = {index.ids[i].hex().encode() for i in bits_to_positions(index.get(head))}
    assert got == {line[:40] for line in git("rev-list", "--objects", "HEAD", cwd=path).splitlines()}
    repo.close()


def test_repack_twice_keeps_the_pack(repo_copy):
    from puregit.repack import repack
    from puregit.repo import Repo
    path = repo_copy
    before = _objects(path)
    repo = Repo(path)
    first = repack(repo)
    second = repack(repo)
    repo.close()
    assert second.pack == first.pack and second.removed_packs == []  # the same pack again
    assert _packs(path) == [first.pack + ".pack"]
    assert _objects(path) == before
    fsck(path)
    _check_bitmap(path)


def test_repack_then_git_adds_and_repacks(repo_copy):
    """Git works on with our pack: new commits, its own repack reading our files."""
    from puregit.repack import repack
    from puregit.repo import Repo
    path = repo_copy
    repo = Repo(path)
    repack(repo)
    repo.close()
    _commit(path, 100, {"after.txt": b"after our repack\n"})
    git("repack", "-adq", cwd=path)
    fsck(path)
    git("gc", "-q", cwd=path)
    fsck(path)


def _puregit(*args, cwd):
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    p = subprocess.run([sys.executable, "-m", "puregit", *args], cwd=cwd, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    return p


def test_gc_command(repo_copy):
    path = repo_copy
    before = _objects(path)
    _puregit("gc", cwd=os.path.join(path, "d0"))  # from a subdirectory, like git
    packs = _packs(path)
    assert len(packs) == 1 and os.path.exists(packs[0][:-5] + ".bitmap")
    assert _objects(path) == before and _pack_ids(packs[0]) == before
    fsck(path)
    _check_bitmap(path)


def test_repack_command(repo_copy):
    path = repo_copy
    before = _objects(path)
    _puregit("repack", "-a", "-d", cwd=path)
    packs = _packs(path)
    assert len(packs) == 1 and not os.path.exists(packs[0][:-5] + ".bitmap")
    assert _pack_ids(packs[0]) == before
    _puregit("repack", "-adb", cwd=path)
    packs = _packs(path)
    assert len(packs) == 1 and os.path.exists(packs[0][:-5] + ".bitmap")
    fsck(path)
    _check_bitmap(path)
