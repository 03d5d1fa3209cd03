"""Object checks in the spirit of ``git fsck`` (pure functions, no I/O).

Every check takes an object body and returns a list of :class:`Problem`
``(msg_id, message)`` pairs, with git's message ids (``hasDotgit``,
``badTimezone``...) so config such as ``receive.fsck.<msg-id>`` can refer to
them.  Deciding what is fatal is separate (:class:`FsckPolicy`): git's
default severities, WARN turned into ERROR under ``--strict`` (what
``receive.fsckObjects`` does), per-id overrides, and the smaller
:data:`HOSTING_IDS` set that a hosting server enforces on every push even
when fsck is off (hostile names, ``.gitmodules`` injection, objects our own
parsers would choke on).

Tree checks also return the ids of blobs that a tree names ``.gitmodules``
or ``.gitattributes`` (any spelling a case-insensitive HFS+ or NTFS file
system would treat as such); the caller loads those blobs and passes them to
:func:`check_gitmodules` / :func:`check_gitattributes`.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Iterable, NamedTuple, Optional

from .errors import ObjectFormatError
from .graph import parse_tree_entries

__all__ = [
    "Problem", "TreeCheck", "FsckPolicy", "SEVERITIES", "HOSTING_IDS",
    "FATAL", "ERROR", "WARN", "INFO", "IGNORE",
    "is_hfs_dotgit", "is_ntfs_dotgit", "is_dotgit_name", "is_gitmodules_name",
    "is_gitattributes_name", "check_tree", "check_commit", "check_tag",
    "check_ident", "check_gitmodules", "check_gitattributes", "check_object",
    "check_submodule_name", "check_submodule_url",
]

FATAL, ERROR, WARN, INFO, IGNORE = "fatal", "error", "warn", "info", "ignore"

#: git's default severity of each message id (``fsck.h``).
SEVERITIES: dict[str, str] = {
    "nulInHeader": FATAL, "unterminatedHeader": FATAL,
    # errors
    "badDate": ERROR, "badDateOverflow": ERROR, "badEmail": ERROR, "badName": ERROR,
    "badObjectSha1": ERROR, "badParentSha1": ERROR, "badTimezone": ERROR, "badTree": ERROR,
    "badTreeSha1": ERROR, "badType": ERROR, "duplicateEntries": ERROR,
    "gitattributesBlob": ERROR, "gitattributesLarge": ERROR, "gitattributesLineLength": ERROR,
    "gitmodulesBlob": ERROR, "gitmodulesLarge": ERROR, "gitmodulesMissing": ERROR,
    "gitmodulesName": ERROR, "gitmodulesPath": ERROR, "gitmodulesSymlink": ERROR,
    "gitmodulesUpdate": ERROR, "gitmodulesUrl": ERROR, "missingAuthor": ERROR,
    "missingCommitter": ERROR, "missingEmail": ERROR, "missingNameBeforeEmail": ERROR,
    "missingObject": ERROR, "missingSpaceBeforeDate": ERROR, "missingSpaceBeforeEmail": ERROR,
    "missingTag": ERROR, "missingTagEntry": ERROR, "missingTree": ERROR, "missingType": ERROR,
    "missingTypeEntry": ERROR, "multipleAuthors": ERROR, "treeNotSorted": ERROR,
    "unknownType": ERROR, "zeroPaddedDate": ERROR,
    # warnings (errors under --strict)
    "emptyName": WARN, "fullPathname": WARN, "hasDot": WARN, "hasDotdot": WARN,
    "hasDotgit": WARN, "nullSha1": WARN, "zeroPaddedFilemode": WARN, "nulInCommit": WARN,
    "largePathname": WARN,
    # informational
    "badFilemode": INFO, "badTagName": INFO, "gitattributesSymlink": INFO,
    "gitignoreSymlink": INFO, "gitmodulesParse": INFO, "mailmapSymlink": INFO,
    "missingTaggerEntry": INFO,
    "extraHeaderEntry": IGNORE,
}

#: Checked on every push even without ``receive.fsckObjects``: names that
#: attack checkouts, ``.gitmodules`` injection, and structurally broken
#: objects (which would break our own readers later).
HOSTING_IDS = frozenset({
    "hasDotgit", "hasDotdot", "hasDot", "fullPathname", "emptyName", "duplicateEntries",
    "treeNotSorted", "badTree", "zeroPaddedFilemode",
    "gitmodulesSymlink", "gitmodulesBlob", "gitmodulesName", "gitmodulesUrl",
    "gitmodulesPath", "gitmodulesUpdate",
    "nulInHeader", "unterminatedHeader", "missingTree", "badTreeSha1", "badParentSha1",
    "missingAuthor", "missingCommitter", "multipleAuthors", "missingObject", "badObjectSha1",
    "missingTypeEntry", "missingType", "badType", "missingTagEntry", "missingTag", "unknownType",
})


class Problem(NamedTuple):
    """One finding: git's message id and a human-readable text."""

    msg_id: str
    message: str

    def __str__(self) -> str:
        return f"{self.msg_id}: {self.message}"


# --- names that alias .git and friends ------------------------------------

# Code points HFS+ ignores when comparing names (git's list in utf8.c).
_HFS_IGNORABLE = frozenset([0x200C, 0x200D, 0x200E, 0x200F, 0x202A, 0x202B, 0x202C,
                            0x202D, 0x202E, 0x206A, 0x206B, 0x206C, 0x206D, 0x206E,
                            0x206F, 0xFEFF])


def _hfs_fold(name: bytes) -> Optional[str]:
    """The name as HFS+ compares it (ignorables dropped, ASCII lower-cased).

    None if the name holds other non-ASCII characters: HFS+ folds those too,
    but no such name can spell ``.git`` (git's ``is_hfs_dot_generic``).
    """
    try:
        text = name.decode("utf-8")
    except UnicodeDecodeError:
        return None
    out = []
    for ch in text:
        cp = ord(ch)
        if cp in _HFS_IGNORABLE:
            continue
        if cp > 0x7F:
            return None
        out.append(ch.lower())
    return "".join(out)


def is_hfs_dotgit(name: bytes) -> bool:
    """Whether HFS+ would open ``name`` as ``.git``."""
    return _hfs_fold(name) == ".git"


def _ntfs_stem(piece: bytes) -> bytes:
    # NTFS ignores trailing spaces and dots and treats ``name:stream`` as name.
    return piece.split(b":", 1)[0].rstrip(b" .").lower()


def is_ntfs_dotgit(name: bytes) -> bool:
    """Whether NTFS would open any ``\\``-separated piece of ``name`` as ``.git``."""
    return any(_ntfs_stem(piece) in (b".git", b"git~1") for piece in name.split(b"\\"))


def is_dotgit_name(name: bytes) -> bool:
    """``.git`` in any spelling a case-insensitive HFS+ or NTFS checkout would honour."""
    return name.lower() == b".git" or is_hfs_dotgit(name) or is_ntfs_dotgit(name)


_NTFS_SHORT = re.compile(rb"\A([a-z0-9~]{6})~[1-4]\Z")


def _is_dotfile(name: bytes, long_name: str, short_prefix: bytes) -> bool:
    if _hfs_fold(name) == long_name:
        return True
    for piece in name.split(b"\\")[-1:]:
        stem = _ntfs_stem(piece)
        if stem == long_name.encode():
            return True
        m = _NTFS_SHORT.match(stem)
        if m and m.group(1) == short_prefix:
            return True
    return False


def is_gitmodules_name(name: bytes) -> bool:
    """``.gitmodules`` including HFS+ and NTFS aliases (``GITMOD~1``)."""
    return _is_dotfile(name, ".gitmodules", b"gitmod")


def is_gitattributes_name(name: bytes) -> bool:
    """``.gitattributes`` including HFS+ and NTFS aliases (``GITATT~1``)."""
    return _is_dotfile(name, ".gitattributes", b"gitatt")


# --- trees -----------------------------------------------------------------

_GOOD_MODES = frozenset([0o100755, 0o100644, 0o120000, 0o40000, 0o160000])
_S_IFMT = 0o170000
_DIR, _LINK = 0o40000, 0o120000


@dataclass
class TreeCheck:
    """Result of :func:`check_tree`: problems plus blobs needing content checks."""

    problems: list = field(default_factory=list)
    gitmodules: list = field(default_factory=list)      # hex ids of .gitmodules blobs
    gitattributes: list = field(default_factory=list)   # hex ids of .gitattributes blobs


_SPECIAL_NAMES = frozenset((b".git", b".gitmodules", b".gitattributes", b".gitignore", b".mailmap"))


def _tree_key(name: bytes, mode: int) -> bytes:
    return name + b"/" if mode & _S_IFMT == _DIR else name


_ORDINARY_MODES = frozenset((b"100644", b"100755", b"120000", b"40000", b"160000"))
# Anything outside printable ASCII, NTFS tricks, "/", trailing dot or space, "." or "..".
_UNUSUAL_NAME = re.compile(rb"[\x01-\x1f\x7f-\xff]|[~:\\/]|[ .]\x00|\x00\.{1,2}\x00")


def _check_ordinary_tree(body: bytes, digest_size: int) -> Optional[TreeCheck]:
    """The result for a tree with nothing unusual, found with C-level operations; else None.

    Nearly every tree of a real history is ordinary; for those, one regex
    parse plus set and list operations replace a Python loop over entries.
    Any doubt returns None and :func:`check_tree` takes the careful path.
    """
    try:
        entries = parse_tree_entries(body, digest_size)
    except ObjectFormatError:
        return None
    if not _ORDINARY_MODES.issuperset(map(itemgetter(0), entries)):
        return None
    names = list(map(itemgetter(1), entries))
    joined = b"\0" + b"\0".join(names) + b"\0"
    if _UNUSUAL_NAME.search(joined) or len(set(names)) != len(names):
        return None
    if b"\0" * digest_size in set(map(itemgetter(2), entries)):
        return None
    keys = [n + b"/" if m == b"40000" else n for m, n, _ in entries]
    if keys != sorted(keys):
        return None
    res = TreeCheck()
    lowered = joined.lower().split(b"\0")[1:-1]
    for special in _SPECIAL_NAMES.intersection(lowered):
        mode, _, raw_id = entries[lowered.index(special)]
        if special == b".git" or mode == b"120000":
            return None  # hasDotgit or a special symlink: report it carefully
        if mode not in (b"40000", b"160000"):
            if special == b".gitmodules":
                res.gitmodules.append(binascii.hexlify(raw_id))
            elif special == b".gitattributes":
                res.gitattributes.append(binascii.hexlify(raw_id))
    return res


def check_tree(body: bytes, digest_size: int = 20) -> TreeCheck:
    """Check a tree body the way ``fsck_tree`` does; never raises on bad input."""
    fast = _check_ordinary_tree(body, digest_size)
    if fast is not None:
        return fast
    res = TreeCheck()
    probs = res.problems
    flags: set = set()
    pos, end = 0, len(body)
    prev_key: Optional[bytes] = None
    names: set = set()
    null = b"\0" * digest_size
    while pos < end:
        sp = body.find(b" ", pos, pos + 8)
        nul = body.find(b"\0", sp + 1) if sp >= 0 else -1
        if sp < 0 or nul < 0 or nul + 1 + digest_size > end:
            probs.append(Problem("badTree", "cannot be parsed as a tree"))
            return res
        mode_text = body[pos:sp]
        if not mode_text or mode_text.translate(None, b"01234567"):
            probs.append(Problem("badTree", f"malformed mode {mode_text[:16]!r}"))
            return res
        mode = int(mode_text, 8)
        name = body[sp + 1:nul]
        raw_id = body[nul + 1:nul + 1 + digest_size]
        pos = nul + 1 + digest_size

        if raw_id == null:
            flags.add("nullSha1")
        if b"/" in name:
            flags.add("fullPathname")
        if not name:
            flags.add("emptyName")
        if name == b".":
            flags.add("hasDot")
        if name == b"..":
            flags.add("hasDotdot")
        # A plain ASCII name without NTFS tricks (``~``, ``:``, ``\\``, trailing
        # dot or space) aliases a special file only by being it, case aside;
        # skipping the HFS/NTFS alias checks for such names keeps fsck of a big
        # push cheap (git.git alone has 3 million tree entries in its history).
        if name.isascii() and b"~" not in name and b":" not in name and b"\\" not in name \
                and name[-1:] not in (b" ", b".", b""):
            special = name.lower() in _SPECIAL_NAMES
        else:
            special = True
        if special and is_dotgit_name(name):
            flags.add("hasDotgit")
        if mode_text.startswith(b"0"):
            flags.add("zeroPaddedFilemode")
        if mode not in _GOOD_MODES:
            flags.add("badFilemode")
        if special and is_gitmodules_name(name):
            if mode & _S_IFMT == _LINK:
                probs.append(Problem("gitmodulesSymlink", ".gitmodules is a symbolic link"))
            elif mode & _S_IFMT != _DIR and mode != 0o160000:
                res.gitmodules.append(binascii.hexlify(raw_id))
        if special and is_gitattributes_name(name):
            if mode & _S_IFMT == _LINK:
                probs.append(Problem("gitattributesSymlink", ".gitattributes is a symlink"))
            elif mode & _S_IFMT != _DIR and mode != 0o160000:
                res.gitattributes.append(binascii.hexlify(raw_id))
        for other, msg in ((b".gitignore", "gitignoreSymlink"), (b".mailmap", "mailmapSymlink")):
            if special and mode & _S_IFMT == _LINK and _hfs_fold(name) == other.decode():
                probs.append(Problem(msg, f"{other.decode()} is a symlink"))

        if name in names:
            flags.add("duplicateEntries")
        names.add(name)
        key = _tree_key(name, mode)
        if prev_key is not None and key < prev_key:
            flags.add("treeNotSorted")
        prev_key = key

    texts = {
        "nullSha1": "contains entries pointing to null sha1",
        "fullPathname": "contains full pathnames",
        "emptyName": "contains empty pathname",
        "hasDot": "contains '.'",
        "hasDotdot": "contains '..'",
        "hasDotgit": "contains '.git'",
        "zeroPaddedFilemode": "contains zero-padded file modes",
        "badFilemode": "contains bad file modes",
        "duplicateEntries": "contains duplicate file entries",
        "treeNotSorted": "not properly sorted",
    }
    for msg_id, text in texts.items():
        if msg_id in flags:
            probs.append(Problem(msg_id, text))
    return res


# --- commits, tags, identities ------------------------------------------------

_HEX = frozenset(b"0123456789abcdef")
_MAX_TIMESTAMP = (1 << 63) - 1


def _verify_headers(body: bytes) -> Optional[Problem]:
    """Header area must hold no NUL and end in a blank line (or the body end)."""
    end = body.find(b"\n\n")
    header = body if end < 0 else body[:end + 1]
    if b"\0" in header:
        at = header.find(b"\0")
        return Problem("nulInHeader", f"unterminated header: NUL at offset {at}")
    if end < 0 and not body.endswith(b"\n"):
        return Problem("unterminatedHeader", "unterminated header")
    return None


def _header_line(body: bytes, pos: int, key: bytes) -> tuple[Optional[bytes], int]:
    """Value of header ``key`` at ``pos`` (and the next position), or (None, pos)."""
    if not body.startswith(key + b" ", pos):
        return None, pos
    nl = body.find(b"\n", pos)
    if nl < 0:
        return None, pos
    return body[pos + len(key) + 1:nl], nl + 1


def _hex_id_ok(value: bytes, hex_size: int) -> bool:
    return len(value) == hex_size and _HEX.issuperset(value)


def check_ident(value: bytes) -> Optional[Problem]:
    """Check ``Name <email> 1234567890 +0000`` as ``fsck_ident`` does."""
    if value.startswith(b"<"):
        return Problem("missingNameBeforeEmail", "invalid author/committer line - missing space before email")
    i = 0
    n = len(value)
    while i < n and value[i] not in b"<>":
        i += 1
    if i < n and value[i:i + 1] == b">":
        return Problem("badName", "invalid author/committer line - bad name")
    if i >= n:
        return Problem("missingEmail", "invalid author/committer line - missing email")
    if value[i - 1:i] != b" ":
        return Problem("missingSpaceBeforeEmail", "invalid author/committer line - missing space before email")
    i += 1
    while i < n and value[i] not in b"<>":
        i += 1
    if i >= n or value[i:i + 1] != b">":
        return Problem("badEmail", "invalid author/committer line - bad email")
    i += 1
    if value[i:i + 1] != b" ":
        return Problem("missingSpaceBeforeDate", "invalid author/committer line - missing space before date")
    i += 1
    if value[i:i + 1] == b"0" and value[i + 1:i + 2] != b" ":
        return Problem("zeroPaddedDate", "invalid author/committer line - zero-padded date")
    j = i
    while j < n and value[j:j + 1].isdigit():
        j += 1
    if j > i and int(value[i:j]) > _MAX_TIMESTAMP:
        return Problem("badDateOverflow", "invalid author/committer line - date causes integer overflow")
    if j == i or value[j:j + 1] != b" ":
        return Problem("badDate", "invalid author/committer line - bad date")
    tz = value[j + 1:]
    if len(tz) != 5 or tz[:1] not in (b"+", b"-") or not tz[1:].isdigit():
        return Problem("badTimezone", "invalid author/committer line - bad time zone")
    return None


_IDENT = rb"[^<>\n]+ <[^<>\n]*> (?:0|[1-9][0-9]{0,17}) [+-][0-9]{4}\n"
_ORDINARY_COMMIT = {
    size: re.compile(rb"tree [0-9a-f]{%d}\n(?:parent [0-9a-f]{%d}\n)*author %scommitter %s"
                     % (size, size, _IDENT, _IDENT))
    for size in (40, 64)
}


def check_commit(body: bytes, hex_size: int = 40) -> list:
    """Check a commit body as ``fsck_commit`` does."""
    bad = _verify_headers(body)
    if bad is not None:
        return [bad]
    ordinary = _ORDINARY_COMMIT.get(hex_size)
    if ordinary is not None and ordinary.match(body) and b"\0" not in body:
        return []   # the common case, recognised by one regex (see _check_commit_carefully)
    return _check_commit_carefully(body, hex_size)


def _check_commit_carefully(body: bytes, hex_size: int) -> list:
    probs = []
    value, pos = _header_line(body, 0, b"tree")
    if value is None:
        return [Problem("missingTree", "invalid format - expected 'tree' line")]
    if not _hex_id_ok(value, hex_size):
        return [Problem("badTreeSha1", f"invalid 'tree' line format - bad sha1")]
    while True:
        value, nxt = _header_line(body, pos, b"parent")
        if value is None:
            break
        if not _hex_id_ok(value, hex_size):
            return [Problem("badParentSha1", "invalid 'parent' line format - bad sha1")]
        pos = nxt
    authors = 0
    while True:
        value, nxt = _header_line(body, pos, b"author")
        if value is None:
            break
        authors += 1
        p = check_ident(value)
        if p is not None:
            probs.append(p)
        pos = nxt
    if authors == 0:
        return probs + [Problem("missingAuthor", "invalid format - expected 'author' line")]
    if authors > 1:
        probs.append(Problem("multipleAuthors", "invalid format - multiple 'author' lines"))
    value, pos = _header_line(body, pos, b"committer")
    if value is None:
        return probs + [Problem("missingCommitter", "invalid format - expected 'committer' line")]
    p = check_ident(value)
    if p is not None:
        probs.append(p)
    if b"\0" in body:
        probs.append(Problem("nulInCommit", "NUL byte in the commit object body"))
    return probs


_OBJECT_TYPES = (b"commit", b"tree", b"blob", b"tag")


def check_tag(body: bytes, hex_size: int = 40) -> list:
    """Check a tag body as ``fsck_tag_standalone`` does."""
    bad = _verify_headers(body)
    if bad is not None:
        return [bad]
    value, pos = _header_line(body, 0, b"object")
    if value is None:
        return [Problem("missingObject", "invalid format - expected 'object' line")]
    if not _hex_id_ok(value, hex_size):
        return [Problem("badObjectSha1", "invalid 'object' line format - bad sha1")]
    if not body.startswith(b"type ", pos):
        return [Problem("missingTypeEntry", "invalid format - expected 'type' line")]
    value, pos = _header_line(body, pos, b"type")
    if value is None:
        return [Problem("missingType", "invalid format - unexpected end after 'type' line")]
    if value not in _OBJECT_TYPES:
        return [Problem("badType", "invalid 'type' value")]
    if not body.startswith(b"tag ", pos):
        return [Problem("missingTagEntry", "invalid format - expected 'tag' line")]
    value, pos = _header_line(body, pos, b"tag")
    if value is None:
        return [Problem("missingTag", "invalid format - unexpected end after 'type' line")]
    probs = []
    from .refs import check_ref_format
    if not check_ref_format(b"refs/tags/" + value):
        probs.append(Problem("badTagName", f"invalid 'tag' name: {value[:80]!r}"))
    value, pos = _header_line(body, pos, b"tagger")
    if value is None:
        probs.append(Problem("missingTaggerEntry", "invalid format - expected 'tagger' line"))
    else:
        p = check_ident(value)
        if p is not None:
            probs.append(p)
    return probs


# --- .gitmodules and .gitattributes ---------------------------------------------

def check_submodule_name(name: bytes) -> bool:
    """A submodule name may not be empty nor have a ``..`` path component."""
    if not name:
        return False
    return not any(part == b".." for part in re.split(rb"[/\\]", name))


def _percent_decode(text: bytes) -> bytes:
    def sub(m: "re.Match[bytes]") -> bytes:
        return bytes([int(m.group(1), 16)])
    return re.sub(rb"%([0-9a-fA-F]{2})", sub, text)


_URL_SCHEME = re.compile(rb"\A[A-Za-z][A-Za-z0-9+.-]*://")


def check_submodule_url(url: bytes) -> bool:
    """Refuse option-like URLs, and URLs hiding a newline or a host escape.

    Follows ``check_submodule_url``: ``-``-prefixed URLs could become
    options of ``git clone``; a newline (even percent-encoded) in a URL could
    forge credential-helper input; a relative URL whose ``../`` climbs out of
    the path and into the host part is refused as well.
    """
    if url.startswith(b"-"):
        return False
    if b"\n" in url:
        return False
    if url.startswith((b"./", b"../")):
        rest = url
        while rest.startswith((b"./", b"../")):
            rest = rest[2:] if rest.startswith(b"./") else rest[3:]
        decoded = _percent_decode(rest)
        if b"\n" in decoded:
            return False
        # "../../:host" style escapes turn into "scheme:host" after resolution
        if b":" in decoded.split(b"/", 1)[0] or decoded.startswith(b"-"):
            return False
        return True
    if _URL_SCHEME.match(url):
        decoded = _percent_decode(url)
        if b"\n" in decoded:
            return False
        host = decoded.split(b"://", 1)[1].split(b"/", 1)[0]
        if host.startswith(b"-"):
            return False
    return True


def _looks_like_option(value: Optional[bytes]) -> bool:
    return value is not None and value.startswith(b"-")


GITMODULES_MAX = 512 << 20


def check_gitmodules(data: bytes) -> list:
    """Check a ``.gitmodules`` blob (``fsck_gitmodules_fn``). Parsing never follows includes."""
    from .config import _Parser  # the grammar only; includes are never loaded
    from .errors import ConfigError
    if len(data) > GITMODULES_MAX:
        return [Problem("gitmodulesLarge", ".gitmodules too large to parse")]
    try:
        events = _Parser(data, "blob").parse()
    except ConfigError:
        return [Problem("gitmodulesParse", "could not parse gitmodules blob")]
    probs = []
    section: tuple = ()
    for ev in events:
        if ev[0] == "section":
            section = ev[1]
            continue
        _, key, value = ev[0], ev[1], ev[2]
        if not section or section[0] != b"submodule" or len(section) != 2:
            continue
        name = section[1]
        key = key.lower()
        if not check_submodule_name(name):
            probs.append(Problem("gitmodulesName", f"disallowed submodule name: {name[:80]!r}"))
        if key == b"url" and value is not None and not check_submodule_url(value):
            probs.append(Problem("gitmodulesUrl", f"disallowed submodule url: {value[:80]!r}"))
        if key == b"path" and _looks_like_option(value):
            probs.append(Problem("gitmodulesPath", f"disallowed submodule path: {value[:80]!r}"))
        if key == b"update" and value is not None and value.startswith(b"!"):
            probs.append(Problem("gitmodulesUpdate",
                                 f"disallowed submodule update setting: {value[:80]!r}"))
    # one report per id is enough and keeps hostile blobs from flooding the client
    seen, out = set(), []
    for p in probs:
        if p.msg_id not in seen:
            seen.add(p.msg_id)
            out.append(p)
    return out


ATTR_MAX_FILE_SIZE = 100 << 20
ATTR_MAX_LINE_LENGTH = 2048


def check_gitattributes(data: bytes) -> list:
    """``.gitattributes`` size and line-length limits (CVE-2022-23521)."""
    if len(data) > ATTR_MAX_FILE_SIZE:
        return [Problem("gitattributesLarge", ".gitattributes too large to parse")]
    for line in data.split(b"\n"):
        if len(line) >= ATTR_MAX_LINE_LENGTH:
            return [Problem("gitattributesLineLength", ".gitattributes has too long lines to parse")]
    return []


# --- dispatch and policy -------------------------------------------------------

def check_object(type_num: int, body: bytes, hex_size: int = 40) -> list:
    """Problems of one object (trees: only the tree's own problems)."""
    if type_num == 1:
        return check_commit(body, hex_size)
    if type_num == 2:
        return check_tree(body, hex_size // 2).problems
    if type_num == 4:
        return check_tag(body, hex_size)
    if type_num == 3:
        return []
    return [Problem("unknownType", f"unknown object type {type_num}")]


class FsckPolicy:
    """Which problems are fatal.

    ``strict`` (``receive.fsckObjects``) applies git's severities with WARN
    raised to ERROR; otherwise only :data:`HOSTING_IDS` count.  ``overrides``
    maps lower-cased message ids to ``error``/``warn``/``info``/``ignore``
    (``receive.fsck.<msg-id>``); FATAL ids cannot be downgraded.  ``skip`` is
    a set of hex ids exempt from checks (``receive.fsck.skipList``).
    """

    def __init__(self, strict: bool = False, overrides: Optional[dict] = None,
                 skip: Iterable[bytes] = ()) -> None:
        self.strict = strict
        self.overrides = {k.lower(): v.lower() for k, v in (overrides or {}).items()}
        self.skip = frozenset(skip)

    def severity(self, msg_id: str) -> str:
        base = SEVERITIES.get(msg_id, ERROR)
        if base == FATAL:
            return FATAL
        level = self.overrides.get(msg_id.lower())
        if level in (ERROR, WARN, INFO, IGNORE):
            return level
        if not self.strict:
            return ERROR if msg_id in HOSTING_IDS else INFO
        return ERROR if base == WARN else base

    def is_fatal(self, problem: Problem) -> bool:
        return self.severity(problem.msg_id) in (FATAL, ERROR)

    def fatal(self, problems: Iterable[Problem]) -> list:
        return [p for p in problems if self.is_fatal(p)]
