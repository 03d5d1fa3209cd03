"""Git objects: blobs, trees, commits and tags, parsed and serialized byte-exactly.

An object parsed from bytes keeps those bytes and serializes back to them
unchanged until a field is modified; after a change it is rebuilt from its
fields in the order cgit writes them.  Parsing is strict enough to reject what
``git fsck`` would call broken, and tolerant of what cgit accepts (extra
headers such as ``gpgsig`` and ``mergetag``, ``encoding``, multi-line headers,
odd timezones, zero-padded modes).
"""

from __future__ import annotations

import binascii
import posixpath
import stat
import zlib
from typing import Iterable, Iterator, NewType, Optional

from .errors import InvalidObjectId, ObjectFormatError
from .hashes import SHA1, HashAlgorithm

ObjectID = NewType("ObjectID", bytes)
"""A hex object id (40 digits for SHA-1, 64 for SHA-256), as bytes."""

RawObjectID = NewType("RawObjectID", bytes)
"""A binary object id (20 or 32 bytes)."""

ZERO_SHA = b"0" * 40

S_IFGITLINK = 0o160000

BEGIN_PGP_SIGNATURE = b"-----BEGIN PGP SIGNATURE-----"
_SIGNATURE_STARTS = (
    BEGIN_PGP_SIGNATURE,
    b"-----BEGIN SSH SIGNATURE-----",
    b"-----BEGIN SIGNED MESSAGE-----",
)

_HEX = frozenset(b"0123456789abcdefABCDEF")


# --- ids ------------------------------------------------------------------

def hex_to_sha(hex_id: bytes | str) -> bytes:
    """Turn a hex id into its binary form, refusing anything but 40/64 hex digits."""
    if isinstance(hex_id, str):
        hex_id = hex_id.encode("ascii", "replace")
    if len(hex_id) not in (40, 64):
        raise InvalidObjectId(f"not a hex object id: {hex_id!r}")
    try:
        return binascii.unhexlify(hex_id)
    except (binascii.Error, ValueError):
        raise InvalidObjectId(f"not a hex object id: {hex_id!r}") from None


def sha_to_hex(sha: bytes) -> bytes:
    """Turn a binary id into lower-case hex bytes."""
    if len(sha) not in (20, 32):
        raise InvalidObjectId(f"not a binary object id: {sha!r}")
    return binascii.hexlify(sha)


def valid_hexsha(hex_id: bytes | str) -> bool:
    if isinstance(hex_id, str):
        hex_id = hex_id.encode("ascii", "replace")
    return len(hex_id) in (40, 64) and all(c in _HEX for c in hex_id)


def check_hexsha(hex_id: bytes, what: str = "id") -> bytes:
    """Return ``hex_id`` lower-cased, or raise ObjectFormatError."""
    if not valid_hexsha(hex_id):
        raise ObjectFormatError(f"bad {what}: {hex_id!r}")
    return hex_id.lower()


# --- identities and times ------------------------------------------------

def parse_timezone(text: bytes) -> tuple[int, bool]:
    """Parse ``+HHMM``/``-HHMM`` into (offset seconds, negative-zero flag).

    Git keeps ``-0000`` distinct from ``+0000``; the flag preserves it.
    """
    if len(text) < 2 or text[:1] not in b"+-" or not text[1:].isdigit():
        raise ObjectFormatError(f"bad timezone {text!r}")
    sign = -1 if text[:1] == b"-" else 1
    value = int(text[1:])
    hours, minutes = divmod(value, 100)
    return sign * (hours * 3600 + minutes * 60), (sign < 0 and value == 0)


def format_timezone(offset: int, negative_zero: bool = False) -> bytes:
    if offset % 60:
        raise ObjectFormatError("timezone offsets must be whole minutes")
    sign = "-" if offset < 0 or (offset == 0 and negative_zero) else "+"
    offset = abs(offset)
    return f"{sign}{offset // 3600:02d}{(offset // 60) % 60:02d}".encode("ascii")


def parse_identity_time(value: bytes) -> tuple[bytes, Optional[int], Optional[int], bool]:
    """Split ``Name <email> 1234 +0000`` into (identity, time, tz, tz_neg_zero)."""
    end = value.rfind(b">")
    if end < 0 or value.find(b"<") < 0:
        raise ObjectFormatError(f"bad identity line {value!r}")
    ident = value[: end + 1]
    rest = value[end + 1:].split()
    if not rest:
        return ident, None, None, False
    try:
        when = int(rest[0])
    except ValueError:
        raise ObjectFormatError(f"bad timestamp in {value!r}") from None
    if len(rest) < 2:
        raise ObjectFormatError(f"missing timezone in {value!r}")
    tz, neg = parse_timezone(rest[1])
    return ident, when, tz, neg


def format_identity_time(ident: bytes, when: int, tz: int, neg_zero: bool = False) -> bytes:
    return ident + b" " + str(int(when)).encode("ascii") + b" " + format_timezone(tz, neg_zero)


def _as_bytes(value, what: str) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"{what} must be bytes or str, not {type(value).__name__}")


# --- object base ----------------------------------------------------------

class ShaFile:
    """Base of every Git object.

    ``_raw`` holds the serialized body (without the ``type size\\0`` header);
    it is ``None`` while fields have changed and the body must be rebuilt.
    """

    type_name: bytes = b""
    type_num: int = 0
    __slots__ = ("_raw", "_id", "hash_algo")

    def __init__(self) -> None:
        self._raw: Optional[bytes] = None
        self._id: Optional[bytes] = None
        self.hash_algo: HashAlgorithm = SHA1

    # construction
    @classmethod
    def from_string(cls, data: bytes, hash_algo: HashAlgorithm = SHA1):
        """Parse the body of an object of this class."""
        obj = cls.__new__(cls)
        ShaFile.__init__(obj)
        obj.hash_algo = hash_algo
        obj._init_fields()
        obj._deserialize(bytes(data))
        obj._raw = bytes(data)
        return obj

    @classmethod
    def from_raw_string(cls, type_num: int, data: bytes, sha: Optional[bytes] = None,
                        hash_algo: HashAlgorithm = SHA1) -> "ShaFile":
        """Parse a body whose type is given as a pack type number."""
        try:
            klass = OBJECT_CLASSES[type_num]
        except KeyError:
            raise ObjectFormatError(f"unknown object type number {type_num}") from None
        obj = klass.from_string(data, hash_algo)
        if sha is not None:
            obj._id = sha if len(sha) == hash_algo.hex_size else sha_to_hex(sha)
        return obj

    @classmethod
    def from_raw_chunks(cls, type_num: int, chunks: Iterable[bytes], sha=None,
                        hash_algo: HashAlgorithm = SHA1) -> "ShaFile":
        return cls.from_raw_string(type_num, b"".join(chunks), sha, hash_algo)

    def _init_fields(self) -> None:
        raise NotImplementedError

    def _deserialize(self, data: bytes) -> None:
        raise NotImplementedError

    def _serialize(self) -> bytes:
        raise NotImplementedError

    def _changed(self) -> None:
        self._raw = None
        self._id = None

    # serialization
    def as_raw_string(self) -> bytes:
        """The object's body as Git stores it (no header)."""
        if self._raw is None:
            self._raw = self._serialize()
        return self._raw

    def as_raw_chunks(self) -> list[bytes]:
        return [self.as_raw_string()]

    def __bytes__(self) -> bytes:
        return self.as_raw_string()

    def raw_length(self) -> int:
        return len(self.as_raw_string())

    def header(self) -> bytes:
        return self.type_name + b" " + str(self.raw_length()).encode("ascii") + b"\0"

    def as_legacy_object(self, level: int = -1) -> bytes:
        """The zlib-compressed loose-object form (header + body)."""
        return zlib.compress(self.header() + self.as_raw_string(), level)

    def sha(self):
        """A hash object over header + body (hashlib API)."""
        h = self.hash_algo.new(self.header())
        h.update(self.as_raw_string())
        return h

    @property
    def id(self) -> ObjectID:
        """The hex id of the object."""
        if self._id is None:
            self._id = self.sha().hexdigest().encode("ascii")
        return ObjectID(self._id)

    def check(self) -> None:
        """Re-parse the body strictly; raises ObjectFormatError if broken."""
        type(self).from_string(self.as_raw_string(), self.hash_algo)

    def copy(self):
        return type(self).from_string(self.as_raw_string(), self.hash_algo)

    def __eq__(self, other) -> bool:
        return isinstance(other, ShaFile) and self.id == other.id

    def __ne__(self, other) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash(self.id)

    def __lt__(self, other) -> bool:
        return self.id < other.id

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id.decode('ascii')}>"


# --- blob -----------------------------------------------------------------

class Blob(ShaFile):
    """File contents."""

    type_name = b"blob"
    type_num = 3
    __slots__ = ()

    def __init__(self) -> None:
        super().__init__()
        self._raw = b""

    def _init_fields(self) -> None:
        pass

    def _deserialize(self, data: bytes) -> None:
        pass

    def _serialize(self) -> bytes:
        return b""

    def _changed(self) -> None:
        self._id = None  # the body is the data itself; nothing to rebuild

    @property
    def data(self) -> bytes:
        return self._raw  # type: ignore[return-value]

    @data.setter
    def data(self, value: bytes) -> None:
        self._raw = _as_bytes(value, "blob data")
        self._id = None

    @property
    def chunked(self) -> list[bytes]:
        return [self._raw]  # type: ignore[list-item]

    @chunked.setter
    def chunked(self, chunks: list[bytes]) -> None:
        self.data = b"".join(chunks)

    @classmethod
    def from_data(cls, data: bytes | str) -> "Blob":
        b = cls()
        b.data = data
        return b

    def splitlines(self) -> list[bytes]:
        return self.data.splitlines(True)


# --- tree -----------------------------------------------------------------

class TreeEntry(tuple):
    """(path, mode, sha) named tuple, as ``Tree.items()`` yields."""

    __slots__ = ()

    def __new__(cls, path: bytes, mode: int, sha: bytes):
        return tuple.__new__(cls, (path, mode, sha))

    path = property(lambda self: self[0])
    mode = property(lambda self: self[1])
    sha = property(lambda self: self[2])

    def in_path(self, prefix: bytes) -> "TreeEntry":
        return TreeEntry(posixpath.join(prefix, self.path) if prefix else self.path, self.mode, self.sha)


def tree_sort_key(name: bytes, mode: int) -> bytes:
    """Git orders tree entries by name, with directories compared as ``name/``."""
    return name + b"/" if stat.S_ISDIR(mode) else name


def pretty_format_mode(mode: int) -> bytes:
    return b"%06o" % mode


def parse_tree(data: bytes, hash_algo: HashAlgorithm = SHA1) -> list[tuple[bytes, int, bytes, bytes]]:
    """Parse a tree body into (name, mode, hex_id, raw_mode_text) tuples."""
    out = []
    n = hash_algo.digest_size
    pos = 0
    end = len(data)
    find = data.find
    while pos < end:
        sp = find(b" ", pos)
        if sp < 0:
            raise ObjectFormatError("tree entry without a mode")
        mode_text = data[pos:sp]
        if not mode_text or not mode_text.isdigit() or b"8" in mode_text or b"9" in mode_text:
            raise ObjectFormatError(f"bad tree entry mode {mode_text!r}")
        nul = find(b"\0", sp + 1)
        if nul < 0:
            raise ObjectFormatError("tree entry without a name terminator")
        name = data[sp + 1:nul]
        if not name:
            raise ObjectFormatError("empty name in tree entry")
        sha = data[nul + 1:nul + 1 + n]
        if len(sha) != n:
            raise ObjectFormatError("truncated tree entry id")
        out.append((name, int(mode_text, 8), binascii.hexlify(sha), mode_text))
        pos = nul + 1 + n
    return out


def serialize_tree(items: Iterable[tuple[bytes, int, bytes]]) -> bytes:
    """Serialize (name, mode, hex_id) triples in the order given."""
    parts = []
    for name, mode, hexsha in items:
        parts.append(b"%o %s\0" % (mode, name))
        parts.append(binascii.unhexlify(hexsha))
    return b"".join(parts)


def sorted_tree_items(entries: dict[bytes, tuple[int, bytes]], name_order: bool = False) -> list[TreeEntry]:
    if name_order:
        keys = sorted(entries)
    else:
        keys = sorted(entries, key=lambda k: tree_sort_key(k, entries[k][0]))
    return [TreeEntry(k, entries[k][0], entries[k][1]) for k in keys]


class Tree(ShaFile):
    """A directory: names mapped to (mode, id), kept in Git's order."""

    type_name = b"tree"
    type_num = 2
    __slots__ = ("_entries", "_order")

    def __init__(self) -> None:
        super().__init__()
        self._init_fields()

    def _init_fields(self) -> None:
        self._entries: dict[bytes, tuple[int, bytes]] = {}
        self._order: Optional[list[bytes]] = None  # parse order, kept until changed

    def _deserialize(self, data: bytes) -> None:
        order = []
        for name, mode, sha, _ in parse_tree(data, self.hash_algo):
            self._entries[name] = (mode, sha)
            order.append(name)
        self._order = order

    def _serialize(self) -> bytes:
        return serialize_tree(self.iteritems())

    def _changed(self) -> None:
        super()._changed()
        self._order = None

    def __contains__(self, name) -> bool:
        return _as_bytes(name, "name") in self._entries

    def __getitem__(self, name) -> tuple[int, bytes]:
        return self._entries[_as_bytes(name, "name")]

    def __setitem__(self, name, value: tuple[int, bytes]) -> None:
        mode, hexsha = value
        self._entries[_as_bytes(name, "name")] = (mode, hexsha)
        self._changed()

    def __delitem__(self, name) -> None:
        del self._entries[_as_bytes(name, "name")]
        self._changed()

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._entries)

    def add(self, name, mode: int, hexsha: bytes) -> None:
        self[name] = (mode, hexsha)

    def iteritems(self, name_order: bool = False) -> list[TreeEntry]:
        if self._order is not None and not name_order:
            return [TreeEntry(k, *self._entries[k]) for k in self._order]
        return sorted_tree_items(self._entries, name_order)

    def items(self) -> list[TreeEntry]:
        return self.iteritems()

    def check(self) -> None:
        """Reject what ``git fsck`` calls an error: bad modes, names, order, duplicates."""
        prev_key = None
        seen = set()
        for name, mode, _, mode_text in parse_tree(self.as_raw_string(), self.hash_algo):
            if name in seen:
                raise ObjectFormatError(f"duplicate tree entry {name!r}")
            seen.add(name)
            if b"/" in name or name in (b".", b".."):
                raise ObjectFormatError(f"bad tree entry name {name!r}")
            if mode not in (0o40000, 0o100644, 0o100755, 0o120000, S_IFGITLINK, 0o100664):
                raise ObjectFormatError(f"bad tree entry mode {mode_text!r}")
            key = tree_sort_key(name, mode)
            if prev_key is not None and key < prev_key:
                raise ObjectFormatError("tree entries not sorted")
            prev_key = key

    def lookup_path(self, lookup_obj, path: bytes) -> tuple[int, bytes]:
        """Follow ``path`` (``a/b/c``) through subtrees; ``lookup_obj(id)`` loads them."""
        parts = [p for p in _as_bytes(path, "path").split(b"/") if p]
        mode, sha = 0o40000, self.id
        obj: ShaFile = self
        for part in parts:
            if not isinstance(obj, Tree):
                raise ObjectFormatError(f"not a tree: {sha!r}")
            mode, sha = obj[part]
            obj = lookup_obj(sha) if stat.S_ISDIR(mode) else None  # type: ignore[assignment]
        return mode, sha


# --- commits and tags: header-list bodies ---------------------------------

def parse_headers(data: bytes) -> tuple[list[tuple[bytes, bytes]], Optional[bytes]]:
    """Split a commit/tag body into ordered (key, value) headers and the message.

    Continuation lines (starting with a space) extend the previous header's
    value with a newline, as ``gpgsig`` and ``mergetag`` need.  The message is
    ``None`` when the body has no blank separator line.
    """
    headers: list[tuple[bytes, bytes]] = []
    pos = 0
    end = len(data)
    while pos < end:
        nl = data.find(b"\n", pos)
        if nl < 0:
            nl = end
        line = data[pos:nl]
        if line == b"":
            return headers, data[nl + 1:]
        if line[:1] == b" ":
            if not headers:
                raise ObjectFormatError("continuation line before any header")
            key, value = headers[-1]
            headers[-1] = (key, value + b"\n" + line[1:])
        else:
            sp = line.find(b" ")
            if sp <= 0:
                if sp < 0 and line:
                    headers.append((line, b""))
                    pos = nl + 1
                    continue
                raise ObjectFormatError(f"bad header line {line!r}")
            headers.append((line[:sp], line[sp + 1:]))
        pos = nl + 1
    return headers, None


def serialize_headers(headers: Iterable[tuple[bytes, bytes]], message: Optional[bytes]) -> bytes:
    parts = []
    for key, value in headers:
        parts.append(key)
        parts.append(b" ")
        parts.append(value.replace(b"\n", b"\n "))
        parts.append(b"\n")
    if message is not None:
        parts.append(b"\n")
        parts.append(message)
    return b"".join(parts)


class Commit(ShaFile):
    """A commit: tree, parents, author, committer, optional headers, message."""

    type_name = b"commit"
    type_num = 1
    __slots__ = ("_tree", "_parents", "_author", "_author_time", "_author_timezone",
                 "_author_timezone_neg_utc", "_committer", "_commit_time",
                 "_commit_timezone", "_commit_timezone_neg_utc", "_encoding",
                 "_message", "_mergetag", "_gpgsig", "_extra")

    def __init__(self) -> None:
        super().__init__()
        self._init_fields()

    def _init_fields(self) -> None:
        self._tree: Optional[bytes] = None
        self._parents: list[bytes] = []
        self._author: Optional[bytes] = None
        self._author_time: Optional[int] = None
        self._author_timezone: int = 0
        self._author_timezone_neg_utc = False
        self._committer: Optional[bytes] = None
        self._commit_time: Optional[int] = None
        self._commit_timezone: int = 0
        self._commit_timezone_neg_utc = False
        self._encoding: Optional[bytes] = None
        self._message: Optional[bytes] = None
        self._mergetag: list[Tag] = []
        self._gpgsig: Optional[bytes] = None
        self._extra: list[tuple[bytes, bytes]] = []

    def _deserialize(self, data: bytes) -> None:
        headers, message = parse_headers(data)
        self._message = message
        seen_tree = False
        stage = 0  # 0 tree, 1 parents, 2 author, 3 committer, 4 rest
        for key, value in headers:
            if key == b"tree" and stage == 0:
                self._tree = check_hexsha(value, "tree id")
                seen_tree = True
                stage = 1
            elif key == b"parent" and stage == 1:
                self._parents.append(check_hexsha(value, "parent id"))
            elif key == b"author" and stage == 1:
                (self._author, self._author_time, self._author_timezone,
                 self._author_timezone_neg_utc) = parse_identity_time(value)
                stage = 3
            elif key == b"committer" and stage == 3:
                (self._committer, self._commit_time, self._commit_timezone,
                 self._commit_timezone_neg_utc) = parse_identity_time(value)
                stage = 4
            elif stage < 4:
                raise ObjectFormatError(f"unexpected header {key!r} in commit")
            elif key == b"encoding" and self._encoding is None and not self._extra:
                self._encoding = value
            elif key == b"mergetag":
                self._mergetag.append(Tag.from_string(value + b"\n", self.hash_algo))
            elif key == b"gpgsig" and self._gpgsig is None:
                self._gpgsig = value
            else:
                self._extra.append((key, value))
        if not seen_tree:
            raise ObjectFormatError("commit has no tree")
        if self._author is None:
            raise ObjectFormatError("commit has no author")
        if self._committer is None:
            raise ObjectFormatError("commit has no committer")
        if self._author_time is None or self._commit_time is None:
            raise ObjectFormatError("commit identity without a time")

    def _headers(self) -> list[tuple[bytes, bytes]]:
        if self._tree is None or self._author is None or self._committer is None:
            raise ObjectFormatError("commit needs tree, author and committer")
        if self._author_time is None or self._commit_time is None:
            raise ObjectFormatError("commit needs author_time and commit_time")
        h = [(b"tree", self._tree)]
        h += [(b"parent", p) for p in self._parents]
        h.append((b"author", format_identity_time(
            self._author, self._author_time, self._author_timezone, self._author_timezone_neg_utc)))
        h.append((b"committer", format_identity_time(
            self._committer, self._commit_time, self._commit_timezone, self._commit_timezone_neg_utc)))
        if self._encoding is not None:
            h.append((b"encoding", self._encoding))
        for tag in self._mergetag:
            h.append((b"mergetag", tag.as_raw_string()[:-1]))
        h += self._extra
        if self._gpgsig is not None:
            h.append((b"gpgsig", self._gpgsig))
        return h

    def _serialize(self) -> bytes:
        # None means the body had no blank line after the headers (cgit accepts that).
        return serialize_headers(self._headers(), self._message)

    def raw_without_sig(self) -> bytes:
        """The body as signed: the same without the ``gpgsig`` header."""
        headers, message = parse_headers(self.as_raw_string())
        return serialize_headers([(k, v) for k, v in headers if k != b"gpgsig"], message)

    def check(self) -> None:
        super().check()


def _field(attr: str, kind: str, doc: str):
    """A property that invalidates the cached serialization when set."""

    def getter(self):
        return getattr(self, attr)

    def setter(self, value):
        if kind == "bytes" and value is not None:
            value = _as_bytes(value, attr[1:])
        elif kind == "id" and value is not None:
            if isinstance(value, ShaFile):
                value = value.id
            value = check_hexsha(_as_bytes(value, attr[1:]), attr[1:])
        elif kind == "ids":
            value = [check_hexsha(_as_bytes(v, "parent"), "parent") for v in value]
        elif kind == "int" and value is not None:
            value = int(value)
        elif kind == "tz":
            # Accept (offset, neg_zero) or an int offset.
            if isinstance(value, tuple):
                value, neg = value
                setattr(self, attr + "_neg_utc", bool(neg))
            value = int(value)
        setattr(self, attr, value)
        self._changed()

    return property(getter, setter, doc=doc)


Commit.tree = _field("_tree", "id", "Hex id of the commit's tree.")
Commit.parents = _field("_parents", "ids", "Hex ids of the parents.")
Commit.author = _field("_author", "bytes", "Author identity: ``Name <email>``.")
Commit.author_time = _field("_author_time", "int", "Author time, seconds since the epoch.")
Commit.author_timezone = _field("_author_timezone", "tz", "Author UTC offset in seconds.")
Commit.committer = _field("_committer", "bytes", "Committer identity.")
Commit.commit_time = _field("_commit_time", "int", "Commit time, seconds since the epoch.")
Commit.commit_timezone = _field("_commit_timezone", "tz", "Committer UTC offset in seconds.")
Commit.encoding = _field("_encoding", "bytes", "The ``encoding`` header, if any.")
Commit.message = _field("_message", "bytes", "The commit message.")
Commit.gpgsig = _field("_gpgsig", "bytes", "The ``gpgsig`` header value (signature).")
Commit.extra = _field("_extra", "raw", "Other headers as (key, value) pairs, in order.")
Commit.mergetag = _field("_mergetag", "raw", "Tags of merged signed tags (``mergetag``).")


def _neg_field(attr: str):
    def getter(self):
        return getattr(self, attr)

    def setter(self, value):
        setattr(self, attr, bool(value))
        self._changed()

    return property(getter, setter)


Commit.author_timezone_neg_utc = _neg_field("_author_timezone_neg_utc")
Commit.commit_timezone_neg_utc = _neg_field("_commit_timezone_neg_utc")


class Tag(ShaFile):
    """An annotated tag: object, type, name, optional tagger, message (and signature)."""

    type_name = b"tag"
    type_num = 4
    __slots__ = ("_object_sha", "_object_class", "_name", "_tagger", "_tag_time",
                 "_tag_timezone", "_tag_timezone_neg_utc", "_message", "_signature",
                 "_extra")

    def __init__(self) -> None:
        super().__init__()
        self._init_fields()

    def _init_fields(self) -> None:
        self._object_sha: Optional[bytes] = None
        self._object_class: Optional[type] = None
        self._name: Optional[bytes] = None
        self._tagger: Optional[bytes] = None
        self._tag_time: Optional[int] = None
        self._tag_timezone: int = 0
        self._tag_timezone_neg_utc = False
        self._message: Optional[bytes] = None
        self._signature: Optional[bytes] = None
        self._extra: list[tuple[bytes, bytes]] = []

    def _deserialize(self, data: bytes) -> None:
        headers, message = parse_headers(data)
        stage = 0
        for key, value in headers:
            if key == b"object" and stage == 0:
                self._object_sha = check_hexsha(value, "tag object id")
                stage = 1
            elif key == b"type" and stage == 1:
                try:
                    self._object_class = OBJECT_CLASSES[value]
                except KeyError:
                    raise ObjectFormatError(f"bad tag type {value!r}") from None
                stage = 2
            elif key == b"tag" and stage == 2:
                self._name = value
                stage = 3
            elif key == b"tagger" and stage == 3:
                (self._tagger, self._tag_time, self._tag_timezone,
                 self._tag_timezone_neg_utc) = parse_identity_time(value)
                stage = 4
            elif stage < 3:
                raise ObjectFormatError(f"unexpected header {key!r} in tag")
            else:
                self._extra.append((key, value))
                stage = 4
        if stage < 3:
            raise ObjectFormatError("tag lacks object, type or tag header")
        self._message, self._signature = self._split_signature(message)

    @staticmethod
    def _split_signature(message: Optional[bytes]) -> tuple[Optional[bytes], Optional[bytes]]:
        if message is None:
            return None, None
        best = -1
        for marker in _SIGNATURE_STARTS:
            at = message.find(marker)
            while at >= 0:
                if at == 0 or message[at - 1:at] == b"\n":
                    best = at if best < 0 else min(best, at)
                    break
                at = message.find(marker, at + 1)
        if best < 0:
            return message, None
        return message[:best], message[best:]

    def _serialize(self) -> bytes:
        if self._object_sha is None or self._object_class is None or self._name is None:
            raise ObjectFormatError("tag needs object, type and name")
        h = [(b"object", self._object_sha), (b"type", self._object_class.type_name),
             (b"tag", self._name)]
        if self._tagger is not None:
            if self._tag_time is None:
                h.append((b"tagger", self._tagger))
            else:
                h.append((b"tagger", format_identity_time(
                    self._tagger, self._tag_time, self._tag_timezone, self._tag_timezone_neg_utc)))
        h += self._extra
        message = self._message
        if self._signature is not None:
            message = (message or b"") + self._signature
        return serialize_headers(h, message)

    @property
    def object(self) -> tuple[type, bytes]:
        """(class, hex id) of the tagged object."""
        return self._object_class, self._object_sha  # type: ignore[return-value]

    @object.setter
    def object(self, value) -> None:
        klass, sha = value
        if isinstance(klass, bytes):
            klass = OBJECT_CLASSES[klass]
        self._object_class = klass
        self._object_sha = check_hexsha(_as_bytes(sha, "object"), "object")
        self._changed()

    def raw_without_sig(self) -> bytes:
        raw = self.as_raw_string()
        return raw[: len(raw) - len(self._signature)] if self._signature else raw


Tag.name = _field("_name", "bytes", "The tag's name (``tag`` header).")
Tag.tagger = _field("_tagger", "bytes", "Tagger identity, if any.")
Tag.tag_time = _field("_tag_time", "int", "Tag time, seconds since the epoch.")
Tag.tag_timezone = _field("_tag_timezone", "tz", "Tagger UTC offset in seconds.")
Tag.tag_timezone_neg_utc = _neg_field("_tag_timezone_neg_utc")
Tag.message = _field("_message", "bytes", "The tag message (without signature).")
Tag.signature = _field("_signature", "bytes", "The signature block appended to the message.")
Tag.extra = _field("_extra", "raw", "Other headers, in order.")


OBJECT_CLASSES: dict = {}
for _cls in (Commit, Tree, Blob, Tag):
    OBJECT_CLASSES[_cls.type_num] = _cls
    OBJECT_CLASSES[_cls.type_name] = _cls
    OBJECT_CLASSES[_cls.type_name.decode("ascii")] = _cls
del _cls


def object_class(type_: int | bytes | str) -> type:
    """The class for a type number or name, or ObjectFormatError."""
    try:
        return OBJECT_CLASSES[type_]
    except KeyError:
        raise ObjectFormatError(f"unknown object type {type_!r}") from None


def type_num_for_name(name: bytes) -> int:
    return object_class(name).type_num


def parse_object(type_name: bytes, data: bytes, hash_algo: HashAlgorithm = SHA1) -> ShaFile:
    """Parse a body given its type name."""
    return object_class(type_name).from_string(data, hash_algo)


def hash_object(type_name: bytes, data: bytes, hash_algo: HashAlgorithm = SHA1) -> ObjectID:
    """Hex id of an object without building it."""
    return ObjectID(binascii.hexlify(hash_algo.hash_object(type_name, data)))


def is_blob(obj) -> bool:
    return isinstance(obj, Blob)


def is_tree(obj) -> bool:
    return isinstance(obj, Tree)


def is_commit(obj) -> bool:
    return isinstance(obj, Commit)


def is_tag(obj) -> bool:
    return isinstance(obj, Tag)
