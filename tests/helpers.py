"""Shared helpers for tests that drive the real ``git`` binary."""

from __future__ import annotations

import os
import subprocess

GIT_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "Ada Author",
    "GIT_AUTHOR_EMAIL": "ada@example.com",
    "GIT_COMMITTER_NAME": "Carl Committer",
    "GIT_COMMITTER_EMAIL": "carl@example.com",
    "GIT_AUTHOR_DATE": "1700000000 +0100",
    "GIT_COMMITTER_DATE": "1700000100 +0100",
    "LC_ALL": "C",
}


def git(*args, cwd=None, input: bytes | None = None, env: dict | None = None,
        check: bool = True) -> bytes:
    """Run git and return its stdout; raise with stderr on failure."""
    full_env = dict(os.environ)
    full_env.update(GIT_ENV)
    if env:
        full_env.update(env)
    p = subprocess.run(["git", *args], cwd=cwd, input=input, env=full_env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if check and p.returncode != 0:
        raise AssertionError(f"git {' '.join(map(str, args))} failed ({p.returncode}):\n"
                             f"{p.stderr.decode(errors='replace')}")
    return p.stdout


def git_ok(*args, cwd=None, env=None) -> subprocess.CompletedProcess:
    full_env = dict(os.environ)
    full_env.update(GIT_ENV)
    if env:
        full_env.update(env)
    return subprocess.run(["git", *args], cwd=cwd, env=full_env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def fsck(path) -> None:
    """Assert that ``git fsck --full --strict`` is clean for the repository at path."""
    p = git_ok("fsck", "--full", "--strict", "--no-dangling", cwd=path)
    assert p.returncode == 0, p.stderr.decode(errors="replace") + p.stdout.decode(errors="replace")
    assert b"error" not in p.stderr and b"warning" not in p.stderr, p.stderr.decode(errors="replace")


SIG = (b"-----BEGIN PGP SIGNATURE-----\n\niQEzBAABCAAdFiEEfakefakefakefakefakefakefakeFAKE=\n"
       b"=ABCD\n-----END PGP SIGNATURE-----")


def make_rich_repo(path, object_format: str = "sha1") -> dict:
    """A repository made by real git with every unusual object we must read."""
    path = str(path)
    git("init", "-q", f"--object-format={object_format}", "-b", "main", path)
    w = lambda name, data, mode=None: _write(path, name, data, mode)
    w("README", b"hello\n")
    w("bin/run.sh", b"#!/bin/sh\necho hi\n", 0o755)
    os.symlink("README", os.path.join(path, "link"))
    git("add", ".", cwd=path)
    git("commit", "-q", "-m", "first", cwd=path)
    first = git("rev-parse", "HEAD", cwd=path).strip()
    # a gitlink (submodule entry without .gitmodules is fine for the index)
    git("update-index", "--add", "--cacheinfo", f"160000,{first.decode()},sub", cwd=path)
    git("commit", "-q", "-m", "add gitlink", cwd=path)
    git("rm", "-q", "--cached", "sub", cwd=path)
    git("commit", "-q", "-m", "drop gitlink", cwd=path)
    # a branch and a merge
    git("checkout", "-q", "-b", "side", cwd=path)
    w("side.txt", b"side\n")
    git("add", ".", cwd=path)
    git("commit", "-q", "-m", "on side", cwd=path)
    git("checkout", "-q", "main", cwd=path)
    w("main.txt", b"main\n")
    git("add", ".", cwd=path)
    git("commit", "-q", "-m", "on main", cwd=path)
    git("merge", "-q", "--no-ff", "-m", "merge side", "side", cwd=path)
    # tags: lightweight, annotated, tag of a tag, tag of a tree and a blob
    git("tag", "light", cwd=path)
    git("tag", "-a", "-m", "annotated\n\nwith body", "v1.0", cwd=path)
    git("tag", "-a", "-m", "nested", "v1.0-nested", "v1.0", cwd=path)
    tree = git("rev-parse", "HEAD^{tree}", cwd=path).strip().decode()
    git("tag", "-a", "-m", "a tree", "tree-tag", tree, cwd=path)
    blob = git("rev-parse", "HEAD:README", cwd=path).strip().decode()
    git("tag", "-a", "-m", "a blob", "blob-tag", blob, cwd=path)
    head = git("rev-parse", "HEAD", cwd=path).strip()
    # a non-UTF-8 commit with an encoding header
    body = (b"tree " + tree.encode() + b"\nparent " + head + b"\n"
            b"author Ada Author <ada@example.com> 1700000200 -0000\n"
            b"committer Carl Committer <carl@example.com> 1700000300 +1400\n"
            b"encoding ISO-8859-1\n\ncaf\xe9 latin-1 message\n")
    c1 = git("hash-object", "-t", "commit", "-w", "--stdin", cwd=path, input=body).strip()
    # a commit with gpgsig (multi-line header) and a mergetag
    tag_body = git("cat-file", "tag", "v1.0", cwd=path)
    signed_tag = tag_body + SIG + b"\n"
    mergetag = b"mergetag " + signed_tag[:-1].replace(b"\n", b"\n ") + b"\n"
    body = (b"tree " + tree.encode() + b"\nparent " + c1 + b"\nparent " + head + b"\n"
            b"author Ada Author <ada@example.com> 1700000400 +0530\n"
            b"committer Carl Committer <carl@example.com> 1700000500 -0800\n"
            + mergetag +
            b"gpgsig " + SIG.replace(b"\n", b"\n ") + b"\n\nsigned merge\n")
    c2 = git("hash-object", "-t", "commit", "-w", "--stdin", cwd=path, input=body).strip()
    # an empty-tree commit
    empty = git("hash-object", "-t", "tree", "-w", "--stdin", cwd=path, input=b"").strip()
    body = (b"tree " + empty + b"\nparent " + c2 + b"\n"
            b"author Ada Author <ada@example.com> 1700000600 +0000\n"
            b"committer Carl Committer <carl@example.com> 1700000700 +0000\n\nempty tree\n")
    c3 = git("hash-object", "-t", "commit", "-w", "--stdin", cwd=path, input=body).strip()
    git("update-ref", "refs/heads/main", c3.decode(), cwd=path)
    git("reset", "-q", "--hard", cwd=path)
    return {"first": first, "merge": head, "latin1": c1, "signed": c2, "empty": c3}


def _write(root, name, data, mode=None):
    full = os.path.join(root, name)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "wb") as f:
        f.write(data)
    if mode:
        os.chmod(full, mode)


def all_object_ids(path) -> list[bytes]:
    out = git("cat-file", "--batch-all-objects", "--batch-check=%(objectname)", cwd=path)
    return out.split()


def git_runner(home) -> "callable":
    """A ``git(*args, cwd=None, input=None) -> stdout`` bound to an isolated HOME.

    For module-scoped fixtures, which run before the per-test environment of
    conftest.py is in place; fixed identities and dates keep ids stable.
    """
    env = dict(os.environ, HOME=str(home), GIT_CONFIG_NOSYSTEM="1",
               GIT_AUTHOR_NAME="A U Thor", GIT_AUTHOR_EMAIL="author@example.com",
               GIT_COMMITTER_NAME="C O Mitter", GIT_COMMITTER_EMAIL="committer@example.com",
               GIT_AUTHOR_DATE="1700000000 +0000", GIT_COMMITTER_DATE="1700000000 +0000")
    env.pop("GIT_DIR", None)

    def run(*args, cwd=None, input=None) -> bytes:
        return subprocess.run(["git", *args], cwd=cwd, env=env, input=input, check=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE).stdout
    return run


BENCHDATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared",
                         "benchdata")
