"""Identical clones running at the same time share one plan, and nothing stays behind."""

from __future__ import annotations

import subprocess
import threading
import time

from helpers import fsck, git, make_rich_repo
from helpers_server import serving, url

from puregit import clone_memo, upload_pack
from puregit.backend import FileSystemBackend


def _mirror_with_a_pull_ref(tmp_path):
    """A packed mirror with a ref a clone does not fetch: a clone is not one whole pack."""
    src = tmp_path / "src"
    make_rich_repo(src)
    bare = tmp_path / "root" / "repo.git"
    git("clone", "-q", "--mirror", str(src), str(bare))
    tree = git("rev-parse", "HEAD^{tree}", cwd=bare).strip().decode()
    extra = git("commit-tree", tree, "-m", "pull request", cwd=bare).strip().decode()
    git("update-ref", "refs/pull/1/head", extra, cwd=bare)
    git("repack", "-adq", cwd=bare)
    return bare, extra


def test_concurrent_identical_clones_share_one_walk(tmp_path, monkeypatch):
    bare, extra = _mirror_with_a_pull_ref(tmp_path)

    calls = []
    real_plan = upload_pack.PackSender._plan

    def slow_plan(self, whole=True):
        calls.append(threading.get_ident())
        time.sleep(1.0)   # long enough for the other clones to queue behind it
        return real_plan(self, whole)

    monkeypatch.setattr(upload_pack.PackSender, "_plan", slow_plan)
    with serving(FileSystemBackend(str(bare.parent))) as srv:
        dests = [tmp_path / f"c{i}" for i in range(4)]
        procs = [subprocess.Popen(["git", "clone", "-q", "--bare", url(srv), str(d)],
                                  stderr=subprocess.PIPE) for d in dests]
        errors = [p.communicate()[1] for p in procs]
        assert [p.returncode for p in procs] == [0, 0, 0, 0], errors
    assert len(calls) == 1
    assert clone_memo._INFLIGHT == {}
    for d in dests:
        fsck(d)
        assert git("rev-parse", "HEAD", cwd=d) == git("rev-parse", "HEAD", cwd=bare)
        assert b"refs/pull" not in git("for-each-ref", cwd=d)
    # the commit only refs/pull/1/head reaches was not sent
    assert subprocess.run(["git", "cat-file", "-e", extra], cwd=dests[0]).returncode != 0


def test_a_repeated_big_clone_reuses_the_walk(tmp_path, monkeypatch):
    """The second clone of the same refs sends the same objects without walking again."""
    bare, extra = _mirror_with_a_pull_ref(tmp_path)
    monkeypatch.setattr(upload_pack, "DELTA_SEARCH_MAX_OBJECTS", 0)   # "big" from one object
    monkeypatch.setattr(clone_memo, "_WALKS", clone_memo.OrderedDict())
    monkeypatch.setattr(clone_memo, "_walk_bytes", 0)
    calls = []
    real_plan = upload_pack.PackSender._plan
    monkeypatch.setattr(upload_pack.PackSender, "_plan",
                        lambda self, whole=True: calls.append(1) or real_plan(self, whole))
    with serving(FileSystemBackend(str(bare.parent))) as srv:
        for i in range(2):
            git("clone", "-q", "--bare", url(srv), str(tmp_path / f"c{i}"))
    assert len(calls) == 1 and len(clone_memo._WALKS) == 1
    listed = [sorted(git("cat-file", "--batch-all-objects", "--batch-check",
                         cwd=tmp_path / f"c{i}").split(b"\n")) for i in range(2)]
    assert listed[0] == listed[1]
    for i in range(2):
        fsck(tmp_path / f"c{i}")
        assert subprocess.run(["git", "cat-file", "-e", extra],
                              cwd=tmp_path / f"c{i}").returncode != 0


def test_remembered_walks_stay_within_their_budget(monkeypatch):
    monkeypatch.setattr(clone_memo, "_WALKS", clone_memo.OrderedDict())
    monkeypatch.setattr(clone_memo, "_walk_bytes", 0)
    monkeypatch.setattr(clone_memo, "WALKS_MAX_BYTES", 1000)
    items = [(b"%040x" % i, 1 + i % 3, b"path") for i in range(10)]   # 410 bytes kept
    clone_memo.remember_walk("a", items)
    assert clone_memo.walked("a") == [(i, t, None) for i, t, _ in items]
    clone_memo.remember_walk("b", items)
    clone_memo.remember_walk("c", items)          # over 1000 bytes: "a" goes
    assert clone_memo.walked("a") is None and clone_memo.walked("c") is not None
    assert clone_memo._walk_bytes == 820
    clone_memo.remember_walk("big", items * 2)    # more than half the budget: not kept
    assert clone_memo.walked("big") is None
    clone_memo.forget("c")
    assert clone_memo.walked("c") is None and clone_memo._walk_bytes == 410
