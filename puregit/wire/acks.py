"""ACK/NAK lines of v0/v1 negotiation (single ack, multi_ack, multi_ack_detailed).

Grammar::

    ack  = PKT-LINE("ACK" SP obj-id LF)                         ; single ack / final ack
    ack_multi = PKT-LINE("ACK" SP obj-id SP ("continue" / "common" / "ready") LF)
    nak  = PKT-LINE("NAK" LF)

Each line is its own message because how many arrive depends on the
negotiation state (the caller's job).  :class:`AckLine` decodes either kind
(the decoder's result is an :class:`Ack` or a :class:`Nak`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional

from ..errors import UnexpectedMessage
from .base import Line, Parser, WireMessage, check_oid, data_pkt, parse_oid

__all__ = ["Ack", "Nak", "AckLine", "ACK_CONTINUE", "ACK_COMMON", "ACK_READY", "ACK_STATUSES",
           "NAK_LINE"]

ACK_CONTINUE = b"continue"
ACK_COMMON = b"common"
ACK_READY = b"ready"
ACK_STATUSES = (ACK_CONTINUE, ACK_COMMON, ACK_READY)
NAK_LINE = b"NAK\n"


def _parse_ack_line(pkt, accept_ack: bool, accept_nak: bool):
    text = data_pkt(pkt, "ACK/NAK line")
    if text == b"NAK" and accept_nak:
        return Nak()
    parts = text.split(b" ")
    if accept_ack and parts[0] == b"ACK" and len(parts) in (2, 3):
        status = parts[2] if len(parts) == 3 else None
        if status is not None and status not in ACK_STATUSES:
            raise UnexpectedMessage(f"unknown ACK status {status[:40]!r}")
        return Ack(parse_oid(parts[1]), status)
    raise UnexpectedMessage(f"expected ACK or NAK, got {text[:80]!r}")


@dataclass
class Ack(WireMessage):
    """``ACK <oid> [continue|common|ready]``."""

    oid: bytes
    status: Optional[bytes] = None

    def _lines(self) -> Iterable[Line]:
        line = b"ACK " + check_oid(self.oid)
        if self.status is not None:
            if self.status not in ACK_STATUSES:
                raise ValueError(f"unknown ACK status {self.status!r}")
            line += b" " + self.status
        yield (line, True)

    @classmethod
    def _parser(cls) -> Parser:
        pkt = yield
        return _parse_ack_line(pkt, True, False)


@dataclass
class Nak(WireMessage):
    """``NAK``: nothing in common (yet)."""

    def _lines(self) -> Iterable[Line]:
        yield (b"NAK", True)

    @classmethod
    def _parser(cls) -> Parser:
        pkt = yield
        return _parse_ack_line(pkt, False, True)


class AckLine(WireMessage):
    """Decoder-only entry point: one ACK or NAK line (result is Ack or Nak)."""

    @classmethod
    def _parser(cls) -> Parser:
        pkt = yield
        return _parse_ack_line(pkt, True, True)
