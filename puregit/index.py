"""The index (staging area): ``.git/index`` versions 2, 3 and 4.

Reads versions 2-4 and writes 2 or 3 (4 when asked), keeping what git needs:
entries with their stat data, stages, extended flags, and the trailing
checksum.  Optional extensions (``TREE``, ``REUC``, ...) are read and skipped
and not written back; git rebuilds them.  ``commit_tree`` turns entries into
tree objects.
"""

from __future__ import annotations

import os
import stat
import struct
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Optional

from .errors import IndexFormatError
from .hashes import SHA1, HashAlgorithm
from .objects import Blob, ObjectID, Tree, hex_to_sha, sha_to_hex

SIGNATURE = b"DIRC"
FLAG_ASSUME_VALID = 0x8000
FLAG_EXTENDED = 0x4000
FLAG_STAGE_MASK = 0x3000
FLAG_STAGE_SHIFT = 12
FLAG_NAME_MASK = 0x0FFF
EXTENDED_SKIP_WORKTREE = 0x4000
EXTENDED_INTENT_TO_ADD = 0x2000

_STAT = struct.Struct(">10I")


@dataclass
class IndexEntry:
    """One staged path: stat data, mode, object id and flags."""

    ctime: tuple[int, int] | int | float
    mtime: tuple[int, int] | int | float
    dev: int
    ino: int
    mode: int
    uid: int
    gid: int
    size: int
    sha: bytes  # hex id
    flags: int = 0
    extended_flags: int = 0

    @property
    def stage(self) -> int:
        return (self.flags & FLAG_STAGE_MASK) >> FLAG_STAGE_SHIFT


def _split_time(t) -> tuple[int, int]:
    if isinstance(t, tuple):
        return int(t[0]), int(t[1])
    if isinstance(t, float):
        sec = int(t)
        return sec, int((t - sec) * 1e9)
    return int(t), 0


def cleanup_mode(mode: int) -> int:
    """Normalize a file mode to one Git stores (644, 755, symlink, gitlink, dir)."""
    if stat.S_ISLNK(mode):
        return 0o120000
    if stat.S_ISDIR(mode):
        return 0o40000
    if mode & 0o170000 == 0o160000:
        return 0o160000
    return 0o100755 if mode & 0o100 else 0o100644


def index_entry_from_stat(st: os.stat_result, hex_sha: bytes, mode: Optional[int] = None) -> IndexEntry:
    if mode is None:
        mode = cleanup_mode(st.st_mode)
    return IndexEntry(
        ctime=(int(st.st_ctime), st.st_ctime_ns % 1_000_000_000),
        mtime=(int(st.st_mtime), st.st_mtime_ns % 1_000_000_000),
        dev=st.st_dev & 0xFFFFFFFF, ino=st.st_ino & 0xFFFFFFFF, mode=mode,
        uid=st.st_uid & 0xFFFFFFFF, gid=st.st_gid & 0xFFFFFFFF,
        size=st.st_size & 0xFFFFFFFF, sha=hex_sha)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """The offset varint of index v4 (same as OFS_DELTA's encoding)."""
    if pos >= len(data):
        raise IndexFormatError("truncated index entry")
    c = data[pos]
    pos += 1
    value = c & 0x7F
    while c & 0x80:
        if pos >= len(data):
            raise IndexFormatError("truncated index entry")
        c = data[pos]
        pos += 1
        value = ((value + 1) << 7) | (c & 0x7F)
    return value, pos


def _write_varint(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        value -= 1
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def parse_index(data: bytes, hash_algo: HashAlgorithm = SHA1) -> tuple[int, list[tuple[bytes, IndexEntry]]]:
    """Parse an index file's bytes into (version, [(path, entry)])."""
    n = hash_algo.digest_size
    if len(data) < 12 + n:
        raise IndexFormatError("index file is too short")
    if data[:4] != SIGNATURE:
        raise IndexFormatError("index file has a bad signature")
    if hash_algo.new(data[:-n]).digest() != data[-n:]:
        raise IndexFormatError("index file checksum mismatch")
    version, count = struct.unpack(">II", data[4:12])
    if version not in (2, 3, 4):
        raise IndexFormatError(f"unsupported index version {version}")
    end = len(data) - n
    pos = 12
    entries = []
    prev_name = b""
    for _ in range(count):
        if pos + 40 + n + 2 > end:
            raise IndexFormatError("truncated index entry")
        (c_s, c_n, m_s, m_n, dev, ino, mode, uid, gid, size) = _STAT.unpack_from(data, pos)
        sha = sha_to_hex(data[pos + 40:pos + 40 + n])
        (flags,) = struct.unpack_from(">H", data, pos + 40 + n)
        p = pos + 42 + n
        ext = 0
        if flags & FLAG_EXTENDED:
            if version < 3:
                raise IndexFormatError("extended flag in a version 2 index")
            if p + 2 > end:
                raise IndexFormatError("truncated index entry")
            (ext,) = struct.unpack_from(">H", data, p)
            p += 2
        if version == 4:
            strip, p = _read_varint(data, p)
            if strip > len(prev_name):
                raise IndexFormatError("bad path prefix length in index v4")
            nul = data.find(b"\0", p, end)
            if nul < 0:
                raise IndexFormatError("unterminated path in index")
            name = prev_name[:len(prev_name) - strip] + data[p:nul]
            pos = nul + 1
        else:
            nul = data.find(b"\0", p, end)
            if nul < 0:
                raise IndexFormatError("unterminated path in index")
            name = data[p:nul]
            entry_len = nul - pos + 1
            pos += (entry_len + 7) & ~7
        if pos > end:
            raise IndexFormatError("truncated index entry")
        prev_name = name
        entries.append((name, IndexEntry((c_s, c_n), (m_s, m_n), dev, ino, mode, uid, gid,
                                         size, sha, flags & ~FLAG_NAME_MASK, ext)))
    # extensions
    while pos < end:
        if pos + 8 > end:
            raise IndexFormatError("truncated index extension")
        sig = data[pos:pos + 4]
        (size,) = struct.unpack_from(">I", data, pos + 4)
        if pos + 8 + size > end:
            raise IndexFormatError("index extension runs past the end")
        if not (65 <= sig[0] <= 90):
            raise IndexFormatError(f"unsupported required index extension {sig!r}")
        pos += 8 + size
    return version, entries


def serialize_index(entries: Iterable[tuple[bytes, IndexEntry]], version: int = 2,
                    hash_algo: HashAlgorithm = SHA1) -> bytes:
    """Serialize entries (sorted by path and stage) into index file bytes."""
    items = sorted(entries, key=lambda kv: (kv[0], kv[1].stage))
    if version == 2 and any(e.extended_flags for _, e in items):
        version = 3
    parts = [SIGNATURE, struct.pack(">II", version, len(items))]
    prev = b""
    for name, e in items:
        c_s, c_n = _split_time(e.ctime)
        m_s, m_n = _split_time(e.mtime)
        flags = (e.flags & ~FLAG_NAME_MASK & ~FLAG_EXTENDED) | min(len(name), FLAG_NAME_MASK)
        if e.extended_flags:
            flags |= FLAG_EXTENDED
        head = _STAT.pack(c_s & 0xFFFFFFFF, c_n, m_s & 0xFFFFFFFF, m_n, e.dev & 0xFFFFFFFF,
                          e.ino & 0xFFFFFFFF, e.mode, e.uid & 0xFFFFFFFF, e.gid & 0xFFFFFFFF,
                          e.size & 0xFFFFFFFF)
        entry = [head, hex_to_sha(e.sha), struct.pack(">H", flags)]
        if e.extended_flags:
            entry.append(struct.pack(">H", e.extended_flags))
        if version == 4:
            common = os.path.commonprefix([prev, name])
            entry.append(_write_varint(len(prev) - len(common)))
            entry.append(name[len(common):] + b"\0")
            parts.extend(entry)
        else:
            body = b"".join(entry) + name
            pad = 8 - (len(body) % 8)
            parts.append(body + b"\0" * pad)
        prev = name
    data = b"".join(parts)
    return data + hash_algo.new(data).digest()


class Index:
    """An index file: a mapping of path -> IndexEntry (stage 0 entries by default)."""

    def __init__(self, filename: str | os.PathLike | None, read: bool = True,
                 version: int = 2, hash_algo: HashAlgorithm = SHA1) -> None:
        self._filename = os.fspath(filename) if filename is not None else None
        self.version = version
        self.hash_algo = hash_algo
        self._entries: dict[bytes, IndexEntry] = {}
        self._conflicts: dict[tuple[bytes, int], IndexEntry] = {}
        if read and self._filename is not None and os.path.exists(self._filename):
            self.read()

    @property
    def path(self) -> Optional[str]:
        return self._filename

    def read(self) -> None:
        with open(self._filename, "rb") as f:  # type: ignore[arg-type]
            data = f.read()
        self.version, entries = parse_index(data, self.hash_algo)
        self._entries.clear()
        self._conflicts.clear()
        for name, e in entries:
            if e.stage:
                self._conflicts[(name, e.stage)] = e
            else:
                self._entries[name] = e

    def write(self) -> None:
        """Write under ``index.lock`` and rename, as git does."""
        if self._filename is None:
            raise IndexFormatError("index has no file name")
        data = serialize_index(self._all_entries(), self.version, self.hash_algo)
        lock = self._filename + ".lock"
        fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(lock, self._filename)
        except BaseException:
            try:
                os.unlink(lock)
            except FileNotFoundError:
                pass
            raise

    def _all_entries(self) -> list[tuple[bytes, IndexEntry]]:
        out = list(self._entries.items())
        out += [(name, e) for (name, _), e in self._conflicts.items()]
        return out

    def has_conflicts(self) -> bool:
        return bool(self._conflicts)

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[bytes]:
        return iter(sorted(self._entries))

    def __contains__(self, path) -> bool:
        return _path(path) in self._entries

    def __getitem__(self, path) -> IndexEntry:
        return self._entries[_path(path)]

    def __setitem__(self, path, entry: IndexEntry) -> None:
        path = _path(path)
        if not path or path.startswith(b"/") or b"\0" in path:
            raise IndexFormatError(f"invalid index path {path!r}")
        self._entries[path] = entry

    def __delitem__(self, path) -> None:
        del self._entries[_path(path)]

    def items(self) -> list[tuple[bytes, IndexEntry]]:
        return sorted(self._entries.items())

    def iterobjects(self) -> Iterator[tuple[bytes, bytes, int]]:
        """(path, hex id, mode) for each stage-0 entry."""
        for path, e in self.items():
            yield path, e.sha, e.mode

    def paths(self) -> list[bytes]:
        return sorted(self._entries)

    def clear(self) -> None:
        self._entries.clear()
        self._conflicts.clear()

    def commit(self, object_store) -> ObjectID:
        """Write the trees for the index into ``object_store``; return the root tree id."""
        if self._conflicts:
            raise IndexFormatError("cannot write a tree from an index with conflicts")
        return commit_tree(object_store, self.iterobjects())


def _path(path) -> bytes:
    return os.fsencode(path) if isinstance(path, str) else path


def commit_tree(object_store, blobs: Iterable[tuple[bytes, bytes, int]]) -> ObjectID:
    """Build and store trees from (path, hex id, mode) triples; return the root id."""
    root: dict = {}
    for path, sha, mode in blobs:
        parts = path.split(b"/")
        node = root
        for part in parts[:-1]:
            sub = node.setdefault(part, {})
            if not isinstance(sub, dict):
                raise IndexFormatError(f"path {path!r} conflicts with a file")
            node = sub
        if isinstance(node.get(parts[-1]), dict):
            raise IndexFormatError(f"path {path!r} conflicts with a directory")
        node[parts[-1]] = (mode, sha)

    def build(node: dict) -> bytes:
        tree = Tree()
        tree.hash_algo = object_store.hash_algo
        for name, value in node.items():
            if isinstance(value, dict):
                tree.add(name, 0o40000, build(value))
            else:
                tree.add(name, value[0], value[1])
        object_store.add_object(tree)
        return tree.id

    return ObjectID(build(root))


def blob_from_path_and_stat(path: bytes | str, st: os.stat_result) -> Blob:
    """Read a working-tree file (or symlink target) into a Blob."""
    if stat.S_ISLNK(st.st_mode):
        return Blob.from_data(os.fsencode(os.readlink(path)))
    with open(path, "rb") as f:
        return Blob.from_data(f.read())


def validate_path_element(element: bytes) -> bool:
    """Refuse names that would let a tree write outside the work tree."""
    low = element.lower()
    return element not in (b"", b".", b"..") and low != b".git" and b"/" not in element \
        and b"\0" not in element and b"\\" not in element


def build_index_from_tree(root_path: str | bytes, index_path: str, object_store, tree_id: bytes,
                          honor_filemode: bool = True) -> Index:
    """Check out ``tree_id`` into ``root_path`` and write a matching index."""
    root = os.fsencode(root_path)
    index = Index(index_path, read=False)
    for entry in object_store.iter_tree_contents(tree_id):
        parts = entry.path.split(b"/")
        if not all(validate_path_element(p) for p in parts):
            raise IndexFormatError(f"refusing to check out unsafe path {entry.path!r}")
        full = os.path.join(root, *parts)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        if entry.mode == 0o160000:
            os.makedirs(full, exist_ok=True)
            st = os.lstat(full)
        else:
            body = object_store.get_raw(entry.sha)[1]
            if os.path.lexists(full):
                os.unlink(full)
            if entry.mode == 0o120000:
                os.symlink(body, full)
            else:
                with open(full, "wb") as f:
                    f.write(body)
                if entry.mode == 0o100755 and honor_filemode:
                    os.chmod(full, 0o755)
            st = os.lstat(full)
        index[entry.path] = index_entry_from_stat(st, entry.sha, entry.mode)
    index.write()
    return index
