"""archive.py against ``git archive`` (tar byte-identical) and upload-archive over git://."""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import tarfile
import zipfile

import pytest

from helpers import git, make_rich_repo
from helpers_server import serving, url

from puregit.archive import ArchiveError, archive_stream
from puregit.backend import FileSystemBackend
from puregit.repo import Repo
from puregit.upload_archive import parse_archive_args


@pytest.fixture(scope="module")
def arepo(tmp_path_factory):
    base = tmp_path_factory.mktemp("arch")
    src = base / "src"
    make_rich_repo(src)
    git("checkout", "-q", "-b", "long", "v1.0", cwd=src)
    deep = src / ("d" * 60) / ("e" * 60) / ("f" * 30)
    deep.mkdir(parents=True)
    (deep / "file.txt").write_bytes(b"deep\n")              # prefix/name split
    (src / ("x" * 120)).write_bytes(b"long name\n")           # pax path record
    os.symlink("t" * 150, src / "longlink")                   # pax linkpath record
    (src / "empty").write_bytes(b"")
    (src / "big.bin").write_bytes(os.urandom(30000))
    git("add", ".", cwd=src)
    git("commit", "-q", "-m", "long names", cwd=src)
    bare = base / "root" / "repo.git"
    git("clone", "-q", "--mirror", str(src), str(bare))
    return bare


CASES = [["v1.0"], ["long"], ["--prefix=pre/", "long"], ["--prefix=a/b/", "long", "bin", "README"],
         ["long", ("d" * 60)], ["main"], ["long:bin"]]


@pytest.mark.parametrize("args", CASES, ids=lambda a: " ".join(a)[:40])
def test_tar_byte_identical_to_git_archive(arepo, args):
    expected = git("archive", *args, cwd=arepo)
    req = parse_archive_args([a.encode() for a in args])
    got = b"".join(archive_stream(Repo(str(arepo)), req.treeish, req.format, req.prefix,
                                  req.paths))
    if ":" in args[-1]:   # rev:path archives use the current time; compare the members
        assert _tar_members(got) == _tar_members(expected)
    else:
        assert got == expected


def _tar_members(data: bytes) -> list:
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        out = []
        for m in tf.getmembers():
            content = tf.extractfile(m).read() if m.isfile() else m.linkname.encode()
            out.append((m.name, m.mode, m.type, content))
        return out


def _zip_members(data: bytes) -> list:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return sorted((i.filename, i.external_attr >> 16, zf.read(i)) for i in zf.infolist())


def test_remote_archive_over_git_protocol(arepo, tmp_path):
    with serving(FileSystemBackend(str(arepo.parent))) as srv:
        u = url(srv)
        for args in (["long"], ["--prefix=p/", "v1.0", "bin"],
                     [git("rev-parse", "long", cwd=arepo).strip().decode()]):
            remote = subprocess.run(["git", "archive", "--remote", u, *args],
                                    capture_output=True, check=True).stdout
            assert remote == git("archive", *args, cwd=arepo)
        for fmt in ("zip", "tar.gz", "tgz"):
            remote = subprocess.run(["git", "archive", "--remote", u, f"--format={fmt}", "long"],
                                    capture_output=True, check=True).stdout
            local = git("archive", f"--format={fmt}", "long", cwd=arepo)
            if fmt == "zip":
                assert _zip_members(remote) == _zip_members(local)
            else:
                assert gzip.decompress(remote) == gzip.decompress(local)
        for bad in (["nonexistent"], ["long", "no/such/path"], ["--format=rar", "long"],
                    ["1" * 40]):
            p = subprocess.run(["git", "archive", "--remote", u, *bad], capture_output=True)
            assert p.returncode != 0, bad
            assert b"Traceback" not in p.stderr
        # the server keeps serving
        assert subprocess.run(["git", "archive", "--remote", u, "long"],
                              capture_output=True).returncode == 0


def test_archive_arguments():
    r = parse_archive_args([b"--format=zip", b"--prefix=x/", b"-9", b"HEAD", b"a", b"b"])
    assert (r.format, r.prefix, r.level, r.treeish, r.paths) == ("zip", b"x/", 9, b"HEAD",
                                                                 [b"a", b"b"])
    for bad in ([b"--format=rar", b"HEAD"], [b"--exec=evil", b"HEAD"], [], [b"--output=/x", b"HEAD"]):
        with pytest.raises(ArchiveError):
            parse_archive_args(bad)
