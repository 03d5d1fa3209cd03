"""``puregit clone|fetch|push|ls-remote|add|commit`` end to end against git daemon."""

from __future__ import annotations

import os
import subprocess
import sys

from client_servers import daemon, refs_of  # noqa: F401
from helpers import fsck, git

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def puregit(*args, cwd=None, check=True):
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    p = subprocess.run([sys.executable, "-m", "puregit", *args], cwd=cwd, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if check:
        assert p.returncode == 0, p.stderr.decode(errors="replace")
    return p


def test_cli_round_trip(daemon, tmp_path):
    src = os.path.join(daemon.base, "cli.git")
    work = str(tmp_path / "seed")
    git("init", "-q", "-b", "main", work)
    with open(os.path.join(work, "a.txt"), "w") as f:
        f.write("a\n")
    git("add", ".", cwd=work)
    git("commit", "-q", "-m", "a", cwd=work)
    git("clone", "-q", "--bare", work, src)
    url = daemon.url("cli.git")

    p = puregit("clone", "--progress", url, str(tmp_path / "c"))
    assert b"Receiving objects: 100% (3/3)" in p.stderr
    c = str(tmp_path / "c")
    fsck(c)
    with open(os.path.join(c, "b.txt"), "w") as f:
        f.write("b\n")
    puregit("add", "b.txt", cwd=c)
    p = puregit("commit", "-m", "add b", cwd=c)
    assert p.stdout.startswith(b"[main ")
    p = puregit("push", "origin", "main", cwd=c)
    assert refs_of(src)[b"refs/heads/main"] == refs_of(c)[b"refs/heads/main"]
    fsck(src)

    p = puregit("ls-remote", url)
    lines = p.stdout.splitlines()
    assert lines[0].endswith(b"\tHEAD")
    assert any(line.endswith(b"\trefs/heads/main") for line in lines)

    # a non-fast-forward push fails with git's wording and exit status
    other = str(tmp_path / "other")
    puregit("clone", "-q", "--depth", "1", url, other)
    git("commit", "-q", "--allow-empty", "-m", "x", cwd=other)
    git("commit", "-q", "--allow-empty", "-m", "y", cwd=c)
    puregit("push", "-q", cwd=c)
    p = puregit("push", "origin", "main", cwd=other, check=False)
    assert p.returncode == 1
    assert b"[rejected]" in p.stderr
    puregit("fetch", "-q", cwd=other)
    assert refs_of(other)[b"refs/remotes/origin/main"] == refs_of(src)[b"refs/heads/main"]
    p = puregit("push", "-f", "origin", "main", cwd=other)
    assert refs_of(src)[b"refs/heads/main"] == refs_of(other)[b"refs/heads/main"]

    bare = str(tmp_path / "m.git")
    puregit("clone", "-q", "--mirror", url, bare)
    assert refs_of(bare) == refs_of(src)
