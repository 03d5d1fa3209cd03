"""receive.unpackLimit: small pushes become loose objects, as git's receive-pack makes them."""

from __future__ import annotations

import re

import pytest
from helpers import fsck, git, make_rich_repo
from helpers_server import serving, url

from puregit.backend import FileSystemBackend


def _counts(repo) -> dict:
    out = git("count-objects", "-v", cwd=repo).decode()
    return {k: int(v) for k, v in re.findall(r"^(count|in-pack|packs): (\d+)$", out, re.M)}


def _loose(repo) -> list:
    return sorted(p.parent.name + p.name for p in (repo / "objects").glob("??/*"))


@pytest.mark.parametrize("config", [None, ("receive.unpackLimit", "1"),
                                    ("transfer.unpackLimit", "5000")])
def test_small_pushes_are_unpacked_like_git(tmp_path, config):
    src = tmp_path / "src"
    make_rich_repo(src)
    repos = {}
    for name in ("git", "puregit"):
        repos[name] = tmp_path / name / "repo.git"
        git("init", "-q", "--bare", str(repos[name]))
        if config:
            git("config", *config, cwd=repos[name])
    with serving(FileSystemBackend(str(repos["puregit"].parent)),
                 enable_receive_pack=True) as srv:
        targets = {"git": str(repos["git"]), "puregit": url(srv)}
        for step in range(2):
            if step:   # a small follow-up push: a thin pack of a few objects
                (src / "small.txt").write_text("small change\n")
                git("add", "small.txt", cwd=src)
                git("commit", "-q", "-m", "small", cwd=src)
            for name, target in targets.items():
                git("push", "-q", target, "main", cwd=src)
            assert _counts(repos["puregit"]) == _counts(repos["git"]), step
            assert _loose(repos["puregit"]) == _loose(repos["git"]), step
    for repo in repos.values():
        fsck(repo)
