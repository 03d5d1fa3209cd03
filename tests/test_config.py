"""puregit.config against real git: git writes, we read; we write, git reads."""

from __future__ import annotations

import io
import os
import subprocess

import pytest

from puregit.config import ConfigDict, ConfigFile, StackedConfig, parse_boolean, parse_int, quote_value
from puregit.errors import ConfigError


@pytest.fixture
def env(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    e = dict(os.environ, HOME=str(home), GIT_CONFIG_NOSYSTEM="1", XDG_CONFIG_HOME=str(home / ".xdg"),
             GIT_AUTHOR_NAME="A U Thor", GIT_AUTHOR_EMAIL="a@example.com",
             GIT_COMMITTER_NAME="C O Mitter", GIT_COMMITTER_EMAIL="c@example.com")
    e.pop("GIT_DIR", None)
    for k in ("HOME", "GIT_CONFIG_NOSYSTEM", "XDG_CONFIG_HOME"):
        monkeypatch.setenv(k, e[k])
    return e


def git(env, *args, cwd=None, check=True) -> bytes:
    p = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True)
    if check and p.returncode:
        raise AssertionError(f"git {args} failed: {p.stderr.decode()}")
    return p.stdout


def git_list(env, path, includes=False) -> list[tuple[bytes, bytes | None]]:
    """``git config --list --null`` as (key, value) pairs; value None for a bare key."""
    args = ["config", "--null", "--list", "--file", str(path)]
    if includes:
        args.insert(1, "--includes")
    out = git(env, *args)
    pairs = []
    for rec in out.split(b"\0")[:-1]:
        key, nl, value = rec.partition(b"\n")
        pairs.append((key, value if nl else None))
    return pairs


def our_list(cfg: ConfigFile) -> list[tuple[bytes, bytes | None]]:
    """Our view in git's --list spelling."""
    return [(b".".join(section + (key,)), value) for section, key, value in cfg.as_list()]


TRICKY_VALUES = [
    "plain", " leading space", "trailing space ", "  both  ", "has # hash", "has ; semi",
    'has "quotes"', "back\\slash", "tab\there", "new\nline", "", "multiple   spaces",
    "ünïcödé", "=equals=", "[brackets]", "\\", '"', "end\\",
]


def test_read_values_written_by_git(env, tmp_path):
    path = tmp_path / "cfg"
    for i, value in enumerate(TRICKY_VALUES):
        git(env, "config", "--file", str(path), f"sec.key{i}", value)
        git(env, "config", "--file", str(path), f'sub.We"ird\\ "Name.key{i}', value)
    cfg = ConfigFile.from_path(path)
    for i, value in enumerate(TRICKY_VALUES):
        assert cfg.get((b"sec",), f"key{i}".encode()) == value.encode()
        assert cfg.get(("sub", 'We"ird\\ "Name'), f"KEY{i}") == value.encode()
    assert our_list(cfg) == git_list(env, path)


def test_values_written_by_us_are_read_by_git(env, tmp_path):
    path = tmp_path / "cfg"
    cfg = ConfigFile()
    for i, value in enumerate(TRICKY_VALUES):
        cfg.set((b"sec",), f"key{i}", value)
        cfg.set(("remote", 'or"ig\\in'), f"Key{i}", value.encode())
    cfg.set("core", "bare", False)
    cfg.set("core", "n", 42)
    cfg.write_to_path(path)
    assert not os.path.exists(str(path) + ".lock")
    for i, value in enumerate(TRICKY_VALUES):
        got = git(env, "config", "--file", str(path), "--null", "--get", f"sec.key{i}")
        assert got == value.encode() + b"\0"
    assert git(env, "config", "--file", str(path), "--get", "core.bare") == b"false\n"
    assert git(env, "config", "--file", str(path), "--type=int", "--get", "core.n") == b"42\n"
    assert our_list(ConfigFile.from_path(path)) == git_list(env, path)


HAND_WRITTEN = b"""\
# leading comment
; another
[core]
\tbare = false
\tEditor = "vim -u \\"x\\"" ; trailing comment
\tautocrlf
[remote "ori\\"g\\\\in"]  # comment after header
\turl = a\\
  b\tc
\tfetch = +refs/heads/*:refs/remotes/origin/*
\tfetch = +refs/tags/*:refs/tags/*
[Sec.SUB] k = v
[x "Y"]
\tt = "\\ta\\n\\b\\\\"   z  \r
\tempty =
\tq = mid"quo  ted"end
\tws  =   many    inner   spaces   # c
[x "y"]
\tt = other-case-subsection
[core]
\tBARE = true
"""


def test_hand_written_file_matches_git(env, tmp_path):
    path = tmp_path / "cfg"
    path.write_bytes(HAND_WRITTEN)
    cfg = ConfigFile.from_path(path)
    assert our_list(cfg) == git_list(env, path)
    assert cfg.get("core", "bare") == b"true"            # last one wins
    assert cfg.get_boolean("CORE", "AutoCRLF") is True    # bare key is true
    assert cfg.get_multivalue(("remote", 'ori"g\\in'), "fetch") == [
        b"+refs/heads/*:refs/remotes/origin/*", b"+refs/tags/*:refs/tags/*"]
    assert cfg.get(("x", "Y"), "t") == b"\ta\n\b\\   z"
    assert cfg.get(("x", "y"), "t") == b"other-case-subsection"
    assert cfg.get(("sec", "sub"), "k") == b"v"
    assert cfg.get(("x", "Y"), "ws") == b"many    inner   spaces"


def test_unchanged_round_trip_is_byte_identical(tmp_path):
    cfg = ConfigFile.from_file(io.BytesIO(HAND_WRITTEN))
    # Only a header line that also holds a key is regenerated (same meaning to git).
    assert cfg.to_bytes() == HAND_WRITTEN.replace(b"[Sec.SUB] k = v\n", b'[sec "sub"]\n\tk = v\n')


def test_round_trip_after_edits_agrees_with_git(env, tmp_path):
    repo = tmp_path / "repo"
    git(env, "init", "-q", str(repo))
    git(env, "-C", str(repo), "remote", "add", "origin", "https://example.com/x.git")
    git(env, "-C", str(repo), "config", "branch.main.remote", "origin")
    git(env, "-C", str(repo), "config", "--add", "remote.origin.fetch", "+refs/tags/*:refs/tags/*")
    path = repo / ".git" / "config"
    original = path.read_bytes()
    cfg = ConfigFile.from_path(path)
    cfg.write_to_path()
    assert path.read_bytes() == original
    cfg.set(("remote", "origin"), "url", "git://elsewhere/x")
    cfg.add(("remote", "origin"), "fetch", "+refs/notes/*:refs/notes/*")
    cfg.set(("branch", "main"), "merge", "refs/heads/main")
    cfg.set("user", "name", "  Spaced  Name ")
    cfg.unset("core", "filemode")
    cfg.write_to_path()
    listed = git_list(env, path)
    assert our_list(ConfigFile.from_path(path)) == listed
    assert (b"remote.origin.url", b"git://elsewhere/x") in listed
    assert [v for k, v in listed if k == b"remote.origin.fetch"] == [
        b"+refs/heads/*:refs/remotes/origin/*", b"+refs/tags/*:refs/tags/*", b"+refs/notes/*:refs/notes/*"]
    assert (b"user.name", b"  Spaced  Name ") in listed
    assert not any(k == b"core.filemode" for k, _ in listed)
    # git can still edit what we wrote
    git(env, "-C", str(repo), "config", "user.email", "x@y")
    assert ConfigFile.from_path(path).get("user", "email") == b"x@y"


@pytest.mark.parametrize("text,line", [
    (b"[a", 1), (b'[a "b]', 1), (b'[a]\nk = "x\n', 2), (b"[a]\nk = \\q\n", 2),
    (b"[a]\n1k = 2\n", 2), (b"[a b]\n", 1), (b'[ab"]\n', 1), (b"[a]\n\nk # c\n", 3),
    (b"[]\n", 1), (b"[a]\nk_x = 1\n", 2),
])
def test_malformed_raises_with_line_number(env, tmp_path, text, line):
    path = tmp_path / "bad"
    path.write_bytes(text)
    with pytest.raises(ConfigError, match=f"line {line}\\b") as exc:
        ConfigFile.from_path(path)
    assert exc.value.line == line
    err = subprocess.run(["git", "config", "--file", str(path), "--list"], env=env, capture_output=True)
    assert err.returncode != 0 and b"bad config line" in err.stderr


@pytest.mark.parametrize("value", ["true", "yes", "on", "1", "TRUE", "false", "no", "off", "0", "",
                                   "2", "-1", "1k", "0x10", "maybe", "nope"])
def test_booleans_agree_with_git(env, tmp_path, value):
    path = tmp_path / "cfg"
    path.write_text(f'[a]\n\tk = "{value}"\n')
    p = subprocess.run(["git", "config", "--file", str(path), "--type=bool", "a.k"], env=env,
                       capture_output=True)
    cfg = ConfigFile.from_path(path)
    if p.returncode:
        with pytest.raises(ConfigError):
            cfg.get_boolean("a", "k")
    else:
        assert cfg.get_boolean("a", "k") == (p.stdout == b"true\n")


@pytest.mark.parametrize("value", ["0", "42", "-7", "1k", "1K", "3m", "2g", "0x1F", "010", " 5", "5 ",
                                   "1t", "", "abc", "99999999999999999999", "8589934592g"])
def test_integers_agree_with_git(env, tmp_path, value):
    path = tmp_path / "cfg"
    path.write_text(f'[a]\n\tk = "{value}"\n')
    p = subprocess.run(["git", "config", "--file", str(path), "--type=int", "a.k"], env=env,
                       capture_output=True)
    cfg = ConfigFile.from_path(path)
    if p.returncode:
        with pytest.raises(ConfigError):
            cfg.get_int("a", "k")
    else:
        assert cfg.get_int("a", "k") == int(p.stdout)


def test_bare_key_and_defaults():
    cfg = ConfigFile.from_file(io.BytesIO(b"[a]\n\tflag\n\tempty =\n"))
    assert cfg.get_boolean("a", "flag") is True
    assert cfg.get_boolean("a", "empty") is False
    assert cfg.get_boolean("a", "missing") is None
    assert cfg.get_boolean("a", "missing", default=True) is True
    assert cfg.get_int("a", "missing", 7) == 7
    with pytest.raises(KeyError):
        cfg.get("a", "missing")
    assert parse_boolean(None) is True
    assert parse_int("1m") == 1 << 20


def test_includes(env, tmp_path):
    home = env["HOME"]
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "inc.cfg").write_text("[user]\n\tname = Included\n\temail = inc@x\n")
    with open(os.path.join(home, "homeinc.cfg"), "w") as f:
        f.write("[core]\n\teditor = from-home\n")
    main = tmp_path / "main.cfg"
    main.write_text("[user]\n\tname = Before\n[include]\n\tpath = sub/inc.cfg\n"
                    "\tpath = ~/homeinc.cfg\n\tpath = missing.cfg\n[user]\n\temail = after@x\n")
    cfg = ConfigFile.from_path(main)
    assert cfg.get("user", "name") == b"Included"       # include comes after "Before"
    assert cfg.get("user", "email") == b"after@x"       # and before the later section
    assert cfg.get("core", "editor") == b"from-home"
    assert our_list(cfg) == git_list(env, main, includes=True)
    # writing the including file never copies included values into it
    cfg.set("user", "name", "Mine")
    cfg.write_to_path()
    assert b"Included" not in main.read_bytes()
    assert b"inc@x" not in main.read_bytes()


def test_include_loop_is_an_error(tmp_path):
    loop = tmp_path / "loop.cfg"
    loop.write_text("[include]\n\tpath = loop.cfg\n[a]\n\tb = 1\n")
    with pytest.raises(ConfigError, match="include depth"):
        ConfigFile.from_path(loop)


def test_include_if_gitdir(env, tmp_path):
    repo = tmp_path / "work" / "proj"
    git(env, "init", "-q", str(repo))
    (tmp_path / "work.cfg").write_text("[user]\n\temail = work@x\n")
    gitdir = repo / ".git"
    conf = gitdir / "config"
    with open(conf, "a") as f:
        f.write(f'[includeIf "gitdir:{tmp_path}/work/"]\n\tpath = {tmp_path}/work.cfg\n'
                f'[includeIf "gitdir:nomatch/"]\n\tpath = {tmp_path}/nope.cfg\n'
                f'[includeIf "gitdir/i:PROJ/.GIT"]\n\tpath = {tmp_path}/icase.cfg\n')
    (tmp_path / "nope.cfg").write_text("[user]\n\temail = wrong@x\n")
    (tmp_path / "icase.cfg").write_text("[user]\n\tname = icase\n")
    cfg = ConfigFile.from_path(conf, gitdir=str(gitdir))
    assert cfg.get("user", "email") == b"work@x"
    assert cfg.get("user", "name") == b"icase"
    assert git(env, "-C", str(repo), "config", "user.email") == b"work@x\n"
    assert git(env, "-C", str(repo), "config", "user.name") == b"icase\n"
    assert ConfigFile.from_path(conf).get_multivalue("user", "email") == []  # no gitdir: no match


def test_api_shapes():
    cfg = ConfigDict({(b"core",): {b"bare": b"false"}, (b"remote", b"origin"): {b"url": b"u"}})
    assert list(cfg.sections()) == [(b"core",), (b"remote", b"origin")]
    assert cfg.has_section(("remote", "origin")) and not cfg.has_section(("remote", "ORIGIN"))
    assert cfg.has_section("CORE")
    assert cfg.items(("remote", "origin")) == [(b"url", b"u")]
    assert cfg[(b"core",)] == {b"bare": b"false"}
    cfg.set("core", "Bare", True)
    assert cfg.get("core", "bare") == b"true"
    cfg.add("core", "multi", "1")
    cfg.add("core", "multi", "2")
    assert cfg.get_multivalue("core", "MULTI") == [b"1", b"2"]
    cfg.set("core", "multi", "3")
    assert cfg.get_multivalue("core", "multi") == [b"3"]
    assert cfg.unset("core", "multi") and not cfg.unset("core", "multi")
    del cfg[("remote", "origin")]
    assert not cfg.has_section(("remote", "origin"))
    with pytest.raises(ConfigError):
        cfg.set("bad section", "k", "v")
    with pytest.raises(ConfigError):
        cfg.set("core", "bad_key", "v")
    with pytest.raises(ConfigError):
        cfg.set(("a", "new\nline"), "k", "v")
    assert quote_value(b" x") == b'" x"'


def test_write_is_atomic_and_refuses_stale_lock(tmp_path):
    path = tmp_path / "cfg"
    path.write_bytes(b"[a]\n\tb = 1\n")
    (tmp_path / "cfg.lock").write_bytes(b"")
    cfg = ConfigFile.from_path(path)
    cfg.set("a", "b", "2")
    with pytest.raises(ConfigError, match="lock"):
        cfg.write_to_path()
    assert path.read_bytes() == b"[a]\n\tb = 1\n"
    os.unlink(tmp_path / "cfg.lock")
    cfg.write_to_path()
    assert ConfigFile.from_path(path).get("a", "b") == b"2"


def test_stacked_config(env, tmp_path):
    home = env["HOME"]
    with open(os.path.join(home, ".gitconfig"), "w") as f:
        f.write("[user]\n\tname = Home\n[core]\n\tx = home\n")
    os.makedirs(os.path.join(env["XDG_CONFIG_HOME"], "git"))
    with open(os.path.join(env["XDG_CONFIG_HOME"], "git", "config"), "w") as f:
        f.write("[user]\n\tname = Xdg\n\temail = xdg@x\n[core]\n\tflag = yes\n")
    backends = StackedConfig.default_backends()
    assert len(backends) == 2  # system config skipped (GIT_CONFIG_NOSYSTEM)
    repo = ConfigFile.from_file(io.BytesIO(b"[user]\n\tname = Repo\n"))
    stacked = StackedConfig([repo] + backends, writable=repo)
    assert stacked.get("user", "name") == b"Repo"
    assert stacked.get("user", "email") == b"xdg@x"
    assert stacked.get_boolean("core", "flag") is True
    assert stacked.get_multivalue("user", "name") == [b"Repo", b"Home", b"Xdg"]
    with pytest.raises(KeyError):
        stacked.get("user", "nothing")
    stacked.set("user", "name", "Changed")
    assert repo.get("user", "name") == b"Changed"
    os.unlink(os.path.join(home, ".gitconfig"))
    assert len(StackedConfig.default_backends()) == 1
