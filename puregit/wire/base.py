"""Shared machinery for typed wire messages.

How decoding works (the same for every message in :mod:`puregit.wire`):

* Each message is a dataclass with ``encode() -> bytes`` giving the complete
  pkt-line framed output (flush/delim included).
* Each message class has a parser written as a generator: it ``yield``\\s to
  receive the next packet (payload bytes or a :class:`~puregit.pktline.Special`)
  and ``return``\\s the message once it has seen its last packet.  The
  generator never sees more than it asked for, so a message decoder can be
  fed one packet at a time and stops exactly at the end of its message.
* :class:`MessageDecoder` drives such a parser.  ``feed_pkt(pkt)`` takes one
  packet; ``feed(data)`` takes raw bytes (any fragment size) and splits them
  with an internal :class:`~puregit.pktline.PktLineDecoder`.  When ``done`` is
  true, ``result`` holds the message and ``unused`` the bytes after it.
* Convenience class methods: ``decode(data)`` (whole input, trailing bytes are
  an error), ``decode_prefix(data) -> (msg, rest)``, ``from_pkts(list)``.

Receivers must accept text lines with or without their trailing LF, and cgit
itself is inconsistent (``want <oid>\\n`` but ``deepen 1``).  Decoders record
which lines carried an LF in the message's ``lf`` field (excluded from
equality) so ``encode(decode(x)) == x``; messages built in code use cgit's
own convention for each line.

Malformed input raises a :class:`puregit.errors.ProtocolError` subclass; an
``ERR <text>`` packet where a server message is expected raises
:class:`puregit.errors.ErrPktError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Generator, Iterable, Optional, TypeVar, Union

from ..errors import (
    ErrPktError, InvalidObjectId, InvalidRefName, PuregitError,
    UnexpectedEOF, UnexpectedMessage,
)
from ..pktline import NEED_DATA, Pkt, PktLineDecoder, Special, pkt_line

__all__ = [
    "WireMessage", "MessageDecoder", "Raw", "Parser",
    "parse_oid", "check_oid", "parse_uint", "check_text", "check_refname", "data_pkt",
]

T = TypeVar("T", bound="WireMessage")
Parser = Generator[None, Pkt, Any]

_HEXCHARS = frozenset(b"0123456789abcdefABCDEF")
_DIGITS = frozenset(b"0123456789")


@dataclass(frozen=True)
class Raw:
    """A packet payload written verbatim (binary, no LF handling)."""

    data: bytes


Line = Union[Special, Raw, tuple]  # tuple = (text, default_lf)


def parse_oid(text: bytes, what: str = "object id") -> bytes:
    """Validate a hex id from the wire (40 or 64 digits); return it lower-case."""
    if len(text) not in (40, 64) or not _HEXCHARS.issuperset(text):
        raise UnexpectedMessage(f"invalid {what} {bytes(text[:80])!r}")
    return bytes(text).lower()


def check_oid(oid: bytes) -> bytes:
    """Validate an id given by the caller; return it lower-case."""
    if not isinstance(oid, (bytes, bytearray)) or len(oid) not in (40, 64) \
            or not _HEXCHARS.issuperset(oid):
        raise InvalidObjectId(f"invalid hex object id {oid!r}")
    return bytes(oid).lower()


def parse_uint(text: bytes, what: str = "number") -> int:
    """Parse a decimal number strictly (no sign, spaces or underscores)."""
    if not text or len(text) > 20 or not _DIGITS.issuperset(text):
        raise UnexpectedMessage(f"invalid {what} {bytes(text[:40])!r}")
    return int(text)


def check_text(text: bytes, what: str = "value", space: bool = True) -> bytes:
    """Refuse caller values that would corrupt framing (LF, NUL, maybe space)."""
    if not isinstance(text, (bytes, bytearray)):
        raise TypeError(f"{what} must be bytes, not {type(text).__name__}")
    bad = b"\n\0" if space else b"\n\0 "
    if any(c in bad for c in text):
        raise ValueError(f"{what} {text!r} contains a forbidden character")
    return bytes(text)


def check_refname(name: bytes) -> bytes:
    """Refuse ref names that cannot travel in a pkt-line (empty, space, LF, NUL)."""
    if not isinstance(name, (bytes, bytearray)) or not name or any(c in b" \n\0" for c in name):
        raise InvalidRefName(f"invalid ref name for the wire: {name!r}")
    return bytes(name)


def data_pkt(pkt: Pkt, what: str) -> bytes:
    """Return the payload of a data packet with its trailing LF removed."""
    if isinstance(pkt, Special):
        raise UnexpectedMessage(f"expected {what}, got {pkt!r}")
    return pkt[:-1] if pkt.endswith(b"\n") else pkt


@dataclass
class WireMessage:
    """Base class: framing shared by every typed message."""

    #: Which data lines ended in LF when decoded (None: cgit's defaults).
    lf: Optional[tuple] = field(default=None, compare=False, repr=False, kw_only=True)

    #: Whether an ``ERR`` packet is meaningful where this message is expected.
    _server_message: ClassVar[bool] = True

    # -- encoding --------------------------------------------------------
    def _lines(self) -> Iterable[Line]:  # pragma: no cover - abstract
        raise NotImplementedError

    def pkts(self) -> list[Pkt]:
        """The packets of this message (payloads with their LFs)."""
        items = list(self._lines())
        flags = self.lf
        n_data = sum(1 for it in items if not isinstance(it, Special))
        use_flags = flags is not None and len(flags) == n_data
        out: list[Pkt] = []
        i = 0
        for it in items:
            if isinstance(it, Special):
                out.append(it)
                continue
            if isinstance(it, Raw):
                out.append(it.data)
            else:
                text, default_lf = it
                lf = flags[i] if use_flags else default_lf
                out.append(text + b"\n" if lf else text)
            i += 1
        return out

    def encode(self) -> bytes:
        """Return the complete pkt-line framed message."""
        return b"".join(pkt_line(p) for p in self.pkts())

    # -- decoding --------------------------------------------------------
    @classmethod
    def _parser(cls, **opts: Any) -> Parser:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def decoder(cls: type[T], **opts: Any) -> "MessageDecoder[T]":
        """Return an incremental decoder for one message of this type."""
        return MessageDecoder(cls._parser(**opts), err_packets=cls._server_message)

    @classmethod
    def decode_prefix(cls: type[T], data: bytes, **opts: Any) -> tuple[T, bytes]:
        """Decode one message from the start of ``data``; return it and the rest."""
        d = cls.decoder(**opts)
        d.feed(data)
        return d.finish(), d.unused

    @classmethod
    def decode(cls: type[T], data: bytes, **opts: Any) -> T:
        """Decode ``data`` that holds exactly one message."""
        msg, rest = cls.decode_prefix(data, **opts)
        if rest:
            raise UnexpectedMessage(f"{len(rest)} unexpected bytes after {cls.__name__}")
        return msg

    @classmethod
    def from_pkts(cls: type[T], pkts: Iterable[Pkt], **opts: Any) -> T:
        """Decode from already split packets; all of them must be consumed."""
        d = cls.decoder(**opts)
        for p in pkts:
            if d.done:
                raise UnexpectedMessage(f"unexpected packet after {cls.__name__}")
            d.feed_pkt(p)
        return d.finish()


class MessageDecoder:
    """Drives a generator parser; see the module docstring."""

    def __init__(self, parser: Parser, err_packets: bool = True) -> None:
        self._gen = parser
        self._err = err_packets
        self._flags: list[bool] = []
        self._pkts = PktLineDecoder()
        self.done = False
        self.result: Any = None
        self._guard(lambda: next(self._gen))

    def _guard(self, step) -> None:
        try:
            step()
        except StopIteration as stop:
            self.done = True
            self.result = stop.value
            if isinstance(self.result, WireMessage):
                self.result.lf = tuple(self._flags)
        except PuregitError:
            self._gen.close()
            raise
        except (ValueError, IndexError, KeyError, TypeError, UnicodeError) as exc:
            # Safety net: parsers should raise typed errors themselves.
            self._gen.close()
            raise UnexpectedMessage(f"malformed message: {exc}") from exc

    def feed_pkt(self, pkt: Pkt) -> bool:
        """Feed one packet; return True once the message is complete."""
        if self.done:
            raise UnexpectedMessage("packet fed after the message was complete")
        if not isinstance(pkt, Special):
            if not isinstance(pkt, (bytes, bytearray)):
                raise TypeError("packets are bytes or pktline.Special")
            pkt = bytes(pkt)
            if self._err and pkt.startswith(b"ERR "):
                self._gen.close()
                raise ErrPktError(pkt[4:].rstrip(b"\n"))
            self._flags.append(pkt.endswith(b"\n"))
        self._guard(lambda: self._gen.send(pkt))
        return self.done

    def feed(self, data: bytes) -> bool:
        """Feed raw bytes; stops at the end of the message (rest in ``unused``)."""
        self._pkts.feed(data)
        while not self.done:
            pkt = self._pkts.next_pkt()
            if pkt is NEED_DATA:
                break
            self.feed_pkt(pkt)  # type: ignore[arg-type]
        return self.done

    @property
    def unused(self) -> bytes:
        """Bytes fed after the end of the message (or not yet parsed)."""
        return self._pkts.unused

    def finish(self) -> Any:
        """Return the message; raise :class:`UnexpectedEOF` if incomplete."""
        if not self.done:
            raise UnexpectedEOF("input ended in the middle of a message")
        return self.result

