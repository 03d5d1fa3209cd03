"""Generic functions for talking the git smart server protocol (Dulwich's API).

The classes here are thin blocking adapters: they move bytes between a
``read``/``write`` pair (pipes, sockets, files) and the pure layer in
:mod:`puregit.pktline`, :mod:`puregit.sideband`, :mod:`puregit.capabilities`
and :mod:`puregit.wire`, which do all parsing and never touch I/O.  An asyncio
adapter can reuse the pure layer unchanged.

Differences from Dulwich worth knowing: ``read_pkt_line`` returns ``None``
only for a flush-pkt; use :meth:`Protocol.read_pkt` to see delim and
response-end packets (protocol v2).  An ``ERR`` pkt-line raises
:class:`puregit.errors.ErrPktError` (a :class:`RemoteError`).
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, Optional

from .capabilities import *  # noqa: F401,F403  (re-export the capability names)
from .capabilities import __all__ as _capability_names
from .capabilities import (
    SINGLE_ACK, MULTI_ACK, MULTI_ACK_DETAILED, ack_type, capability_symref,
)
from .errors import (
    ErrPktError, GitProtocolError, HangupException, UnexpectedMessage,
)
from .pktline import (
    DELIM, DELIM_PKT, FLUSH, FLUSH_PKT, MAX_PKT_PAYLOAD, MAX_PKT_SIZE, NEED_DATA, RESPONSE_END,
    RESPONSE_END_PKT, Pkt, PktLineDecoder, Special, parse_pkt_length, pkt_line,
)
from .sideband import (
    SIDE_BAND_64K_MAX_DATA, SIDE_BAND_CHANNEL_DATA, SIDE_BAND_CHANNEL_FATAL,
    SIDE_BAND_CHANNEL_PROGRESS, SIDE_BAND_MAX_DATA, iter_mux,
)
from .wire.acks import ACK_COMMON, ACK_CONTINUE, ACK_READY, NAK_LINE
from .wire.advertisement import CAPABILITIES_REF, HAVE_REF, PEELED_TAG_SUFFIX
from .wire.request import format_request_payload, parse_request_payload
from .wire.upload_request import DEPTH_INFINITE

__all__ = [
    "BufferedPktLineWriter", "PktLineParser", "Protocol", "ProtocolFile", "ReceivableProtocol",
    "ack_type", "capability_symref", "extract_capabilities", "extract_want_line_capabilities",
    "pkt_line", "pkt_seq", "format_ref_line", "format_shallow_line", "format_unshallow_line",
    "format_ack_line", "split_peeled_refs", "strip_peeled_refs",
    "TCP_GIT_PORT", "ZERO_SHA", "NAK_LINE", "SINGLE_ACK", "MULTI_ACK", "MULTI_ACK_DETAILED",
    "SIDE_BAND_CHANNEL_DATA", "SIDE_BAND_CHANNEL_PROGRESS", "SIDE_BAND_CHANNEL_FATAL",
    "SIDE_BAND_MAX_DATA", "SIDE_BAND_64K_MAX_DATA", "PEELED_TAG_SUFFIX", "CAPABILITIES_REF",
    "HAVE_REF", "DEPTH_INFINITE", "FLUSH", "DELIM", "RESPONSE_END", "FLUSH_PKT", "DELIM_PKT",
    "RESPONSE_END_PKT", "MAX_PKT_SIZE", "MAX_PKT_PAYLOAD",
    "DEFAULT_GIT_PROTOCOL_VERSION_FETCH", "DEFAULT_GIT_PROTOCOL_VERSION_SEND",
    "GIT_PROTOCOL_VERSIONS", "COMMAND_DEEPEN", "COMMAND_SHALLOW", "COMMAND_UNSHALLOW",
    "COMMAND_DONE", "COMMAND_WANT", "COMMAND_HAVE", "ACK_CONTINUE", "ACK_COMMON", "ACK_READY",
] + list(_capability_names)

TCP_GIT_PORT = 9418
ZERO_SHA = b"0" * 40

# Fetch uses protocol v2 by default (like git >= 2.29); push has no v2.
DEFAULT_GIT_PROTOCOL_VERSION_FETCH = 2
DEFAULT_GIT_PROTOCOL_VERSION_SEND = 0
GIT_PROTOCOL_VERSIONS = [0, 1, 2]

COMMAND_DEEPEN = b"deepen"
COMMAND_SHALLOW = b"shallow"
COMMAND_UNSHALLOW = b"unshallow"
COMMAND_DONE = b"done"
COMMAND_WANT = b"want"
COMMAND_HAVE = b"have"


# --- helper functions --------------------------------------------------------

def pkt_seq(*seq: Optional[bytes]) -> bytes:
    """Wrap a sequence of payloads in pkt-lines and add a flush-pkt."""
    return b"".join(pkt_line(s) for s in seq) + FLUSH_PKT


def extract_capabilities(text: bytes) -> tuple[bytes, list[bytes]]:
    """Split ``text NUL caps`` into ``(text, [caps])``; no NUL gives ``(text, [])``."""
    if b"\0" not in text:
        return text, []
    head, _, caps = text.rstrip(b"\n").partition(b"\0")
    return head, [c for c in caps.split(b" ") if c]


def extract_want_line_capabilities(text: bytes) -> tuple[bytes, list[bytes]]:
    """Split ``want <oid> cap1 cap2`` into ``(b"want <oid>", [caps])``."""
    parts = text.rstrip(b"\n").split(b" ")
    if len(parts) < 3:
        return text, []
    return b" ".join(parts[:2]), [c for c in parts[2:] if c]


def format_ref_line(ref: bytes, sha: bytes, capabilities: Optional[list] = None) -> bytes:
    """``sha SP ref [NUL caps] LF`` (a payload, not framed)."""
    if capabilities is None:
        return sha + b" " + ref + b"\n"
    return sha + b" " + ref + b"\0" + b" ".join(capabilities) + b"\n"


def format_shallow_line(sha: bytes) -> bytes:
    return COMMAND_SHALLOW + b" " + sha


def format_unshallow_line(sha: bytes) -> bytes:
    return COMMAND_UNSHALLOW + b" " + sha


def format_ack_line(sha: bytes, ack_type: bytes = b"") -> bytes:
    if ack_type:
        ack_type = b" " + ack_type
    return b"ACK " + sha + ack_type + b"\n"


def split_peeled_refs(refs: dict) -> tuple[dict, dict]:
    """Split a refs dict into ``(refs, peeled)`` by the ``^{}`` suffix."""
    plain, peeled = {}, {}
    for name, sha in refs.items():
        if name.endswith(PEELED_TAG_SUFFIX):
            peeled[name[:-len(PEELED_TAG_SUFFIX)]] = sha
        else:
            plain[name] = sha
    return plain, peeled


def strip_peeled_refs(refs: dict) -> dict:
    """Drop the ``^{}`` entries of a refs dict."""
    return {k: v for k, v in refs.items() if not k.endswith(PEELED_TAG_SUFFIX)}


# --- blocking adapters -------------------------------------------------------

class ProtocolFile:
    """A dummy file for network ops that expect file-like objects."""

    def __init__(self, read: Callable[[int], bytes], write: Callable[[bytes], Any]) -> None:
        self.read = read
        self._write = write
        self._offset = 0

    def write(self, data: bytes) -> None:
        self._write(data)
        self._offset += len(data)

    def tell(self) -> int:
        return self._offset

    def close(self) -> None:
        pass


class Protocol:
    """Class for interacting with a remote git process over the wire.

    Parts of the git wire protocol use 'pkt-lines' to communicate: four hex
    digits of length (header included) then the payload.  ``0000`` is a
    flush-pkt ending a section.  See ``gitprotocol-common`` in Git's docs.
    """

    def __init__(self, read: Callable[[int], bytes], write: Callable[[bytes], Any],
                 close: Optional[Callable[[], Any]] = None,
                 report_activity: Optional[Callable[[int, str], Any]] = None) -> None:
        self.read = read
        self.write = write
        self._close = close
        self.report_activity = report_activity
        self._readahead: list = []   # at most one decoded packet

    # context manager / closing
    def close(self) -> None:
        if self._close:
            self._close()

    def __enter__(self) -> "Protocol":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- reading ---------------------------------------------------------
    def _read_exact(self, n: int) -> bytes:
        chunks = []
        got = 0
        while got < n:
            data = self.read(n - got)
            if not data:
                break
            chunks.append(data)
            got += len(data)
        return b"".join(chunks)

    def _read_raw_pkt(self) -> Pkt:
        header = self._read_exact(4)
        if len(header) < 4:
            raise HangupException()
        size = parse_pkt_length(header)
        if size < 4:
            if self.report_activity:
                self.report_activity(4, "read")
            return Special(size)
        payload = self._read_exact(size - 4)
        if len(payload) != size - 4:
            raise HangupException()
        if self.report_activity:
            self.report_activity(size, "read")
        return payload

    def read_pkt(self) -> Pkt:
        """Read one packet: payload bytes, or FLUSH / DELIM / RESPONSE_END.

        Raises :class:`HangupException` at EOF and :class:`ErrPktError` for
        an ``ERR`` packet.
        """
        if self._readahead:
            pkt = self._readahead.pop()
        else:
            pkt = self._read_raw_pkt()
        if isinstance(pkt, bytes) and pkt.startswith(b"ERR "):
            raise ErrPktError(pkt[4:].rstrip(b"\n"))
        return pkt

    def read_pkt_line(self) -> Optional[bytes]:
        """Read a pkt-line; returns the payload, or None for a flush-pkt.

        A delim or response-end packet (protocol v2 only) raises
        :class:`UnexpectedMessage`; use :meth:`read_pkt` where they can occur.
        """
        pkt = self.read_pkt()
        if pkt is FLUSH:
            return None
        if isinstance(pkt, Special):
            raise UnexpectedMessage(f"unexpected {pkt!r} packet; use read_pkt() for protocol v2")
        return pkt

    def eof(self) -> bool:
        """Whether the stream has reached EOF (not just a flush-pkt)."""
        if self._readahead:
            return False
        try:
            pkt = self._read_raw_pkt()
        except HangupException:
            return True
        self._readahead.append(pkt)
        return False

    def unread_pkt_line(self, data: Optional[bytes]) -> None:
        """Push back one pkt-line (payload or None for flush); a second raises ValueError."""
        if self._readahead:
            raise ValueError("Attempted to unread multiple pkt-lines.")
        self._readahead.append(FLUSH if data is None else data)

    def read_pkt_seq(self) -> Iterator[bytes]:
        """Yield payloads up to (not including) the next flush-pkt."""
        pkt = self.read_pkt_line()
        while pkt is not None:
            yield pkt
            pkt = self.read_pkt_line()

    def read_message(self, decoder: Any) -> Any:
        """Feed packets to a :class:`puregit.wire.MessageDecoder` until it is done."""
        while not decoder.done:
            if self._readahead:
                pkt = self._readahead.pop()
            else:
                pkt = self._read_raw_pkt()
            decoder.feed_pkt(pkt)
        return decoder.result

    # -- writing ---------------------------------------------------------
    def _write_raw(self, data: bytes) -> None:
        try:
            self.write(data)
        except OSError as exc:
            raise GitProtocolError(str(exc)) from exc
        if self.report_activity:
            self.report_activity(len(data), "write")

    def write_pkt_line(self, line: Optional[bytes]) -> None:
        """Send a pkt-line (``None`` sends a flush-pkt)."""
        self._write_raw(pkt_line(line))

    def write_pkt(self, pkt: Pkt) -> None:
        """Send a payload or a special packet (FLUSH, DELIM, RESPONSE_END)."""
        self._write_raw(pkt_line(pkt))

    def write_message(self, message: Any) -> None:
        """Send a typed :mod:`puregit.wire` message."""
        self._write_raw(message.encode())

    def write_sideband(self, channel: int, blob: bytes,
                       max_data: int = SIDE_BAND_64K_MAX_DATA) -> None:
        """Write ``blob`` multiplexed on ``channel`` (65515 bytes per packet by default)."""
        for pkt in iter_mux(channel, blob, max_data):
            self._write_raw(pkt)

    def write_file(self) -> ProtocolFile:
        """Return a writable file-like object for this protocol."""
        return ProtocolFile(self.read, self._write_raw)

    def send_cmd(self, cmd: bytes, *args: bytes) -> None:
        """Send a git:// request: ``cmd path NUL [host=... NUL] [NUL extra NUL...]``.

        ``args`` are joined Dulwich-style (each followed by NUL), so
        ``send_cmd(b"git-upload-pack", b"/x", b"host=h", b"", b"version=2")``
        gives exactly what git sends.
        """
        for a in args:
            if b"\0" in a:
                raise ValueError(f"NUL in git:// request argument {a!r}")
        if not cmd or b" " in cmd or b"\0" in cmd:
            raise ValueError(f"invalid git:// command {cmd!r}")
        self.write_pkt_line(cmd + b" " + b"".join(a + b"\0" for a in args))

    def send_request(self, cmd: bytes, path: bytes, host: Optional[bytes] = None,
                     extra_parameters: tuple = ()) -> None:
        """Typed form of :meth:`send_cmd`."""
        self.write_pkt_line(format_request_payload(cmd, path, host, extra_parameters))

    def read_cmd(self) -> tuple[bytes, list[bytes]]:
        """Read a git:// request; return ``(command, [args])`` (args split at NUL).

        Raises :class:`UnexpectedMessage` if the line is malformed.
        """
        line = self.read_pkt_line()
        if line is None:
            raise UnexpectedMessage("expected a git:// request, got a flush-pkt")
        parse_request_payload(line)  # validates the grammar
        cmd, _, rest = line.partition(b" ")
        return cmd, rest[:-1].split(b"\0")

    def read_request(self) -> tuple:
        """Read a git:// request; return ``(command, path, host, [extra params])``."""
        line = self.read_pkt_line()
        if line is None:
            raise UnexpectedMessage("expected a git:// request, got a flush-pkt")
        return parse_request_payload(line)


class ReceivableProtocol(Protocol):
    """Variant of Protocol that allows reading up to a size without blocking.

    ``recv(n)`` behaves like ``socket.recv``: it returns between 1 and ``n``
    bytes (``b""`` only at EOF), blocking until at least one is available.
    ``read(n)`` blocks until exactly ``n`` bytes (or EOF) are read.
    """

    def __init__(self, recv: Callable[[int], bytes], write: Callable[[bytes], Any],
                 close: Optional[Callable[[], Any]] = None,
                 report_activity: Optional[Callable[[int, str], Any]] = None,
                 rbufsize: int = 8192) -> None:
        super().__init__(self.read, write, close=close, report_activity=report_activity)
        self._recv = recv
        self._rbuf = bytearray()
        self._rbufsize = rbufsize

    def _fill(self, want: int) -> bool:
        data = self._recv(max(want, self._rbufsize))
        if not data:
            return False
        self._rbuf += data
        return True

    def read(self, size: int) -> bytes:
        if size < 0:
            raise ValueError("negative read size")
        while len(self._rbuf) < size:
            if not self._fill(size - len(self._rbuf)):
                break
        out = bytes(self._rbuf[:size])
        del self._rbuf[:size]
        return out

    def recv(self, size: int) -> bytes:
        if size < 0:
            raise ValueError("negative recv size")
        if not self._rbuf and size:
            self._fill(size)
        out = bytes(self._rbuf[:size])
        del self._rbuf[:size]
        return out


class BufferedPktLineWriter:
    """Writer that wraps its data in pkt-lines and has an independent buffer.

    Each ``write`` frames its data as a pkt-line and buffers it; whenever the
    buffer reaches ``bufsize`` bytes (length prefixes included) exactly
    ``bufsize`` bytes are passed on.  ``flush`` passes on the rest.
    """

    def __init__(self, write: Callable[[bytes], Any], bufsize: int = 65515) -> None:
        if bufsize <= 0:
            raise ValueError("bufsize must be positive")
        self._write = write
        self._bufsize = bufsize
        self._wbuf = bytearray()

    @property
    def buffered(self) -> int:
        """Bytes waiting in the buffer."""
        return len(self._wbuf)

    def write(self, data: bytes) -> None:
        self._wbuf += pkt_line(data)
        while len(self._wbuf) >= self._bufsize:
            chunk = bytes(self._wbuf[:self._bufsize])
            del self._wbuf[:self._bufsize]
            self._write(chunk)

    def flush(self) -> None:
        if self._wbuf:
            data = bytes(self._wbuf)
            self._wbuf = bytearray()
            self._write(data)


class PktLineParser:
    """Packet line parser that hands completed packets off to a callback.

    ``handle_pkt`` receives each payload, ``None`` for a flush-pkt, and the
    :data:`~puregit.pktline.DELIM` / :data:`~puregit.pktline.RESPONSE_END`
    sentinels for the v2 special packets.
    """

    def __init__(self, handle_pkt: Callable[[Any], Any]) -> None:
        self.handle_pkt = handle_pkt
        self._decoder = PktLineDecoder()

    def parse(self, data: bytes) -> None:
        """Parse a fragment of data and call back for any completed packets."""
        self._decoder.feed(data)
        while True:
            pkt = self._decoder.next_pkt()
            if pkt is NEED_DATA:
                return
            self.handle_pkt(None if pkt is FLUSH else pkt)

    def get_tail(self) -> bytes:
        """Read back any unused data."""
        return self._decoder.unused

