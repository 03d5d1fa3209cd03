"""The reference-transaction hook during a push, side by side with git's receive-pack."""

from __future__ import annotations

import re

import pytest
from helpers import git, git_ok, make_rich_repo
from helpers_server import serving, url

from puregit.backend import FileSystemBackend

HOOK = """#!/bin/sh
log="$(cat)"
printf '%s\\n%s\\n' "$1" "$log" >> ../refs-log
case "$1:$log" in
prepared:*refs/heads/blocked*) exit 1 ;;
esac
exit 0
"""


def _served_pair(tmp_path):
    src = tmp_path / "src"
    make_rich_repo(src)
    repos = {}
    for name in ("git", "puregit"):
        bare = tmp_path / name / "repo.git"
        git("init", "-q", "--bare", str(bare))
        hook = bare / "hooks" / "reference-transaction"
        hook.write_text(HOOK)
        hook.chmod(0o755)
        repos[name] = bare
    return src, repos


def _calls(log: str) -> list:
    """[(state, ref lines)] from the hook's log."""
    out = []
    for block in re.split(r"\n(?=prepared\n|committed\n|aborted\n)", log.strip()):
        state, _, lines = block.partition("\n")
        out.append((state, lines))
    return out


@pytest.mark.parametrize("atomic", [False, True])
def test_hook_sees_and_can_stop_ref_updates(tmp_path, atomic):
    src, repos = _served_pair(tmp_path)
    specs = ["main:refs/heads/fine", "main:refs/heads/blocked"]
    flags = ["--atomic"] if atomic else []
    git_ok("push", *flags, str(repos["git"]), *specs, cwd=src)   # git's receive-pack dies here
    with serving(FileSystemBackend(str(repos["puregit"].parent)),
                 enable_receive_pack=True) as srv:
        p = git_ok("push", "--porcelain", *flags, url(srv), *specs, cwd=src)
    # the same calls of the hook (prepared/committed/aborted, same lines), the same refs
    # (git commits a non-atomic push ref by ref; puregit prepares every ref, then
    # commits: the calls per ref and their order for that ref are the same)
    log = {name: _calls((repos[name].parent / "refs-log").read_text()) for name in repos}
    assert sorted(log["puregit"]) == sorted(log["git"])
    assert any(state == "aborted" for state, _ in log["git"])
    for state, lines in log["puregit"]:
        if state != "prepared":
            assert log["puregit"].index(("prepared", lines)) < log["puregit"].index((state, lines))
    assert git("for-each-ref", cwd=repos["puregit"]) == git("for-each-ref", cwd=repos["git"])
    # ... but the client hears why, where git's receive-pack hangs up on it
    out = p.stdout
    assert p.returncode != 0
    if atomic:
        assert out.count(b"(atomic transaction failed)") == 2
    else:
        assert b"*\trefs/heads/main:refs/heads/fine\t[new branch]" in out
        assert b"!\trefs/heads/main:refs/heads/blocked\t[remote rejected] (failed to update ref)" in out
