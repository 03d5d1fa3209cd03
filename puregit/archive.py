"""Archives of a tree: tar (as ``git archive`` writes it), tar.gz/tgz and zip.

Pure: functions read objects through ``store.get_raw`` and yield bytes.  The
tar output follows cgit's ``archive-tar.c`` behaviour so the bytes match
``git archive`` for the same tree: ustar headers (uid/gid 0, owner ``root``),
a ``pax_global_header`` carrying the commit id as ``comment``, mtime = the
commit's committer time, modes from ``tar.umask`` (default 002: files
0664/0775, directories 0775, symlinks 0777), directories before their
contents with a trailing ``/``, long names split into prefix/name or moved
into a pax ``path`` record, and output in 10240-byte blocks ending with at
least two zero records.  gzip and zip output are equal in content to git's,
not byte-identical (different deflate implementation details).
"""

from __future__ import annotations

import struct
import time
import zipfile
import zlib
from typing import Iterable, Iterator, Optional, Sequence

from .errors import MissingObjectError, ObjectFormatError, PuregitError
from .graph import COMMIT, TAG, TREE, commit_time, iter_tree_entries_named, tag_target

__all__ = ["ArchiveError", "iter_archive_entries", "tar_stream", "zip_stream", "gzip_stream",
           "archive_stream", "resolve_treeish", "FORMATS", "RECORD_SIZE", "BLOCK_SIZE"]

RECORD_SIZE = 512
BLOCK_SIZE = RECORD_SIZE * 20
FORMATS = ("tar", "tgz", "tar.gz", "zip")
DIR_MODE = 0o40000
LINK_MODE = 0o120000
GITLINK_MODE = 0o160000
USTAR_MAX = 0o77777777777


class ArchiveError(PuregitError):
    """A tree-ish, path or option of an archive request is not acceptable."""


# --- entries ---------------------------------------------------------------------

def _path_matches(path: bytes, is_dir: bool, paths: Sequence[bytes]) -> tuple[bool, bool]:
    """(write this entry, descend into it) for a path filter."""
    if not paths:
        return True, True
    for p in paths:
        p = p.rstrip(b"/")
        if not p or path == p or path.startswith(p + b"/"):
            return True, True
        if is_dir and p.startswith(path + b"/"):
            return False, True
    return False, False


def iter_archive_entries(store, tree_id: bytes, paths: Sequence[bytes] = ()
                         ) -> Iterator[tuple[bytes, int, bytes]]:
    """Yield (path, mode, id) in git's order; directories end in ``/``.

    A directory is written only when something under it is (as git queues
    directories until a match).  Missing ``paths`` raise ArchiveError.
    """
    digest = store.hash_algo.digest_size
    matched = set()

    def walk(tree: bytes, base: bytes) -> Iterator[tuple[bytes, int, bytes]]:
        try:
            type_num, body = store.get_raw(tree)
        except KeyError:
            raise MissingObjectError(tree) from None
        if type_num != TREE:
            raise ObjectFormatError(f"{tree!r} is not a tree")
        for name, mode, sha in iter_tree_entries_named(body, digest):
            path = base + name
            is_dir = mode & 0o170000 == DIR_MODE
            write, descend = _path_matches(path, is_dir or mode == GITLINK_MODE, paths)
            for p in paths:
                q = p.rstrip(b"/")
                if not q or path == q or path.startswith(q + b"/"):
                    matched.add(p)
            if is_dir:
                if not descend:
                    continue
                if write:
                    yield path + b"/", mode, sha
                    yield from walk(sha, path + b"/")
                else:
                    inner = list(walk(sha, path + b"/"))
                    if inner:
                        yield path + b"/", mode, sha
                        yield from inner
            elif write:
                yield path + (b"/" if mode == GITLINK_MODE else b""), mode, sha

    yield from walk(tree_id, b"")
    missing = [p for p in paths if p not in matched and p.rstrip(b"/")]
    if missing:
        raise ArchiveError(f"pathspec '{missing[0].decode(errors='replace')}' did not match any files")


# --- tar ------------------------------------------------------------------------------

def _pax_record(keyword: bytes, value: bytes) -> bytes:
    n = 1 + 1 + len(keyword) + 1 + len(value) + 1
    tmp = n
    while tmp > 9:
        n += 1
        tmp //= 10
    return b"%d %s=%s\n" % (n, keyword, value)


def _field(text: bytes, size: int) -> bytes:
    return text[:size].ljust(size, b"\0")


def _header(name: bytes, mode: int, size: int, mtime: int, typeflag: bytes,
            linkname: bytes = b"", prefix: bytes = b"") -> bytes:
    is_reg = mode & 0o170000 == 0o100000
    fields = [
        _field(name, 100),
        _field(b"%07o" % (mode & 0o7777), 8),
        _field(b"%07o" % 0, 8),
        _field(b"%07o" % 0, 8),
        _field(b"%011o" % (size if is_reg else 0), 12),
        _field(b"%011o" % mtime, 12),
        b" " * 8,
        typeflag,
        _field(linkname, 100),
        b"ustar\0", b"00",
        _field(b"root", 32), _field(b"root", 32),
        _field(b"%07o" % 0, 8), _field(b"%07o" % 0, 8),
        _field(prefix, 155),
        b"\0" * 12,
    ]
    h = b"".join(fields)
    chk = sum(h)
    return h[:148] + _field(b"%07o" % chk, 8) + h[156:]


def _pad(n: int) -> bytes:
    tail = n % RECORD_SIZE
    return b"\0" * (RECORD_SIZE - tail) if tail else b""


def _path_prefix(path: bytes, maxlen: int) -> int:
    i = len(path)
    if i > 1 and path[i - 1:i] == b"/":
        i -= 1
    if i > maxlen:
        i = maxlen
    while True:
        i -= 1
        if not (i > 0 and path[i:i + 1] != b"/"):
            return i


def _tar_records(store, entries: Iterable, mtime: int, commit_id: Optional[bytes],
                 umask: int) -> Iterator[bytes]:
    """Header and data records, unblocked."""
    ext = b""
    if commit_id is not None:
        ext += _pax_record(b"comment", commit_id)
    if mtime > USTAR_MAX:
        ext += _pax_record(b"mtime", b"%d" % mtime)
        mtime = USTAR_MAX
    if ext:
        yield _header(b"pax_global_header", 0o100666, len(ext), mtime, b"g") + ext + _pad(len(ext))
    for path, mode, sha in entries:
        hexid = sha
        ext = b""
        data = b""
        if mode & 0o170000 == DIR_MODE or mode == GITLINK_MODE:
            typeflag, tmode = b"5", ((mode | 0o777) & ~umask) | DIR_MODE
            if mode == GITLINK_MODE:
                tmode = (0o40777 & ~umask)
        elif mode & 0o170000 == LINK_MODE:
            typeflag, tmode = b"2", mode | 0o777
        elif mode & 0o170000 == 0o100000:
            typeflag = b"0"
            tmode = (mode | (0o777 if mode & 0o100 else 0o666)) & ~umask
        else:
            raise ArchiveError(f"unsupported file mode: 0{mode:o} (SHA1: {sha.decode()})")
        name, prefix = path, b""
        if len(path) > 100:
            plen = _path_prefix(path, 155)
            rest = len(path) - plen - 1
            if plen > 0 and rest <= 100:
                prefix, name = path[:plen], path[plen + 1:]
            else:
                name = hexid + b".data"
                ext += _pax_record(b"path", path)
        if typeflag in (b"0", b"2"):
            type_num, data = store.get_raw(sha)
        linkname = b""
        if typeflag == b"2":
            if len(data) > 100:
                linkname = b"see " + hexid + b".paxheader"
                ext += _pax_record(b"linkpath", data)
            else:
                linkname = data
        size = len(data) if typeflag == b"0" else 0
        if size > USTAR_MAX:
            ext += _pax_record(b"size", b"%d" % size)
            size_in_header = 0
        else:
            size_in_header = size
        if ext:
            yield (_header(hexid + b".paxheader", 0o100666, len(ext), mtime, b"x")
                   + ext + _pad(len(ext)))
        yield _header(name, tmode, size_in_header, mtime, typeflag, linkname, prefix)
        if typeflag == b"0" and size:
            yield data
            yield _pad(size)


def tar_stream(store, entries: Iterable, mtime: int, commit_id: Optional[bytes] = None,
               umask: int = 0o002) -> Iterator[bytes]:
    """Yield the tar archive in 10240-byte blocks, exactly as git blocks it."""
    buf = bytearray()
    for rec in _tar_records(store, entries, mtime, commit_id, umask):
        buf += rec
        if len(buf) >= BLOCK_SIZE:
            n = len(buf) - len(buf) % BLOCK_SIZE
            yield bytes(buf[:n])
            del buf[:n]
    tail = BLOCK_SIZE - len(buf)
    buf += b"\0" * tail
    if tail < 2 * RECORD_SIZE:
        buf += b"\0" * BLOCK_SIZE
    yield bytes(buf)


def gzip_stream(chunks: Iterable[bytes], level: int = 6) -> Iterator[bytes]:
    """gzip without file name and with mtime 0 (``gzip -cn``)."""
    comp = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
    yield b"\x1f\x8b\x08\x00\x00\x00\x00\x00" + (b"\x02" if level == 9 else
                                                  b"\x04" if level == 1 else b"\x00") + b"\x03"
    crc = 0
    size = 0
    for c in chunks:
        crc = zlib.crc32(c, crc)
        size += len(c)
        out = comp.compress(c)
        if out:
            yield out
    yield comp.flush() + struct.pack("<II", crc & 0xFFFFFFFF, size & 0xFFFFFFFF)


# --- zip ------------------------------------------------------------------------------

class _Sink:
    """An unseekable file for zipfile that hands written bytes to a list."""

    def __init__(self) -> None:
        self.chunks: list = []
        self.pos = 0

    def write(self, b) -> int:
        self.chunks.append(bytes(b))
        self.pos += len(b)
        return len(b)

    def tell(self) -> int:
        return self.pos

    def flush(self) -> None:
        pass

    def seekable(self) -> bool:
        return False

    def take(self) -> bytes:
        out = b"".join(self.chunks)
        self.chunks.clear()
        return out


def zip_stream(store, entries: Iterable, mtime: int, commit_id: Optional[bytes] = None,
               level: int = 6) -> Iterator[bytes]:
    """A zip archive (deflate), streamed; the commit id goes in the archive comment."""
    sink = _Sink()
    t = time.localtime(max(mtime, 315532800))[:6]
    extra = b"UT\x05\x00\x01" + struct.pack("<I", mtime & 0xFFFFFFFF)
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED,
                         compresslevel=level) as zf:
        if commit_id is not None:
            zf.comment = commit_id
        for path, mode, sha in entries:
            # git's attributes: plain files and directories as FAT entries,
            # executables and symlinks as Unix entries carrying their mode
            info = zipfile.ZipInfo(path.decode("utf-8", "surrogateescape"), date_time=t)
            info.extra = extra
            info.compress_type = zipfile.ZIP_STORED
            if path.endswith(b"/"):
                info.create_system = 0
                info.external_attr = 0x10
                data = b""
            else:
                _, data = store.get_raw(sha)
                if mode & 0o170000 == LINK_MODE:
                    info.create_system = 3
                    info.external_attr = 0o120777 << 16
                elif mode & 0o100:
                    info.create_system = 3
                    info.external_attr = 0o100755 << 16
                else:
                    info.create_system = 0
                    info.external_attr = 0
                if data and mode & 0o170000 != LINK_MODE and \
                        len(zlib.compress(data, level)) - 6 < len(data):
                    info.compress_type = zipfile.ZIP_DEFLATED
            attr = info.external_attr
            zf.writestr(info, data)
            info.external_attr = attr   # zipfile turns 0 into 0600; git writes 0
            out = sink.take()
            if out:
                yield out
    out = sink.take()
    if out:
        yield out


# --- tree-ish and the whole archive -----------------------------------------------------

def resolve_treeish(repo, name: bytes, allow_unreachable: bool = False
                    ) -> tuple[bytes, Optional[bytes], int]:
    """(tree id, commit id or None, mtime) for a remote archive request.

    Accepts what ``git archive --remote`` accepts: a ref name (``HEAD``,
    ``main``, ``v1.0``, ``refs/heads/x``), optionally ``:path``, and a full
    object id when it is a ref tip or ``allow_unreachable``.
    """
    store = repo.object_store
    rev, colon, subpath = name.partition(b":")
    oid = None
    refs = repo.refs
    for pattern in (b"%s", b"refs/%s", b"refs/tags/%s", b"refs/heads/%s",
                    b"refs/remotes/%s", b"refs/remotes/%s/HEAD"):
        try:
            oid = refs.follow(pattern % rev)[1]
        except (PuregitError, ValueError):
            oid = None
        if oid is not None:
            break
    if oid is None:
        hexlen = store.hash_algo.hex_size
        if len(rev) == hexlen and all(c in b"0123456789abcdef" for c in rev.lower()):
            cand = rev.lower()
            tips = set()
            try:
                tips = set(refs.as_dict().values())
            except PuregitError:
                pass
            if store.contains(cand) and (allow_unreachable or cand in tips):
                oid = cand
    if oid is None:
        raise ArchiveError(f"no such ref: {rev.decode(errors='replace')[:200]}")
    commit_id = None
    mtime = int(time.time())
    sha = oid
    for _ in range(64):
        type_num, body = store.get_raw(sha)
        if type_num == TAG:
            sha = tag_target(body)[0]
            continue
        break
    if type_num == COMMIT:
        commit_id = sha
        mtime = commit_time(body)
        tree = body[5:body.index(b"\n")]
    elif type_num == TREE:
        tree = sha
    else:
        raise ArchiveError(f"not a tree object: {rev.decode(errors='replace')[:200]}")
    if colon and subpath:
        tree = _lookup_path(store, tree, subpath)
    if colon:
        commit_id = None   # git archives ``rev:path`` as a plain tree
        mtime = int(time.time())
    return tree, commit_id, mtime


def _lookup_path(store, tree: bytes, path: bytes) -> bytes:
    digest = store.hash_algo.digest_size
    for part in [p for p in path.split(b"/") if p]:
        _, body = store.get_raw(tree)
        for name, mode, sha in iter_tree_entries_named(body, digest):
            if name == part:
                if mode & 0o170000 != DIR_MODE:
                    raise ArchiveError(f"not a tree object: {path.decode(errors='replace')}")
                tree = sha
                break
        else:
            raise ArchiveError(f"path '{path.decode(errors='replace')}' does not exist")
    return tree


def archive_stream(repo, treeish: bytes, fmt: str = "tar", prefix: bytes = b"",
                   paths: Sequence[bytes] = (), level: int = -1,
                   allow_unreachable: bool = False, umask: int = 0o002) -> Iterator[bytes]:
    """The archive of ``treeish`` in ``fmt`` (tar, tgz, tar.gz, zip), streamed."""
    if fmt not in FORMATS:
        raise ArchiveError(f"Unknown archive format '{fmt}'")
    tree, commit_id, mtime = resolve_treeish(repo, treeish, allow_unreachable)
    store = repo.object_store
    entries = iter_archive_entries(store, tree, paths)
    if prefix:
        entries = _prefixed(entries, prefix, tree)
    if fmt == "zip":
        return zip_stream(store, entries, mtime, commit_id, 6 if level < 0 else level)
    tar = tar_stream(store, entries, mtime, commit_id, umask)
    if fmt in ("tgz", "tar.gz"):
        return gzip_stream(tar, 6 if level < 0 else level)
    return tar


def _prefixed(entries, prefix: bytes, tree: bytes):
    if prefix.endswith(b"/"):
        yield prefix, DIR_MODE | 0o777, tree
    for path, mode, sha in entries:
        yield prefix + path, mode, sha
