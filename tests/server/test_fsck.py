"""puregit.fsck: pure object checks, compared with ``git fsck`` where git has an opinion."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings, strategies as st

from helpers import git, git_ok

from puregit.fsck import (
    FsckPolicy, Problem, check_commit, check_gitattributes, check_gitmodules, check_ident,
    check_object, check_submodule_name, check_submodule_url, check_tag, check_tree,
    is_dotgit_name, is_gitmodules_name, is_hfs_dotgit, is_ntfs_dotgit,
)

BLOB = bytes.fromhex("e69de29bb2d1d6434b8b29ae775a8c2e48c5391d")   # the empty blob
TREE = bytes.fromhex("4b825dc642cb6eb9a060e54bf8d69288fbee4904")   # the empty tree


def tree_body(entries) -> bytes:
    return b"".join(mode + b" " + name + b"\0" + sha for mode, name, sha in entries)


def ids(problems) -> set:
    return {p.msg_id for p in problems}


# --- names ------------------------------------------------------------------------

@pytest.mark.parametrize("name", [b".git", b".GIT", b".Git", b"git~1", b"GIT~1", b".git.",
                                  b".git. ", b".git::$INDEX_ALLOCATION", b".g\xe2\x80\x8cit",
                                  b"\xef\xbb\xbf.git", b"x\\.git", b".git\\x"])
def test_dotgit_aliases(name):
    assert is_dotgit_name(name)


@pytest.mark.parametrize("name", [b".gitx", b"git", b".gi", b"git~2", b".git.foo", b"a.git",
                                  b".\xc5\x87it", b"\xff.git", b"..git"])
def test_not_dotgit(name):
    assert not is_dotgit_name(name)


def test_gitmodules_aliases():
    for name in (b".gitmodules", b".GITMODULES", b"gitmod~1", b".gitmodules ", b".gitmodules."):
        assert is_gitmodules_name(name), name
    assert not is_gitmodules_name(b".gitmodulesx")
    assert is_hfs_dotgit(b".g\xe2\x80\x8dit") and not is_ntfs_dotgit(b".g\xe2\x80\x8dit")


# --- trees ------------------------------------------------------------------------

@pytest.mark.parametrize("entries,expected", [
    ([(b"100644", b".git", BLOB)], {"hasDotgit"}),
    ([(b"40000", b"..", TREE)], {"hasDotdot"}),
    ([(b"40000", b".", TREE)], {"hasDot"}),
    ([(b"100644", b"a/b", BLOB)], {"fullPathname"}),
    ([(b"100644", b"", BLOB)], {"emptyName"}),
    ([(b"100644", b"a", bytes(20))], {"nullSha1"}),
    ([(b"0100644", b"a", BLOB)], {"zeroPaddedFilemode"}),
    ([(b"100664", b"a", BLOB)], {"badFilemode"}),
    ([(b"100644", b"a", BLOB), (b"100644", b"a", BLOB)], {"duplicateEntries"}),
    ([(b"100644", b"b", BLOB), (b"100644", b"a", BLOB)], {"treeNotSorted"}),
    ([(b"100644", b"a", BLOB), (b"40000", b"a", TREE)], {"duplicateEntries"}),
    ([(b"120000", b".gitmodules", BLOB)], {"gitmodulesSymlink"}),
    ([(b"100644", b"a", BLOB), (b"40000", b"b", TREE)], set()),
])
def test_tree_problems(entries, expected):
    assert ids(check_tree(tree_body(entries)).problems) == expected


def test_tree_garbage_never_raises():
    for body in (b"100644 a", b"100644 a\0short", b"xyz a\0" + BLOB, b"1006448 a\0" + BLOB):
        assert ids(check_tree(body).problems) == {"badTree"}


def test_tree_reports_gitmodules_blobs():
    res = check_tree(tree_body([(b"100644", b".gitmodules", BLOB), (b"100644", b".gitattributes", BLOB)]))
    assert res.gitmodules == [BLOB.hex().encode()] and res.gitattributes == [BLOB.hex().encode()]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_tree_checker_total(body):
    check_tree(body)
    check_commit(body)
    check_tag(body)
    check_gitmodules(body)


def test_tree_names_agree_with_git_fsck(tmp_path):
    """One repository, one tree per name; git fsck --strict says which are bad."""
    names = [b".git", b".GIT", b"git~1", b".git. ", b".g\xe2\x80\x8cit", b"..", b".", b"a/b",
             b".gitx", b"normal", b".\xc5\x87it", b"GIT~1", b".git\\foo", b"x\\.git"]
    git("init", "-q", "--bare", str(tmp_path))
    blob = git("hash-object", "-w", "--stdin", cwd=tmp_path, input=b"").strip()
    by_tree = {}
    for name in names:
        body = tree_body([(b"100644", name, bytes.fromhex(blob.decode()))])
        t = git("hash-object", "-t", "tree", "-w", "--literally", "--stdin", cwd=tmp_path,
                input=body).strip().decode()
        by_tree[t] = name
    p = git_ok("fsck", "--strict", "--no-dangling", cwd=tmp_path)
    git_bad = {}
    for m in re.finditer(r"(?:error|warning) in tree ([0-9a-f]{40}): (\w+)", p.stderr.decode()):
        git_bad.setdefault(m.group(1), set()).add(m.group(2))
    for t, name in by_tree.items():
        ours = ids(check_tree(tree_body([(b"100644", name, bytes.fromhex(blob.decode()))])).problems)
        assert ours == git_bad.get(t, set()), (name, ours, git_bad.get(t))


# --- commits, tags, identities ------------------------------------------------------------

GOOD_COMMIT = (b"tree " + TREE.hex().encode() + b"\nauthor A U Thor <a@example.com> 1700000000 +0100\n"
               b"committer C O Mitter <c@example.com> 1700000000 -0500\n\nmsg\n")


def test_good_commit_and_tag():
    assert check_commit(GOOD_COMMIT) == []
    tag = (b"object " + TREE.hex().encode() + b"\ntype tree\ntag v1\n"
           b"tagger T <t@example.com> 1 +0000\n\nmsg\n")
    assert check_tag(tag) == []


@pytest.mark.parametrize("mutate,expected", [
    (lambda b: b.replace(b"tree ", b"tree  ", 1), "badTreeSha1"),
    (lambda b: b[b.index(b"\n") + 1:], "missingTree"),
    (lambda b: b.replace(b"author A U Thor <a@example.com> 1700000000 +0100\n", b""), "missingAuthor"),
    (lambda b: b.replace(b"committer", b"commitx"), "missingCommitter"),
    (lambda b: b.replace(b"<a@example.com>", b"a@example.com"), "missingEmail"),
    (lambda b: b.replace(b"A U Thor <", b"<"), "missingNameBeforeEmail"),
    (lambda b: b.replace(b"Thor <", b"Thor<"), "missingSpaceBeforeEmail"),
    (lambda b: b.replace(b"> 1700000000 +0100", b">1700000000 +0100"), "missingSpaceBeforeDate"),
    (lambda b: b.replace(b"1700000000 +0100", b"01700000000 +0100"), "zeroPaddedDate"),
    (lambda b: b.replace(b"1700000000 +0100", b"99999999999999999999 +0100"), "badDateOverflow"),
    (lambda b: b.replace(b"1700000000 +0100", b"x +0100"), "badDate"),
    (lambda b: b.replace(b"+0100", b"+01"), "badTimezone"),
    (lambda b: b.replace(b"\n\nmsg", b"\0\n\nmsg"), "nulInHeader"),
    (lambda b: b[:b.index(b"\n\n")], "unterminatedHeader"),
])
def test_commit_problems(mutate, expected):
    assert expected in ids(check_commit(mutate(GOOD_COMMIT)))


def test_multiple_authors():
    body = GOOD_COMMIT.replace(b"committer", b"author A <a@b> 1 +0000\ncommitter", 1)
    assert "multipleAuthors" in ids(check_commit(body))


def test_tag_problems():
    obj = b"object " + TREE.hex().encode() + b"\n"
    assert ids(check_tag(b"type tree\n\n")) == {"missingObject"}
    assert ids(check_tag(b"object 123\n\n")) == {"badObjectSha1"}
    assert ids(check_tag(obj + b"tag x\n\n")) == {"missingTypeEntry"}
    assert ids(check_tag(obj + b"type frob\ntag x\n\n")) == {"badType"}
    assert ids(check_tag(obj + b"type tree\n\n")) == {"missingTagEntry"}
    assert "badTagName" in ids(check_tag(obj + b"type tree\ntag a..b\n\n"))
    assert "missingTaggerEntry" in ids(check_tag(obj + b"type tree\ntag v\n\n"))


def test_ident_ok():
    assert check_ident(b"Name <e@x> 0 +0000") is None


# --- .gitmodules and .gitattributes -----------------------------------------------------

def test_gitmodules():
    ok = b'[submodule "lib"]\n\tpath = lib\n\turl = https://example.com/lib.git\n'
    assert check_gitmodules(ok) == []
    assert ids(check_gitmodules(b'[submodule "a"]\n\turl = -oProxyCommand=x\n')) == {"gitmodulesUrl"}
    assert ids(check_gitmodules(b'[submodule "a"]\n\tpath = --x\n')) == {"gitmodulesPath"}
    assert ids(check_gitmodules(b'[submodule "../x"]\n\tpath = x\n')) == {"gitmodulesName"}
    assert ids(check_gitmodules(b'[submodule "a"]\n\tupdate = !sh\n')) == {"gitmodulesUpdate"}
    assert ids(check_gitmodules(b'[submodule "a"\n')) == {"gitmodulesParse"}
    # includes in a blob are never followed
    assert check_gitmodules(b'[include]\n\tpath = /etc/passwd\n') == []


def test_submodule_name_and_url_rules():
    assert check_submodule_name(b"a/b") and not check_submodule_name(b"a\\..\\b")
    assert not check_submodule_name(b"")
    assert check_submodule_url(b"../sibling.git") and check_submodule_url(b"git@host:x.git")
    assert not check_submodule_url(b"https://example.com/%0Ahost=evil")
    assert not check_submodule_url(b"../../:evil")


def test_gitattributes_limits():
    assert check_gitattributes(b"*.c diff\n") == []
    assert ids(check_gitattributes(b"x" * 3000 + b" diff\n")) == {"gitattributesLineLength"}


# --- policy --------------------------------------------------------------------------------

def test_policy_default_hosting_set_and_strict():
    lenient, strict = FsckPolicy(False), FsckPolicy(True)
    dotgit = Problem("hasDotgit", "")
    email = Problem("badEmail", "")
    mode = Problem("badFilemode", "")
    assert lenient.is_fatal(dotgit) and strict.is_fatal(dotgit)
    assert not lenient.is_fatal(email) and strict.is_fatal(email)
    assert not lenient.is_fatal(mode) and not strict.is_fatal(mode)
    over = FsckPolicy(True, {"hasDotgit": "ignore", "nulInHeader": "ignore"})
    assert not over.is_fatal(dotgit)
    assert over.is_fatal(Problem("nulInHeader", ""))   # fatal ids cannot be downgraded


def test_check_object_dispatch():
    assert check_object(1, GOOD_COMMIT) == []
    assert check_object(3, b"anything") == []
    assert ids(check_object(9, b"")) == {"unknownType"}


# The fast path for ordinary trees must agree with the careful one everywhere.
from hypothesis import given, settings, strategies as st  # noqa: E402

from puregit import fsck as _fsck  # noqa: E402

_NAME_PARTS = [b"a", b"git", b".git", b".GIT", b".gitmodules", b".gitattributes", b".mailmap",
               b".gitignore", b"git~1", b".", b"..", b"/", b" ", b"\\", b":", b"\xe2\x80\x8c",
               b"x", b"b.c", b"A"]
_MODES = [b"100644", b"100755", b"120000", b"40000", b"160000", b"040000", b"100664"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.lists(st.sampled_from(_NAME_PARTS), min_size=1, max_size=3),
                          st.sampled_from(_MODES), st.binary(min_size=20, max_size=20)),
                max_size=6),
       st.booleans())
def test_fast_and_careful_tree_checks_agree(items, sort):
    entries = [(m, b"".join(parts), sha) for parts, m, sha in items]
    if sort:
        entries.sort(key=lambda e: e[1] + (b"/" if e[0] in (b"40000", b"040000") else b""))
    body = b"".join(m + b" " + n + b"\0" + sha for m, n, sha in entries)
    fast = _fsck.check_tree(body)
    original = _fsck._check_ordinary_tree
    try:
        _fsck._check_ordinary_tree = lambda b, d: None
        careful = _fsck.check_tree(body)
    finally:
        _fsck._check_ordinary_tree = original
    assert (fast.problems, fast.gitmodules, fast.gitattributes) == \
        (careful.problems, careful.gitmodules, careful.gitattributes)


def test_connected_by_closure():
    from puregit.quarantine import connected_by_closure
    present = {b"a" * 40}
    q = {b"b" * 40, b"c" * 40}
    has = present.__contains__
    assert connected_by_closure([b"b" * 40], {b"a" * 40, b"c" * 40}, q, has)
    assert not connected_by_closure([b"d" * 40], set(), q, has)          # tip missing
    assert not connected_by_closure([b"b" * 40], {b"e" * 40}, q, has)    # reference missing
    assert connected_by_closure([b"a" * 40], set(), q, has)               # tip already there


_COMMIT_PARTS = [b"tree ", b"parent ", b"author ", b"committer ", b"a" * 40, b"0" * 40, b"\n",
                 b" ", b"<", b">", b"A U Thor", b"a@b", b"0", b"1", b"01", b"9" * 19, b"+0000",
                 b"-0130", b"+00x0", b"\0", b"encoding x\n", b"\n\nmessage\n", b"x"]
_GOOD_COMMIT = (b"tree " + b"a" * 40 + b"\nparent " + b"b" * 40 + b"\nauthor A <a@b> 1 +0000\n"
                b"committer C <c@d> 1700000000 -0130\n\nmsg\n")


@settings(max_examples=400, deadline=None)
@given(st.integers(0, len(_GOOD_COMMIT)), st.integers(0, 12),
       st.lists(st.sampled_from(_COMMIT_PARTS), max_size=4))
def test_fast_and_careful_commit_checks_agree(at, cut, parts):
    body = _GOOD_COMMIT[:at] + b"".join(parts) + _GOOD_COMMIT[at + cut:]
    bad = _fsck._verify_headers(body)
    careful = [bad] if bad is not None else _fsck._check_commit_carefully(body, 40)
    assert _fsck.check_commit(body) == careful


def test_ordinary_commit_takes_the_fast_path():
    assert _fsck._ORDINARY_COMMIT[40].match(_GOOD_COMMIT)
    assert _fsck.check_commit(_GOOD_COMMIT) == []
