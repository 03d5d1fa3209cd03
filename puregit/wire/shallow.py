"""Shallow updates: the server's answer to a depth request (v0/v1).

Grammar::

    shallow-update = *PKT-LINE("shallow" SP obj-id) *PKT-LINE("unshallow" SP obj-id) flush-pkt

cgit writes these lines without LF.  The v2 ``shallow-info`` section uses the
same lines (see :mod:`puregit.wire.v2`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from ..errors import UnexpectedMessage
from ..pktline import FLUSH, Special
from .base import Line, Parser, WireMessage, check_oid, data_pkt, parse_oid

__all__ = ["ShallowUpdate", "parse_shallow_line", "shallow_lines"]


def parse_shallow_line(pkt) -> tuple:
    """Return ``(b"shallow"|b"unshallow", oid)`` for one line."""
    text = data_pkt(pkt, "shallow/unshallow line")
    key, sep, rest = text.partition(b" ")
    if not sep or key not in (b"shallow", b"unshallow"):
        raise UnexpectedMessage(f"expected shallow/unshallow, got {text[:80]!r}")
    return key, parse_oid(rest)


def shallow_lines(shallows, unshallows) -> Iterable[Line]:
    for s in shallows:
        yield (b"shallow " + check_oid(s), False)
    for s in unshallows:
        yield (b"unshallow " + check_oid(s), False)


@dataclass
class ShallowUpdate(WireMessage):
    """New shallow boundary commits and commits that are no longer shallow."""

    shallows: list = field(default_factory=list)
    unshallows: list = field(default_factory=list)

    def _lines(self) -> Iterable[Line]:
        yield from shallow_lines(self.shallows, self.unshallows)
        yield FLUSH

    @classmethod
    def _parser(cls) -> Parser:
        msg = cls()
        while True:
            pkt = yield
            if pkt is FLUSH:
                return msg
            if isinstance(pkt, Special):
                raise UnexpectedMessage(f"unexpected {pkt!r} in shallow update")
            key, oid = parse_shallow_line(pkt)
            if key == b"shallow":
                if msg.unshallows:
                    raise UnexpectedMessage("shallow line after unshallow lines")
                msg.shallows.append(oid)
            else:
                msg.unshallows.append(oid)
