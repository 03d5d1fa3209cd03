"""Reflog lines and DiskRefsContainer's reflog writing, checked with real git."""

from __future__ import annotations

import io
import os
import subprocess

import pytest

from puregit.errors import RefFormatError
from puregit.reflog import (Entry, format_reflog_line, format_timezone, parse_reflog_line, parse_timezone,
                            read_reflog)
from puregit.refs import ZERO_SHA, DiskRefsContainer

A, B = b"a" * 40, b"b" * 40
WHO = b"C O Mitter <c@example.com>"


@pytest.fixture
def env(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    e = dict(os.environ, HOME=str(home), GIT_CONFIG_NOSYSTEM="1", XDG_CONFIG_HOME=str(home),
             GIT_AUTHOR_NAME="A U Thor", GIT_AUTHOR_EMAIL="a@example.com",
             GIT_COMMITTER_NAME="C O Mitter", GIT_COMMITTER_EMAIL="c@example.com")
    e.pop("GIT_DIR", None)
    return e


def git(env, cwd, *args) -> bytes:
    p = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True)
    assert p.returncode == 0, p.stderr.decode()
    return p.stdout


@pytest.fixture
def repo(env, tmp_path):
    path = tmp_path / "repo"
    git(env, tmp_path, "init", "-q", "-b", "main", str(path))
    git(env, path, "commit", "-q", "--allow-empty", "-m", "one")
    git(env, path, "commit", "-q", "--allow-empty", "-m", "two")
    return path


def test_format_and_parse_round_trip():
    line = format_reflog_line(A, B, WHO, 1700000000, -(5 * 3600 + 30 * 60), b"commit: hello")
    assert line == A + b" " + B + b" " + WHO + b" 1700000000 -0530\tcommit: hello\n"
    assert parse_reflog_line(line) == Entry(A, B, WHO, 1700000000, -19800, b"commit: hello")
    # no message: no tab; None ids become zeros
    line = format_reflog_line(None, A, WHO, 5, 3600, None)
    assert line == ZERO_SHA + b" " + A + b" " + WHO + b" 5 +0100\n"
    assert parse_reflog_line(line).message == b""
    # a message can never make a second line
    line = format_reflog_line(A, B, WHO, 5, 0, b"  multi\nline\n\tmessage  ")
    assert line.count(b"\n") == 1 and line.endswith(b"\tmulti line message\n")
    assert format_timezone(0) == b"+0000" and parse_timezone(b"-0000") == 0
    assert parse_timezone(b"+0945") == 9 * 3600 + 45 * 60
    sha256 = b"c" * 64
    assert parse_reflog_line(format_reflog_line(None, sha256, WHO, 1, 0, b"x")).old_sha == b"0" * 64


@pytest.mark.parametrize("junk", [b"", b"garbage", A + b" " + B + b" who 12 +0000",
                                  A + b" " + B + b" " + WHO + b" x +0000\tm", A + b" " + WHO + b" 1 +0000"])
def test_malformed_lines(junk):
    with pytest.raises(RefFormatError):
        parse_reflog_line(junk)


def test_read_reflogs_written_by_git(env, repo):
    git(env, repo, "checkout", "-q", "-b", "side")
    git(env, repo, "commit", "-q", "--allow-empty", "-m", "three\n\nbody")
    refs = DiskRefsContainer(repo / ".git")
    head_log = refs.read_reflog(b"HEAD")
    assert len(head_log) == 4
    expected = git(env, repo, "log", "-g", "--format=%H %gs", "HEAD").splitlines()[::-1]
    assert [e.new_sha + b" " + e.message for e in head_log] == expected
    assert head_log[0].old_sha == ZERO_SHA
    assert all(e.committer == WHO for e in head_log)
    with open(repo / ".git" / "logs" / "refs" / "heads" / "side", "rb") as f:
        assert [e.new_sha for e in read_reflog(f)] == [e.new_sha for e in refs.read_reflog("refs/heads/side")]
    assert refs.read_reflog(b"refs/heads/none") == []


def test_updates_write_reflogs_git_understands(env, repo):
    refs = DiskRefsContainer(repo / ".git")
    one = git(env, repo, "rev-parse", "HEAD~1").strip()
    two = git(env, repo, "rev-parse", "HEAD").strip()
    assert refs.set_if_equals(b"HEAD", two, one, committer=WHO, timestamp=1700000000, timezone=7200,
                              message=b"reset: moving to HEAD~1")
    for ref in ("HEAD", "main"):
        out = git(env, repo, "reflog", "show", "--format=%H %gs", ref).splitlines()
        assert out[0] == one + b" reset: moving to HEAD~1"
    last = refs.read_reflog(b"refs/heads/main")[-1]
    assert last == Entry(two, one, WHO, 1700000000, 7200, b"reset: moving to HEAD~1")
    # new branches get a reflog (core.logAllRefUpdates), tags do not unless one exists
    refs.add_if_new(b"refs/heads/topic", two, committer=WHO, message=b"branch: Created")
    refs.add_if_new(b"refs/tags/t", two, committer=WHO, message=b"tagged")
    assert git(env, repo, "reflog", "show", "--format=%gs", "topic") == b"branch: Created\n"
    assert not (repo / ".git" / "logs" / "refs" / "tags" / "t").exists()
    # without a committer nothing is logged
    refs.set_if_equals(b"refs/heads/topic", None, one)
    assert len(refs.read_reflog(b"refs/heads/topic")) == 1
    # no reflog when disabled, unless the log already exists
    quiet = DiskRefsContainer(repo / ".git", log_all_ref_updates=False)
    quiet.add_if_new(b"refs/heads/q", two, committer=WHO, message=b"q")
    assert quiet.read_reflog(b"refs/heads/q") == []
    quiet.set_if_equals(b"refs/heads/topic", None, two, committer=WHO, message=b"kept")
    assert quiet.read_reflog(b"refs/heads/topic")[-1].message == b"kept"
    # deleting a ref deletes its reflog, like git
    refs.remove_if_equals(b"refs/heads/topic", None)
    assert not (repo / ".git" / "logs" / "refs" / "heads" / "topic").exists()
    git(env, repo, "fsck", "--no-dangling")


def test_read_reflog_file_object():
    data = format_reflog_line(None, A, WHO, 1, 0, b"one") + b"\n" + format_reflog_line(A, B, WHO, 2, 0, b"two")
    assert [e.message for e in read_reflog(io.BytesIO(data))] == [b"one", b"two"]
