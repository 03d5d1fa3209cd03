"""Object stores: where objects live (memory, or a repository's ``objects/``).

Every store offers the same interface: ``__contains__``, ``__getitem__``
(a parsed ``ShaFile``), ``get_raw`` (type number and body, the fast path),
``add_object``/``add_objects``, iteration over ids and a reachability walk.
``DiskObjectStore`` reads loose objects, packs and alternates.
"""

from __future__ import annotations

import os
import tempfile
import threading
from typing import Iterable, Iterator, Optional

from .errors import LooseObjectError, MissingObjectError, ObjectFormatError
from .graph import ReachabilityWalker
from .hashes import SHA1, HashAlgorithm
from .loose import decode_loose, encode_loose
from .objects import OBJECT_CLASSES, ObjectID, ShaFile, Tag, hash_object, object_class

TYPE_NUM_TO_NAME = {1: b"commit", 2: b"tree", 3: b"blob", 4: b"tag"}
TYPE_NAME_TO_NUM = {v: k for k, v in TYPE_NUM_TO_NAME.items()}


def _hexid(sha) -> bytes:
    if isinstance(sha, str):
        sha = sha.encode("ascii")
    if len(sha) in (20, 32):
        return sha.hex().encode("ascii")
    return sha


class BaseObjectStore:
    """Shared behaviour; subclasses implement ``get_raw``, ``contains`` and ``add_raw``."""

    hash_algo: HashAlgorithm = SHA1

    # -- what subclasses provide
    def get_raw(self, sha: bytes) -> tuple[int, bytes]:
        """(type number, body) of an object; MissingObjectError if absent."""
        raise NotImplementedError

    def contains(self, sha: bytes) -> bool:
        raise NotImplementedError

    def add_raw(self, type_num: int, body: bytes) -> ObjectID:
        raise NotImplementedError

    def __iter__(self) -> Iterator[ObjectID]:
        raise NotImplementedError

    # -- shared API
    def __contains__(self, sha) -> bool:
        return self.contains(_hexid(sha))

    def __getitem__(self, sha) -> ShaFile:
        sha = _hexid(sha)
        type_num, body = self.get_raw(sha)
        obj = object_class(type_num).from_string(body, self.hash_algo)
        obj._id = sha
        return obj

    def get(self, sha, default=None):
        try:
            return self[sha]
        except KeyError:
            return default

    def add_object(self, obj: ShaFile) -> ObjectID:
        return self.add_raw(obj.type_num, obj.as_raw_string())

    def add_objects(self, objects: Iterable, progress=None) -> None:
        for item in objects:
            obj = item[0] if isinstance(item, tuple) else item
            self.add_object(obj)

    def hash_raw(self, type_num: int, body: bytes) -> ObjectID:
        return hash_object(TYPE_NUM_TO_NAME[type_num], body, self.hash_algo)

    def peel_sha(self, sha: bytes) -> ShaFile:
        """Follow tags until a non-tag object."""
        obj = self[sha]
        seen = set()
        while isinstance(obj, Tag):
            if obj.id in seen:
                raise ObjectFormatError("tag loop")
            seen.add(obj.id)
            obj = self[obj.object[1]]
        return obj

    def iter_reachable(self, include: Iterable[bytes], exclude: Iterable[bytes] = (),
                       shallow: Iterable[bytes] = ()) -> Iterator[tuple[bytes, int, Optional[bytes]]]:
        """Yield (id, type number, path) of objects reachable from ``include`` and not ``exclude``."""
        walker = ReachabilityWalker(self.get_raw, self.hash_algo, has=self.contains,
                                    packs=self._walk_packs())
        return walker.walk([_hexid(s) for s in include], [_hexid(s) for s in exclude], shallow)

    def _walk_packs(self):
        """Packs a walk may read directly (faster tree scans); None for other stores."""
        return None

    def find_missing_objects(self, haves: Iterable[bytes], wants: Iterable[bytes],
                             shallow: Iterable[bytes] = ()) -> Iterator[tuple[bytes, Optional[bytes]]]:
        """Dulwich-style: (id, path) of objects the wants need beyond the haves."""
        for sha, _, path in self.iter_reachable(wants, haves, shallow):
            yield sha, path

    def generate_pack_data(self, have, want, ofs_delta: bool = True, progress=None, **kwargs):
        """``(count, pack chunks)`` for what ``want`` needs beyond ``have`` (for send_pack)."""
        from .client.packgen import generate_pack_data
        return generate_pack_data(self, have, want, ofs_delta=ofs_delta, progress=progress, **kwargs)

    def iter_tree_contents(self, tree_id: bytes, include_trees: bool = False):
        """Yield TreeEntry objects for every file under a tree, recursively."""
        from .objects import TreeEntry
        from .graph import iter_tree_entries_named
        stack = [(b"", tree_id)]
        while stack:
            prefix, sha = stack.pop()
            type_num, body = self.get_raw(sha)
            for name, mode, child in iter_tree_entries_named(body, self.hash_algo.digest_size):
                path = prefix + b"/" + name if prefix else name
                if mode & 0o170000 == 0o40000:
                    if include_trees:
                        yield TreeEntry(path, mode, child)
                    stack.append((path, child))
                else:
                    yield TreeEntry(path, mode, child)

    def close(self) -> None:
        pass


class MemoryObjectStore(BaseObjectStore):
    """Objects in a dict; for tests, MemoryRepo and staging."""

    def __init__(self, hash_algo: HashAlgorithm = SHA1) -> None:
        self.hash_algo = hash_algo
        self._data: dict[bytes, tuple[int, bytes]] = {}

    def get_raw(self, sha: bytes) -> tuple[int, bytes]:
        try:
            return self._data[_hexid(sha)]
        except KeyError:
            raise MissingObjectError(sha) from None

    def contains(self, sha: bytes) -> bool:
        return sha in self._data

    def add_raw(self, type_num: int, body: bytes) -> ObjectID:
        if type_num not in TYPE_NUM_TO_NAME:
            raise ObjectFormatError(f"bad object type {type_num}")
        sha = self.hash_raw(type_num, body)
        self._data[sha] = (type_num, bytes(body))
        return sha

    def __iter__(self) -> Iterator[ObjectID]:
        return iter(list(self._data))

    def __len__(self) -> int:
        return len(self._data)

    # -- packs: parsed and added as objects
    def add_pack_stream(self, source, thin: bool = False, progress=None):
        """Index a pack stream (read callable, file or chunks) and add its objects.

        Returns the number of objects added.  ``thin`` completes REF_DELTA
        bases from this store.  Nothing is added if the pack is bad.
        """
        from .pack_indexer import index_pack_stream
        from .pack_indexer import load_pack_objects
        with tempfile.TemporaryDirectory(prefix="puregit-pack-") as tmp:
            result = index_pack_stream(source, tmp, self.hash_algo, fix_thin=thin,
                                       resolve_ext_ref=_ext_ref_resolver(self) if thin else None,
                                       progress=progress)
            objects = load_pack_objects(result, tmp, self.hash_algo)
        self._data.update(objects)
        return len(objects)

    def add_thin_pack(self, read_all, read_some=None, progress=None):
        """Dulwich's name: add a (possibly thin) pack read from ``read_some``/``read_all``."""
        return self.add_pack_stream(read_some or read_all, thin=True, progress=progress)

    def add_pack(self):
        """Dulwich style: (file, commit, abort); commit() parses what was written."""
        import io
        buf = io.BytesIO()

        def commit():
            data = buf.getvalue()
            return self.add_pack_stream([data]) if data else None

        def abort():
            buf.seek(0)
            buf.truncate()

        return buf, commit, abort


class DiskObjectStore(BaseObjectStore):
    """A repository's ``objects/`` directory: loose objects, packs, alternates."""

    def __init__(self, path: str | os.PathLike, hash_algo: HashAlgorithm = SHA1,
                 loose_compression_level: int = 1, _alternate_depth: int = 0) -> None:
        self.path = os.fspath(path)
        self.hash_algo = hash_algo
        self.loose_compression_level = loose_compression_level
        self.pack_dir = os.path.join(self.path, "pack")
        self._alternate_depth = _alternate_depth
        self._alternates: Optional[list[DiskObjectStore]] = None
        self._lock = threading.Lock()
        self._pack_cache = None  # (dir stat key, tuple of packs), replaced in one step

    @classmethod
    def init(cls, path: str | os.PathLike, hash_algo: HashAlgorithm = SHA1) -> "DiskObjectStore":
        path = os.fspath(path)
        os.makedirs(os.path.join(path, "info"), exist_ok=True)
        os.makedirs(os.path.join(path, "pack"), exist_ok=True)
        return cls(path, hash_algo)

    # -- loose objects
    def _loose_path(self, sha: bytes) -> str:
        h = sha.decode("ascii")
        return os.path.join(self.path, h[:2], h[2:])

    def _read_loose(self, sha: bytes) -> Optional[tuple[int, bytes]]:
        try:
            with open(self._loose_path(sha), "rb") as f:
                data = f.read()
        except (FileNotFoundError, NotADirectoryError):
            return None
        type_name, body = decode_loose(data)
        return TYPE_NAME_TO_NUM[type_name], body

    def contains_loose(self, sha: bytes) -> bool:
        return os.path.isfile(self._loose_path(_hexid(sha)))

    def add_raw(self, type_num: int, body: bytes) -> ObjectID:
        """Write a loose object atomically (temp file, then rename into place)."""
        if type_num not in TYPE_NUM_TO_NAME:
            raise ObjectFormatError(f"bad object type {type_num}")
        sha = self.hash_raw(type_num, body)
        path = self._loose_path(sha)
        if os.path.exists(path) or self.contains_packed(sha):
            return sha
        data = encode_loose(TYPE_NUM_TO_NAME[type_num], body, self.loose_compression_level)
        write_file_atomically(path, data, mode=0o444)
        return sha

    def iter_loose(self) -> Iterator[ObjectID]:
        try:
            names = os.listdir(self.path)
        except FileNotFoundError:
            return
        for d in sorted(names):
            if len(d) != 2:
                continue
            try:
                int(d, 16)
                entries = os.listdir(os.path.join(self.path, d))
            except (ValueError, NotADirectoryError, FileNotFoundError):
                continue
            for rest in entries:
                if len(rest) == self.hash_algo.hex_size - 2 and not rest.startswith("tmp"):
                    yield ObjectID((d + rest).encode("ascii"))

    # -- packs (the pack module supplies the Pack class)
    @property
    def packs(self) -> tuple:
        """The packs in ``objects/pack``, re-listed when the directory changes."""
        try:
            st = os.stat(self.pack_dir)
            key = (st.st_mtime_ns, st.st_ino, st.st_size)
        except FileNotFoundError:
            return ()
        cache = self._pack_cache
        if cache is not None and cache[0] == key:
            return cache[1]
        with self._lock:
            cache = self._pack_cache
            if cache is not None and cache[0] == key:
                return cache[1]
            old = {p.basename: p for p in cache[1]} if cache else {}
            packs = []
            for name in sorted(os.listdir(self.pack_dir)):
                if not name.endswith(".idx") or not name.startswith("pack-"):
                    continue
                base = os.path.join(self.pack_dir, name[:-4])
                if not os.path.exists(base + ".pack"):
                    continue
                pack = old.pop(base, None) or self._open_pack(base)
                if pack is not None:
                    packs.append(pack)
            packs.sort(key=lambda p: -p.mtime)
            self._pack_cache = (key, tuple(packs))
            return self._pack_cache[1]

    def _open_pack(self, basename: str):
        try:
            from .pack import Pack
        except ImportError:
            return None
        pack = Pack(basename, hash_algo=self.hash_algo)
        pack.mtime = os.path.getmtime(basename + ".pack")
        return pack

    def _walk_packs(self):
        return self.packs

    def contains_packed(self, sha: bytes) -> bool:
        return any(sha in p for p in self.packs)

    # -- adding packs (indexed under temp names; .pack renamed first, .idx last)
    def _installed(self, basename: str):
        """The Pack for a just-installed basename, from a freshly published list."""
        self._pack_cache = None  # dir mtimes are coarse: force a re-list
        for pack in self.packs:
            if pack.basename == basename:
                return pack
        return self._open_pack(basename)

    def add_pack_stream(self, source, thin: bool = False, progress=None):
        """Index a pack stream into ``objects/pack`` and return its Pack (None if empty).

        ``source`` is a ``read(n)`` callable, a file, or an iterable of byte
        chunks.  With ``thin``, REF_DELTA bases missing from the pack are
        taken from this store and appended.  A bad pack raises a PackError and
        leaves the store untouched (no temp files).
        """
        from .pack_indexer import index_pack_stream, install_pack
        result = index_pack_stream(source, self.pack_dir, self.hash_algo, fix_thin=thin,
                                   resolve_ext_ref=_ext_ref_resolver(self) if thin else None,
                                   progress=progress)
        if result.num_objects == 0:
            _unlink_quietly(result.pack_path, result.idx_path)
            return None
        return self._installed(install_pack(result, self.pack_dir))

    def add_thin_pack(self, read_all, read_some=None, progress=None):
        """Dulwich's name: add a thin pack, completing it from this store."""
        return self.add_pack_stream(read_some or read_all, thin=True, progress=progress)

    def add_pack(self):
        """Dulwich style: (file, commit, abort) for writing a complete pack.

        ``commit()`` indexes the written file in place, installs it and returns
        the Pack (None if nothing was written); ``abort()`` removes it.
        """
        from .pack_indexer import index_pack_file, install_pack
        os.makedirs(self.pack_dir, exist_ok=True)
        fd, path = tempfile.mkstemp(dir=self.pack_dir, prefix="tmp_pack_")
        f = os.fdopen(fd, "w+b")

        def abort():
            if not f.closed:
                f.close()
            _unlink_quietly(path)

        def commit():
            f.flush()
            f.close()
            try:
                if os.path.getsize(path) == 0:
                    _unlink_quietly(path)
                    return None
                result = index_pack_file(path, self.pack_dir, self.hash_algo)
            except BaseException:
                _unlink_quietly(path)
                raise
            if result.num_objects == 0:
                _unlink_quietly(result.pack_path, result.idx_path)
                return None
            return self._installed(install_pack(result, self.pack_dir))

        return f, commit, abort

    # -- alternates
    @property
    def alternates(self) -> list["DiskObjectStore"]:
        if self._alternates is None:
            alts = []
            if self._alternate_depth < 5:
                for line in self._read_alternates_file():
                    alts.append(DiskObjectStore(line, self.hash_algo,
                                                _alternate_depth=self._alternate_depth + 1))
            self._alternates = alts
        return self._alternates

    def _read_alternates_file(self) -> list[str]:
        try:
            with open(os.path.join(self.path, "info", "alternates"), "rb") as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            return []
        out = []
        for line in lines:
            line = line.strip()
            if not line or line.startswith(b"#"):
                continue
            p = os.fsdecode(line)
            if not os.path.isabs(p):
                p = os.path.normpath(os.path.join(self.path, p))
            out.append(p)
        return out

    def add_alternate_path(self, path: str) -> None:
        """Append ``path`` to ``info/alternates``."""
        os.makedirs(os.path.join(self.path, "info"), exist_ok=True)
        with open(os.path.join(self.path, "info", "alternates"), "ab") as f:
            f.write(os.fsencode(path) + b"\n")
        self._alternates = None

    # -- the common interface
    def get_raw(self, sha: bytes) -> tuple[int, bytes]:
        sha = _hexid(sha)
        for pack in self.packs:
            try:
                return pack.get_raw(sha)  # one index lookup, not a test then a fetch
            except MissingObjectError:
                continue
        if len(sha) == self.hash_algo.hex_size:
            loose = self._read_loose(sha)
            if loose is not None:
                return loose
        for alt in self.alternates:
            try:
                return alt.get_raw(sha)
            except KeyError:
                pass
        raise MissingObjectError(sha)

    def contains(self, sha: bytes) -> bool:
        if self.contains_packed(sha):
            return True
        if len(sha) == self.hash_algo.hex_size and os.path.isfile(self._loose_path(sha)):
            return True
        return any(alt.contains(sha) for alt in self.alternates)

    def __iter__(self) -> Iterator[ObjectID]:
        seen = set()
        for pack in self.packs:
            for sha in pack:
                if sha not in seen:
                    seen.add(sha)
                    yield sha
        for sha in self.iter_loose():
            if sha not in seen:
                seen.add(sha)
                yield sha

    def close(self) -> None:
        cache = self._pack_cache
        if cache:
            for p in cache[1]:
                p.close()
        self._pack_cache = None


def _ext_ref_resolver(store):
    """A thin-pack base lookup (binary id -> (type, body) or None) over ``store``."""
    def resolve(binsha: bytes):
        try:
            return store.get_raw(binsha.hex().encode("ascii"))
        except KeyError:
            return None
    return resolve


def _unlink_quietly(*paths) -> None:
    for path in paths:
        if path:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass


def write_file_atomically(path: str, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to a temp file beside ``path`` and rename it into place."""
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="tmp_obj_")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


__all__ = ["BaseObjectStore", "MemoryObjectStore", "DiskObjectStore", "OBJECT_CLASSES",
           "LooseObjectError", "write_file_atomically"]
