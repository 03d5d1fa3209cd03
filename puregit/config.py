"""Read and write Git config files.

The parser follows the rules of git's ``config.c`` character by character
(quotes may open and close anywhere in a value, runs of unquoted whitespace
become spaces, ``\\`` at line end continues the line), because "almost the
same" config parsing is how two tools end up disagreeing about a remote URL.

A :class:`ConfigFile` remembers the raw text of every line it read; entries
that were not changed are written back byte for byte, so comments and layout
of a file written by git or by hand survive a round trip.
"""

from __future__ import annotations

import os
import re
from typing import BinaryIO, Iterable, Iterator, Union

from .errors import ConfigError

__all__ = [
    "ConfigDict",
    "ConfigFile",
    "StackedConfig",
    "Section",
    "parse_boolean",
    "parse_int",
    "quote_value",
]

Section = tuple  # (b"core",) or (b"remote", b"origin")
SectionLike = Union[tuple, bytes, str]
NameLike = Union[bytes, str]
ValueLike = Union[bytes, str, bool, int]

MAX_INCLUDE_DEPTH = 10
_NL = 0x0A
_SPACE_CHARS = b" \t\n\r"
_TRUE = {b"true", b"yes", b"on"}
_FALSE = {b"false", b"no", b"off", b""}
_INT64_MAX = 2**63 - 1
_UNITS = {b"": 1, b"k": 1024, b"m": 1024**2, b"g": 1024**3}


def _b(s: NameLike) -> bytes:
    return s.encode("utf-8") if isinstance(s, str) else bytes(s)


def _iskeychar(c: int) -> bool:
    return (48 <= c <= 57) or (65 <= c <= 90) or (97 <= c <= 122) or c == 0x2D


def _isalpha(c: int) -> bool:
    return (65 <= c <= 90) or (97 <= c <= 122)


def _norm_section(section: SectionLike) -> tuple:
    """Section tuple with the section name lower-cased (subsection keeps case)."""
    if isinstance(section, (bytes, str)):
        section = (section,)
    if not isinstance(section, tuple) or len(section) > 2:
        raise ConfigError(f"invalid section {section!r}")
    parts = tuple(_b(p) for p in section)
    if not parts:
        return ()
    return (parts[0].lower(),) + parts[1:]


def _norm_name(name: NameLike) -> bytes:
    return _b(name).lower()


def _value_bytes(value: ValueLike) -> bytes:
    if isinstance(value, bool):
        return b"true" if value else b"false"
    if isinstance(value, int):
        return str(value).encode("ascii")
    v = _b(value)
    if b"\0" in v:
        raise ConfigError("config values cannot contain NUL bytes")
    return v


# --- value conversions ---------------------------------------------------

def parse_int(value: bytes | str) -> int:
    """Parse an integer the way git does: C ``strtoimax`` base 0 plus k/m/g."""
    v = _b(value)
    m = re.fullmatch(rb"[ \t\n\r\v\f]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)(.*)", v, re.S)
    if not m:
        raise ConfigError(f"bad numeric config value {v!r}")
    sign, digits, unit = m.groups()
    if digits[:2].lower() == b"0x":
        n = int(digits[2:], 16)
    elif digits.startswith(b"0") and len(digits) > 1:
        n = int(digits[1:], 8)
    else:
        n = int(digits)
    factor = _UNITS.get(unit.lower())
    if factor is None:
        raise ConfigError(f"bad numeric config value {v!r}: invalid unit")
    n *= factor
    if sign == b"-":
        n = -n
    if not -_INT64_MAX - 1 <= n <= _INT64_MAX:
        raise ConfigError(f"bad numeric config value {v!r}: out of range")
    return n


def parse_boolean(value: bytes | str | None) -> bool:
    """Git's boolean rules: a bare key is true; integers count as non-zero."""
    if value is None:
        return True
    v = _b(value).lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    try:
        return parse_int(v) != 0
    except ConfigError:
        raise ConfigError(f"bad boolean config value {value!r}") from None


def quote_value(value: bytes) -> bytes:
    """Encode a value for writing, quoting only when git would need it."""
    out = (value.replace(b"\\", b"\\\\").replace(b'"', b'\\"')
           .replace(b"\n", b"\\n").replace(b"\t", b"\\t").replace(b"\b", b"\\b"))
    if value[:1] == b" " or value[-1:] == b" " or b"#" in value or b";" in value:
        return b'"' + out + b'"'
    return out


def _check_section_name(name: bytes) -> None:
    if not name or not all(_iskeychar(c) or c == 0x2E for c in name):
        raise ConfigError(f"invalid section name {name!r}")


def _check_key_name(name: bytes) -> None:
    if not name or not _isalpha(name[0]) or not all(_iskeychar(c) for c in name):
        raise ConfigError(f"invalid key name {name!r}")


def _format_header(section: tuple) -> bytes:
    if len(section) == 1:
        return b"[" + section[0] + b"]\n"
    sub = section[1]
    if b"\n" in sub or b"\0" in sub:
        raise ConfigError(f"invalid subsection name {sub!r}")
    sub = sub.replace(b"\\", b"\\\\").replace(b'"', b'\\"')
    return b"[" + section[0] + b' "' + sub + b'"]\n'


# --- document model ------------------------------------------------------

class _Item:
    """One line-level piece of a section: a key/value entry or raw comment text."""

    __slots__ = ("name", "key", "value", "raw", "include")

    def __init__(self, name: bytes | None, value: bytes | None, raw: bytes | None):
        self.name = name                      # as written; None for comments
        self.key = name.lower() if name is not None else None
        self.value = value                    # None: bare key (boolean true)
        self.raw = raw                        # original text, None if changed
        self.include: ConfigFile | None = None

    def render(self) -> bytes:
        if self.raw is not None:
            return self.raw if self.raw.endswith(b"\n") else self.raw + b"\n"
        if self.value is None:
            return b"\t" + self.name + b"\n"
        return b"\t" + self.name + b" = " + quote_value(self.value) + b"\n"


class _Block:
    """A section header (as written) and the lines that follow it."""

    __slots__ = ("section", "header_raw", "items")

    def __init__(self, section: tuple, header_raw: bytes | None):
        self.section = section
        self.header_raw = header_raw
        self.items: list[_Item] = []

    def render(self) -> bytes:
        out = []
        if self.section:
            raw = self.header_raw
            if raw is None:
                out.append(_format_header(self.section))
            else:
                out.append(raw if raw.endswith(b"\n") else raw + b"\n")
        out.extend(item.render() for item in self.items)
        return b"".join(out)


# --- parser --------------------------------------------------------------

class _Parser:
    """Character-level port of git's config grammar that records line spans."""

    def __init__(self, data: bytes, source: str):
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        self.data = data
        self.source = source
        self.pos = 0
        self.line = 0          # line of the next char
        self.last_line = 0     # line of the last char consumed
        self.eof = False

    def error(self, line: int) -> ConfigError:
        err = ConfigError(f"bad config line {line + 1} in {self.source}")
        err.line = line + 1
        return err

    def nextc(self) -> int:
        data, pos = self.data, self.pos
        if pos >= len(data):
            self.eof = True
            return _NL
        c = data[pos]
        self.pos = pos + 1
        if c == 0x0D and pos + 1 < len(data) and data[pos + 1] == _NL:
            c = _NL
            self.pos = pos + 2
        self.last_line = self.line
        if c == _NL:
            self.line += 1
        return c

    def parse(self) -> list[tuple]:
        """Return events: ("section", tuple, first, last) / ("entry", name, value, first, last)."""
        events: list[tuple] = []
        comment = False
        section: tuple = ()
        while True:
            start = self.line
            c = self.nextc()
            if c == _NL:
                if self.eof:
                    return events
                comment = False
                continue
            if comment or c in _SPACE_CHARS:
                continue
            if c in b"#;":
                comment = True
                continue
            if c == 0x5B:  # [
                section = self.header(start)
                events.append(("section", section, start, self.last_line))
                continue
            if not _isalpha(c):
                raise self.error(start)
            name, value = self.entry(c, start)
            events.append(("entry", name, value, start, self.last_line))

    def header(self, start: int) -> tuple:
        name = bytearray()
        while True:
            c = self.nextc()
            if self.eof:
                raise self.error(start)
            if c == 0x5D:  # ]
                if not name:
                    raise self.error(start)
                sec, dot, sub = bytes(name).partition(b".")
                return (sec, sub) if dot else (sec,)
            if c in _SPACE_CHARS:
                return self.extended_header(bytes(name), c, start)
            if not (_iskeychar(c) or c == 0x2E):
                raise self.error(start)
            name.append(c | 0x20 if 65 <= c <= 90 else c)

    def extended_header(self, name: bytes, c: int, start: int) -> tuple:
        while c in _SPACE_CHARS:
            if c == _NL:
                raise self.error(start)
            c = self.nextc()
        if c != 0x22 or not name:
            raise self.error(start)
        sub = bytearray()
        while True:
            c = self.nextc()
            if c == _NL:
                raise self.error(start)
            if c == 0x22:
                break
            if c == 0x5C:
                c = self.nextc()
                if c == _NL:
                    raise self.error(start)
            sub.append(c)
        if self.nextc() != 0x5D:
            raise self.error(start)
        return (name, bytes(sub))

    def entry(self, c: int, start: int) -> tuple:
        name = bytearray([c])
        while True:
            c = self.nextc()
            if self.eof or not _iskeychar(c):
                break
            name.append(c)
        while c in b" \t":
            c = self.nextc()
        if c == _NL:
            return bytes(name), None
        if c != 0x3D:  # =
            raise self.error(start)
        return bytes(name), self.value(start)

    def value(self, start: int) -> bytes:
        out = bytearray()
        quote = comment = False
        space = 0
        while True:
            c = self.nextc()
            if c == _NL:
                if quote:
                    raise self.error(start)
                return bytes(out)
            if comment:
                continue
            if c in _SPACE_CHARS and not quote:
                if out:
                    space += 1
                continue
            if not quote and c in b";#":
                comment = True
                continue
            if space:
                out += b" " * space
                space = 0
            if c == 0x5C:
                c = self.nextc()
                if c == _NL:
                    continue  # line continuation (also harmless at EOF)
                esc = {0x74: 0x09, 0x62: 0x08, 0x6E: 0x0A, 0x5C: 0x5C, 0x22: 0x22}.get(c)
                if esc is None:
                    raise self.error(start)
                out.append(esc)
                continue
            if c == 0x22:
                quote = not quote
                continue
            out.append(c)


def _build_blocks(data: bytes, events: list[tuple]) -> list[_Block]:
    """Turn parser events into blocks that keep each untouched line's raw text."""
    lines = data.split(b"\n")
    lines = [ln + b"\n" for ln in lines[:-1]] + ([lines[-1]] if lines[-1] else [])
    owners: dict[int, int] = {}
    shared: set[int] = set()
    for i, ev in enumerate(events):
        for ln in range(ev[-2], ev[-1] + 1):
            if ln in owners:
                shared.add(i)
                shared.add(owners[ln])
            else:
                owners[ln] = i
    blocks = [_Block((), None)]
    next_line = 0

    def trivia(upto: int) -> None:
        for ln in range(next_line, upto):
            if ln not in owners and ln < len(lines):
                blocks[-1].items.append(_Item(None, None, lines[ln]))

    for i, ev in enumerate(events):
        first, last = ev[-2], ev[-1]
        trivia(first)
        next_line = max(next_line, last + 1)
        raw = None if i in shared else b"".join(lines[first:last + 1])
        if ev[0] == "section":
            blocks.append(_Block(ev[1], raw))
        else:
            blocks[-1].items.append(_Item(ev[1], ev[2], raw))
    trivia(len(lines))
    return blocks


# --- includes ------------------------------------------------------------

def _gitdir_pattern_regex(pattern: bytes, config_dir: str | None, icase: bool) -> re.Pattern | None:
    """Compile an ``includeIf "gitdir:..."`` pattern (git's wildmatch subset)."""
    if pattern.startswith(b"~/"):
        pattern = os.path.expanduser("~").encode() + pattern[1:]
    elif pattern.startswith(b"./"):
        if config_dir is None:
            return None
        pattern = os.fsencode(config_dir) + pattern[1:]
    elif not pattern.startswith(b"/"):
        pattern = b"**/" + pattern
    if pattern.endswith(b"/"):
        pattern += b"**"
    out, i, n = [], 0, len(pattern)
    while i < n:
        if pattern.startswith(b"**/", i):
            out.append(b"(?:.*/)?")
            i += 3
        elif pattern.startswith(b"**", i):
            out.append(b".*")
            i += 2
        elif pattern[i:i + 1] == b"*":
            out.append(b"[^/]*")
            i += 1
        elif pattern[i:i + 1] == b"?":
            out.append(b"[^/]")
            i += 1
        elif pattern[i:i + 1] == b"[" and b"]" in pattern[i + 2:]:
            j = pattern.index(b"]", i + 2)
            body = pattern[i + 1:j]
            if body[:1] == b"!":
                body = b"^" + body[1:]
            out.append(b"[" + body.replace(b"\\", b"\\\\") + b"]")
            i = j + 1
        else:
            out.append(re.escape(pattern[i:i + 1]))
            i += 1
    return re.compile(b"".join(out), re.S | (re.I if icase else 0))


def _include_condition_holds(cond: bytes, config_dir: str | None, gitdir: str | None) -> bool:
    for prefix, icase in ((b"gitdir:", False), (b"gitdir/i:", True)):
        if cond.startswith(prefix):
            if gitdir is None:
                return False
            rx = _gitdir_pattern_regex(cond[len(prefix):], config_dir, icase)
            if rx is None:
                return False
            candidates = {os.path.abspath(gitdir), os.path.realpath(gitdir)}
            return any(rx.fullmatch(os.fsencode(c)) for c in candidates)
    return False  # onbranch:, hasconfig: and unknown conditions are not supported


# --- public classes ------------------------------------------------------

class ConfigDict:
    """An ordered, in-memory Git config with Git's lookup rules (last value wins)."""

    def __init__(self, values: dict | None = None):
        self._blocks: list[_Block] = [_Block((), None)]
        for section, pairs in (values or {}).items():
            for name, value in dict(pairs).items():
                self.add(section, name, value)

    # reading
    def _entries(self) -> Iterator[tuple[tuple, _Item]]:
        for block in self._blocks:
            for item in block.items:
                if item.key is None:
                    continue
                yield block.section, item
                if item.include is not None:
                    yield from item.include._entries()

    def _values(self, section: SectionLike, name: NameLike) -> list[bytes | None]:
        sec, key = _norm_section(section), _norm_name(name)
        return [it.value for s, it in self._entries() if s == sec and it.key == key]

    def get(self, section: SectionLike, name: NameLike) -> bytes:
        """Return the last value of ``name`` (``b"true"`` for a bare key); KeyError if unset."""
        values = self._values(section, name)
        if not values:
            raise KeyError(name)
        return b"true" if values[-1] is None else values[-1]

    def get_multivalue(self, section: SectionLike, name: NameLike) -> list[bytes]:
        """Every value of a multi-valued key, in file order."""
        return [b"true" if v is None else v for v in self._values(section, name)]

    def get_boolean(self, section: SectionLike, name: NameLike, default: bool | None = None) -> bool | None:
        values = self._values(section, name)
        if not values:
            return default
        return parse_boolean(values[-1])

    def get_int(self, section: SectionLike, name: NameLike, default: int | None = None) -> int | None:
        values = self._values(section, name)
        if not values:
            return default
        if values[-1] is None:
            raise ConfigError(f"missing value for integer config {name!r}")
        return parse_int(values[-1])

    def sections(self) -> Iterator[tuple]:
        seen: set = set()
        for section, _ in self._entries():
            if section not in seen:
                seen.add(section)
                yield section
        for block in self._blocks:  # empty sections count too
            if block.section and block.section not in seen:
                seen.add(block.section)
                yield block.section

    def has_section(self, section: SectionLike) -> bool:
        sec = _norm_section(section)
        return any(s == sec for s in self.sections())

    def items(self, section: SectionLike) -> list[tuple[bytes, bytes]]:
        sec = _norm_section(section)
        return [(it.name, b"true" if it.value is None else it.value)
                for s, it in self._entries() if s == sec]

    def __getitem__(self, section: SectionLike) -> dict[bytes, bytes]:
        if not self.has_section(section):
            raise KeyError(section)
        return {name.lower(): value for name, value in self.items(section)}

    def __contains__(self, section: object) -> bool:
        try:
            return self.has_section(section)  # type: ignore[arg-type]
        except ConfigError:
            return False

    def __iter__(self) -> Iterator[tuple]:
        return self.sections()

    def __len__(self) -> int:
        return sum(1 for _ in self.sections())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ConfigDict):
            return NotImplemented
        return self.as_list() == other.as_list()

    def as_list(self) -> list[tuple[tuple, bytes, bytes | None]]:
        """(section, lower-case name, raw value or None) for every entry, in order."""
        return [(s, it.key, it.value) for s, it in self._entries()]

    # writing
    def _add_item(self, sec: tuple, item: _Item) -> None:
        for block in reversed(self._blocks):
            if block.section == sec:
                pos = len(block.items)
                while pos and block.items[pos - 1].key is None:
                    pos -= 1
                block.items.insert(pos, item)
                return
        block = _Block(sec, None)
        block.items.append(item)
        self._blocks.append(block)

    def _checked(self, section: SectionLike, name: NameLike) -> tuple[tuple, bytes]:
        sec, raw_name = _norm_section(section), _b(name)
        if not sec:
            raise ConfigError("a key needs a section")
        _check_section_name(sec[0])
        if len(sec) == 2:
            _format_header(sec)  # validates the subsection
        _check_key_name(raw_name)
        return sec, raw_name

    def set(self, section: SectionLike, name: NameLike, value: ValueLike | None) -> None:
        """Give ``name`` exactly one value (replacing all others); None writes a bare key."""
        sec, raw_name = self._checked(section, name)
        val = None if value is None else _value_bytes(value)
        key = raw_name.lower()
        hits = [(b, it) for b in self._blocks if b.section == sec
                for it in b.items if it.key == key]
        if not hits:
            self._add_item(sec, _Item(raw_name, val, None))
            return
        for block, item in hits[:-1]:
            block.items.remove(item)
        item = hits[-1][1]
        item.value, item.raw, item.include = val, None, None

    def add(self, section: SectionLike, name: NameLike, value: ValueLike) -> None:
        """Append one more value to a (multi-valued) key."""
        sec, raw_name = self._checked(section, name)
        self._add_item(sec, _Item(raw_name, _value_bytes(value), None))

    def unset(self, section: SectionLike, name: NameLike) -> bool:
        """Remove every value of ``name``; return whether anything was removed."""
        sec, key = _norm_section(section), _norm_name(name)
        removed = False
        for block in self._blocks:
            if block.section == sec:
                keep = [it for it in block.items if it.key != key]
                removed |= len(keep) != len(block.items)
                block.items = keep
        return removed

    def remove_section(self, section: SectionLike) -> None:
        sec = _norm_section(section)
        before = len(self._blocks)
        self._blocks = [b for b in self._blocks if b.section != sec or not sec]
        if len(self._blocks) == before:
            raise KeyError(section)

    __delitem__ = remove_section

    def __setitem__(self, section: SectionLike, values: dict) -> None:
        sec = _norm_section(section)
        self._blocks = [b for b in self._blocks if b.section != sec or not sec]
        self._blocks.append(_Block(sec, None))
        for name, value in values.items():
            self.add(sec, name, value)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.as_list()!r})"


class ConfigFile(ConfigDict):
    """A config file on disk (or from a stream) that can be written back."""

    def __init__(self, values: dict | None = None):
        super().__init__(values)
        self.path: str | None = None

    @classmethod
    def from_file(cls, f: BinaryIO, *, path: str | None = None, gitdir: str | None = None,
                  _depth: int = 0) -> "ConfigFile":
        """Parse a stream; ``path`` (for relative includes) and ``gitdir`` (for includeIf) are optional."""
        data = f.read()
        if isinstance(data, str):
            data = data.encode("utf-8")
        return cls._from_bytes(data, path, gitdir, _depth)

    @classmethod
    def from_path(cls, path: str | os.PathLike, *, gitdir: str | None = None,
                  _depth: int = 0) -> "ConfigFile":
        path = os.fspath(path)
        with open(path, "rb") as f:
            data = f.read()
        return cls._from_bytes(data, path, gitdir, _depth)

    @classmethod
    def _from_bytes(cls, data: bytes, path: str | None, gitdir: str | None, depth: int) -> "ConfigFile":
        events = _Parser(data, f"file {path}" if path else "blob").parse()
        cfg = cls()
        cfg._blocks = _build_blocks(data, events)
        cfg.path = path
        cfg._load_includes(gitdir, depth)
        return cfg

    def _load_includes(self, gitdir: str | None, depth: int) -> None:
        config_dir = os.path.dirname(os.path.abspath(self.path)) if self.path else None
        for block in self._blocks:
            sec = block.section
            if not sec or sec[0] not in (b"include", b"includeif"):
                continue
            if sec[0] == b"include" and len(sec) != 1:
                continue
            if sec[0] == b"includeif" and (len(sec) != 2 or
                                           not _include_condition_holds(sec[1], config_dir, gitdir)):
                continue
            for item in block.items:
                if item.key != b"path" or not item.value:
                    continue
                target = os.path.expanduser(os.fsdecode(item.value))
                if not os.path.isabs(target):
                    if config_dir is None:
                        continue  # git refuses relative includes from a blob
                    target = os.path.join(config_dir, target)
                if depth + 1 > MAX_INCLUDE_DEPTH:
                    raise ConfigError(f"exceeded maximum include depth ({MAX_INCLUDE_DEPTH}) "
                                      f"while including {target}")
                try:
                    item.include = ConfigFile.from_path(target, gitdir=gitdir, _depth=depth + 1)
                except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                    item.include = None  # git silently skips missing includes

    def to_bytes(self) -> bytes:
        return b"".join(block.render() for block in self._blocks)

    def write_to_file(self, f: BinaryIO) -> None:
        f.write(self.to_bytes())

    def write_to_path(self, path: str | os.PathLike | None = None) -> None:
        """Write atomically: take ``<path>.lock`` exclusively, then rename over the file."""
        path = os.fspath(path) if path is not None else self.path
        if path is None:
            raise ConfigError("no path to write the config to")
        lock = path + ".lock"
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            raise ConfigError(f"could not lock config file {path}: {lock} exists") from None
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(self.to_bytes())
                f.flush()
                os.fsync(f.fileno())
            os.replace(lock, path)
        except BaseException:
            try:
                os.unlink(lock)
            except FileNotFoundError:
                pass
            raise


def _xdg_config_path() -> str:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "git", "config")


class StackedConfig:
    """Several configs consulted in order; the first that has a key wins."""

    def __init__(self, backends: Iterable[ConfigDict], writable: ConfigDict | None = None):
        self.backends = list(backends)
        self.writable = writable

    @staticmethod
    def default_backends() -> list[ConfigFile]:
        """User (~/.gitconfig), XDG and system configs, skipping missing files."""
        paths = [os.path.expanduser("~/.gitconfig"), _xdg_config_path()]
        if "GIT_CONFIG_NOSYSTEM" not in os.environ:
            paths.append("/etc/gitconfig")
        backends = []
        for path in paths:
            try:
                backends.append(ConfigFile.from_path(path))
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError):
                continue
        return backends

    @classmethod
    def default(cls) -> "StackedConfig":
        return cls(cls.default_backends())

    def get(self, section: SectionLike, name: NameLike) -> bytes:
        for backend in self.backends:
            try:
                return backend.get(section, name)
            except KeyError:
                continue
        raise KeyError(name)

    def get_multivalue(self, section: SectionLike, name: NameLike) -> list[bytes]:
        out: list[bytes] = []
        for backend in self.backends:
            out.extend(backend.get_multivalue(section, name))
        return out

    def get_boolean(self, section: SectionLike, name: NameLike, default: bool | None = None) -> bool | None:
        for backend in self.backends:
            value = backend.get_boolean(section, name)
            if value is not None:
                return value
        return default

    def get_int(self, section: SectionLike, name: NameLike, default: int | None = None) -> int | None:
        for backend in self.backends:
            value = backend.get_int(section, name)
            if value is not None:
                return value
        return default

    def sections(self) -> Iterator[tuple]:
        seen: set = set()
        for backend in self.backends:
            for section in backend.sections():
                if section not in seen:
                    seen.add(section)
                    yield section

    def has_section(self, section: SectionLike) -> bool:
        return any(b.has_section(section) for b in self.backends)

    def set(self, section: SectionLike, name: NameLike, value: ValueLike) -> None:
        if self.writable is None:
            raise NotImplementedError("this StackedConfig has no writable backend")
        self.writable.set(section, name, value)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.backends!r})"
