"""Reflog lines: ``<old> SP <new> SP <name> <<email>> SP <time> SP <tz> [TAB <message>] LF``.

A reflog is an append-only history of one ref, kept in ``logs/<refname>``.
Messages are flattened to one line the way git does (runs of whitespace
become one space), so a message can never forge a second entry.
"""

from __future__ import annotations

import re
from typing import BinaryIO, Iterator, NamedTuple

from .errors import RefFormatError

__all__ = [
    "Entry",
    "format_reflog_line",
    "parse_reflog_line",
    "read_reflog",
    "format_timezone",
    "parse_timezone",
    "normalize_reflog_message",
]

ZERO_SHA = b"0" * 40
_LINE = re.compile(
    rb"([0-9a-f]{40}|[0-9a-f]{64}) ([0-9a-f]{40}|[0-9a-f]{64}) ([^\n]*>) (-?[0-9]+) ([+-][0-9]{4})\Z", re.S)


class Entry(NamedTuple):
    old_sha: bytes
    new_sha: bytes
    committer: bytes
    timestamp: int
    timezone: int      # seconds east of UTC
    message: bytes


def format_timezone(offset: int) -> bytes:
    """Seconds east of UTC -> ``+HHMM``."""
    sign = b"-" if offset < 0 else b"+"
    offset = abs(offset)
    return sign + b"%02d%02d" % (offset // 3600, (offset // 60) % 60)


def parse_timezone(text: bytes) -> int:
    if not re.fullmatch(rb"[+-][0-9]{4}", text):
        raise RefFormatError(f"bad timezone {text!r}")
    value = int(text[1:3]) * 3600 + int(text[3:5]) * 60
    return -value if text[:1] == b"-" else value


def normalize_reflog_message(message: bytes) -> bytes:
    """Collapse whitespace runs to single spaces and strip the ends (git's copy_reflog_msg)."""
    return b" ".join(message.split())


def format_reflog_line(old_sha: bytes | None, new_sha: bytes | None, committer: bytes,
                       timestamp: int | float, timezone: int, message: bytes | None) -> bytes:
    """One reflog line, newline included. A missing old/new id is written as zeros."""
    size = len(new_sha or old_sha or ZERO_SHA)
    old_sha = old_sha or b"0" * size
    new_sha = new_sha or b"0" * size
    if b"\n" in committer or b"<" not in committer:
        raise ValueError(f"invalid committer identity {committer!r}")
    line = b"%s %s %s %d %s" % (old_sha, new_sha, committer, int(timestamp), format_timezone(timezone))
    msg = normalize_reflog_message(message or b"")
    if msg:
        line += b"\t" + msg
    return line + b"\n"


def parse_reflog_line(line: bytes) -> Entry:
    """Parse one line (with or without its newline)."""
    line = line.rstrip(b"\n")
    head, _, message = line.partition(b"\t")
    m = _LINE.match(head)
    if not m:
        raise RefFormatError(f"malformed reflog line {line!r}")
    old, new, who, ts, tz = m.groups()
    return Entry(old, new, who, int(ts), parse_timezone(tz), message)


def read_reflog(f: BinaryIO) -> Iterator[Entry]:
    """Yield the entries of an open reflog file, oldest first."""
    for line in f:
        if line.strip():
            yield parse_reflog_line(line)
