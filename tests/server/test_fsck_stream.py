"""puregit.fsck_stream: checking a tree against its clean delta base finds exactly what
the full check finds; and a hostile tree deltified against a clean one is refused on push."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import pytest
from hypothesis import given, settings, strategies as st

from helpers import git

from puregit.delta import delta_copy_runs
from puregit.delta_create import create_delta
from puregit.fsck import FsckPolicy, check_tree
from puregit.fsck_stream import StreamFsck

BLOB_MODE, DIR_MODE = b"100644", b"40000"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def body_of(entries) -> bytes:
    return b"".join(m + b" " + n + b"\0" + s for m, n, s in entries)


def sha(i) -> bytes:
    return hashlib.sha1(b"%d" % i).digest()


def key(e) -> bytes:
    return e[1] + b"/" if e[0] in (DIR_MODE, b"040000") else e[1]


def clean_base(n: int) -> list:
    names = [b"f%03d" % i for i in range(n)] + [b"a", b"a.c", b"b", b"lib"]
    entries = [(DIR_MODE if name in (b"b", b"lib") else BLOB_MODE, name, sha(i))
               for i, name in enumerate(names)]
    return sorted(entries, key=key)


def run_pair(base_entries, target_entries, strict=True):
    """(fatal ids of the target by StreamFsck, by the full check, references, used delta path)."""
    base, target = body_of(base_entries), body_of(target_entries)
    refs: set = set()
    policy = FsckPolicy(strict)
    chk = StreamFsck(policy, 20, refs)
    chk(0, 2, base, b"\1" * 20)
    assert chk.fatal == []
    chk(1, 2, target, b"\2" * 20, 0, delta_copy_runs(create_delta(base, target)))
    streamed = sorted(p.msg_id for _, p in chk.fatal)
    full = sorted(p.msg_id for p in check_tree(target).problems if policy.is_fatal(p))
    return streamed, full, refs, chk.stats["trees_against_base"] == 1


_NAMES = [b"a", b"a.c", b"a-b", b"a/x", b"b", b"b.h", b".git", b".GIT", b"git~1", b"..", b".",
          b"f001", b"f002", b"zz", b".gitmodules", b"c ", b"c.", b"\xe2\x80\x8c.git", b"lib",
          b"lib.h", b"lib0"]
_MODES = [BLOB_MODE, DIR_MODE, b"100755", b"120000", b"160000", b"040000", b"100664"]

_edit = st.one_of(
    st.tuples(st.just("insert"), st.sampled_from(_NAMES), st.sampled_from(_MODES),
              st.booleans()),
    st.tuples(st.just("delete"), st.integers(0, 200)),
    st.tuples(st.just("change"), st.integers(0, 200), st.sampled_from(_MODES + [None])),
    st.tuples(st.just("swap"), st.integers(0, 200)),
    st.tuples(st.just("repeat"), st.integers(0, 200)),
    st.tuples(st.just("null"), st.integers(0, 200)),
)


@settings(max_examples=400, deadline=None)
@given(st.integers(0, 40), st.lists(_edit, min_size=1, max_size=4))
def test_against_base_agrees_with_full_check(n, edits):
    base = clean_base(n)
    target = list(base)
    for edit in edits:
        kind = edit[0]
        if kind == "insert":
            _, name, mode, keep_sorted = edit
            target.append((mode, name, sha(len(target) + 1000)))
            if keep_sorted:
                target.sort(key=key)
            continue
        i = edit[1] % len(target) if target else None
        if i is None:
            continue
        if kind == "delete":
            del target[i]
        elif kind == "change":
            m, name, _ = target[i]
            target[i] = (edit[2] or m, name, sha(i + 5000))
        elif kind == "swap" and i + 1 < len(target):
            target[i], target[i + 1] = target[i + 1], target[i]
        elif kind == "repeat":
            target.insert(i, target[i])
        elif kind == "null":
            target[i] = (target[i][0], target[i][1], b"\0" * 20)
    streamed, full, refs, _ = run_pair(base, target)
    assert streamed == full
    if not full:
        wanted = {s for m, _, s in target if m != b"160000"}
        assert wanted <= refs


@pytest.mark.parametrize("extra,problem", [
    ((DIR_MODE, b".git"), "hasDotgit"),
    ((BLOB_MODE, b"a"), "duplicateEntries"),       # same key as an existing file
    ((DIR_MODE, b"a"), "duplicateEntries"),        # file "a" and directory "a"
    ((BLOB_MODE, b"lib"), "duplicateEntries"),     # directory "lib" and file "lib"
    ((BLOB_MODE, b".."), "hasDotdot"),
    ((BLOB_MODE, b"x/y"), "fullPathname"),
])
def test_hostile_entry_in_a_delta(extra, problem):
    base = clean_base(60)
    target = sorted(base + [(extra[0], extra[1], sha(999))], key=key)
    streamed, full, _, _ = run_pair(base, target)
    assert problem in streamed and streamed == full


def test_clean_change_takes_the_delta_path():
    base = clean_base(60)
    target = list(base)
    target[10] = (target[10][0], target[10][1], sha(12345))
    target = sorted(target + [(BLOB_MODE, b"new", sha(777))], key=key)
    streamed, full, refs, via_delta = run_pair(base, target)
    assert streamed == full == [] and via_delta
    assert sha(12345) in refs and sha(777) in refs


def test_unclean_base_means_full_check():
    base = clean_base(30) + [(BLOB_MODE, b"zzz", b"\0" * 20)]   # nullSha1 in the base
    base_body = body_of(base)
    chk = StreamFsck(FsckPolicy(True), 20, set())
    chk(0, 2, base_body, b"\1" * 20)
    assert [p.msg_id for _, p in chk.fatal] == ["nullSha1"]
    target = body_of(base + [(BLOB_MODE, b"zzzz", sha(1))])
    chk(1, 2, target, b"\2" * 20, 0, delta_copy_runs(create_delta(base_body, target)))
    assert chk.stats["trees_against_base"] == 0
    assert [p.msg_id for _, p in chk.fatal] == ["nullSha1", "nullSha1"]


# --- through the indexer and a real push ------------------------------------------

def _tree(repo, entries) -> str:
    return git("hash-object", "-t", "tree", "-w", "--literally", "--stdin", cwd=repo,
               input=body_of(entries)).strip().decode()


@pytest.mark.parametrize("hostile", [(DIR_MODE, b".git"), (DIR_MODE, b"f010")])
def test_push_of_hostile_tree_deltified_against_clean_tree(tmp_path, hostile):
    work = tmp_path / "work"
    server = tmp_path / "server.git"
    git("init", "-q", "-b", "main", str(work))
    git("init", "-q", "--bare", "-b", "main", str(server))
    blobs = [git("hash-object", "-w", "--stdin", cwd=work, input=b"%d\n" % i).strip().decode()
             for i in range(80)]
    sub = _tree(work, [(BLOB_MODE, b"x", bytes.fromhex(blobs[0]))])
    entries = sorted([(BLOB_MODE, b"f%03d" % i, bytes.fromhex(b)) for i, b in enumerate(blobs)],
                     key=key)
    clean = _tree(work, entries)
    # smaller than the clean tree, so that git makes it the delta and the clean one the base
    bad = _tree(work, sorted(entries[:-3] + [(hostile[0], hostile[1], bytes.fromhex(sub))],
                             key=key))
    c1 = git("commit-tree", clean, "-m", "clean", cwd=work).strip().decode()
    c2 = git("commit-tree", bad, "-p", c1, "-m", "bad", cwd=work).strip().decode()
    git("update-ref", "refs/heads/main", c2, cwd=work)
    # The hostile tree must travel as a delta of the clean one for this test to mean anything.
    pack = git("pack-objects", "--stdout", "-q", "--revs", cwd=work, input=b"refs/heads/main\n")
    (tmp_path / "p.pack").write_bytes(pack)
    git("index-pack", "-o", str(tmp_path / "p.idx"), str(tmp_path / "p.pack"), cwd=work)
    verify = git("verify-pack", "-v", str(tmp_path / "p.idx"), cwd=work).decode()
    assert any(line.startswith(bad) and len(line.split()) >= 7 for line in verify.splitlines())

    before = sorted(p.name for p in (server / "objects").rglob("*"))
    rp = tmp_path / "rp"
    rp.write_text("#!/bin/sh\nexec %s -c 'import sys; sys.path.insert(0, \"%s\"); "
                  "from puregit.receive_pack import main; sys.exit(main(sys.argv[1:]))' \"$@\"\n"
                  % (sys.executable, ROOT))
    rp.chmod(0o755)
    p = subprocess.run(["git", "push", f"--receive-pack={rp}", str(server), "main"], cwd=work,
                       capture_output=True)
    assert p.returncode != 0
    expected = b"hasDotgit" if hostile[1] == b".git" else b"duplicateEntries"
    assert expected in p.stderr, p.stderr
    assert sorted(p.name for p in (server / "objects").rglob("*")) == before
    assert git("for-each-ref", cwd=server) == b""
