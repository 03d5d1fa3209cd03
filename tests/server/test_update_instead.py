"""receive.denyCurrentBranch=updateInstead, side by side with git's own receive-pack."""

from __future__ import annotations

import os
import re

import pytest
from helpers import git, git_ok
from helpers_server import serving, url

from puregit.backend import FileSystemBackend


def _target(tmp_path, name: str):
    """A non-bare repository with one commit, checked out, set to updateInstead."""
    path = tmp_path / name
    git("init", "-q", "-b", "main", str(path))
    (path / "keep.txt").write_text("keep\n")
    (path / "edit.txt").write_text("before\n")
    (path / "gone.txt").write_text("to be deleted\n")
    git("add", "-A", ".", cwd=path)
    git("commit", "-q", "-m", "base", cwd=path)
    git("config", "receive.denyCurrentBranch", "updateInstead", cwd=path)
    return path


def _work(tmp_path, source):
    work = tmp_path / "work"
    if not work.exists():
        git("clone", "-q", str(source), str(work))
        (work / "edit.txt").write_text("after\n")
        (work / "gone.txt").unlink()
        os.makedirs(work / "new" / "dir")
        (work / "new" / "dir" / "file.txt").write_text("new file\n")
        (work / "run.sh").write_text("#!/bin/sh\necho hi\n")
        os.chmod(work / "run.sh", 0o755)
        os.symlink("keep.txt", work / "link")
        git("add", "-A", ".", cwd=work)
        git("commit", "-q", "-m", "change", cwd=work)
    return work


def _reason(stderr: bytes):
    m = re.search(rb"\[remote rejected\] main -> main \((.*)\)", stderr)
    return m.group(1) if m else None


def _both(tmp_path, prepare):
    """Push the same commit into a git-served and a puregit-served copy; (results, repos)."""
    ours_root = tmp_path / "root"
    ours_root.mkdir()
    theirs = _target(tmp_path, "theirs")
    ours = _target(ours_root, "ours")
    git("fetch", "-q", str(theirs), "main", cwd=ours)   # same base commit in both
    git("reset", "-q", "--hard", "FETCH_HEAD", cwd=ours)
    work = _work(tmp_path, theirs)
    for repo in (theirs, ours):
        prepare(repo)
    results = {}
    p = git_ok("push", str(theirs), "main", cwd=work)
    results["git"] = (p.returncode, _reason(p.stderr))
    with serving(FileSystemBackend(str(ours_root)), enable_receive_pack=True) as srv:
        p = git_ok("push", url(srv, "/ours"), "main", cwd=work)
    results["puregit"] = (p.returncode, _reason(p.stderr))
    return results, theirs, ours, work


def _tree_state(repo) -> dict:
    out = {}
    for dirpath, dirs, files in os.walk(repo):
        dirs[:] = [d for d in dirs if d != ".git"]
        for f in files + [d for d in dirs if os.path.islink(os.path.join(dirpath, d))]:
            full = os.path.join(dirpath, f)
            rel = os.path.relpath(full, repo)
            if os.path.islink(full):
                out[rel] = ("link", os.readlink(full))
            else:
                with open(full, "rb") as fh:
                    out[rel] = (os.stat(full).st_mode & 0o111 != 0, fh.read())
    return out


def test_a_clean_checkout_follows_the_push(tmp_path):
    results, theirs, ours, work = _both(tmp_path, lambda repo: None)
    assert results["puregit"] == results["git"] == (0, None)
    assert _tree_state(ours) == _tree_state(theirs)
    assert git("status", "--porcelain", cwd=ours) == b""
    assert git("rev-parse", "HEAD", cwd=ours) == git("rev-parse", "HEAD", cwd=work)
    assert git("diff", "--cached", "--quiet", "HEAD", cwd=ours) == b""


def _unstaged(repo):
    (repo / "keep.txt").write_text("locally edited\n")


def _staged(repo):
    (repo / "extra.txt").write_text("staged\n")
    git("add", "extra.txt", cwd=repo)


def _untracked_in_the_way(repo):
    os.makedirs(repo / "new" / "dir")
    (repo / "new" / "dir" / "file.txt").write_text("untracked, would be overwritten\n")


@pytest.mark.parametrize("prepare", [_unstaged, _staged, _untracked_in_the_way])
def test_a_dirty_checkout_refuses_like_git(tmp_path, prepare):
    results, theirs, ours, work = _both(tmp_path, prepare)
    assert results["git"][0] != 0
    assert results["puregit"] == results["git"]
    before = git("rev-parse", "HEAD", cwd=theirs)
    assert git("rev-parse", "HEAD", cwd=ours) == before      # the branch did not move
    assert _tree_state(ours) == _tree_state(theirs)          # nor did the files


@pytest.mark.parametrize("status", [0, 1])
def test_a_push_to_checkout_hook_decides_instead(tmp_path, status):
    def hook(repo):
        h = repo / ".git" / "hooks" / "push-to-checkout"
        h.write_text(f"#!/bin/sh\necho \"$1\" > ../hook-saw\nexit {status}\n")
        h.chmod(0o755)
    results, theirs, ours, work = _both(tmp_path, hook)
    assert results["puregit"] == results["git"]
    new = git("rev-parse", "HEAD", cwd=work).strip()
    assert (tmp_path / "root" / "hook-saw").read_bytes().strip() == new   # ran in the work tree
    moved = git("rev-parse", "main", cwd=ours).strip() == new
    assert moved == (status == 0)
    assert _tree_state(ours).get("edit.txt") == (False, b"before\n")   # the hook's job, not ours


def test_an_unborn_branch_is_checked_out(tmp_path):
    root = tmp_path / "root"
    ours = root / "ours"
    git("init", "-q", "-b", "main", str(ours))
    git("config", "receive.denyCurrentBranch", "updateInstead", cwd=ours)
    (ours / "untracked-elsewhere.txt").write_text("not in the way\n")
    src = _target(tmp_path, "src")
    with serving(FileSystemBackend(str(root)), enable_receive_pack=True) as srv:
        p = git_ok("push", url(srv, "/ours"), "main", cwd=src)
    assert p.returncode == 0, p.stderr
    assert git("status", "--porcelain", cwd=ours) == b"?? untracked-elsewhere.txt\n"
    assert (ours / "edit.txt").read_text() == "before\n"


def _untracked_symlink_to_a_directory(repo):
    outside = repo.parent / f"outside-{repo.name}"
    outside.mkdir()
    os.symlink(outside, repo / "new")      # the push brings new/dir/file.txt


def test_an_untracked_symlink_is_not_written_through(tmp_path):
    results, theirs, ours, work = _both(tmp_path, _untracked_symlink_to_a_directory)
    assert results["git"][0] != 0 and results["puregit"] == results["git"]
    assert os.listdir(tmp_path / "root" / "outside-ours") == []
