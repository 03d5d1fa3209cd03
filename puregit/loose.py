"""The loose-object file format: ``zlib("<type> <size>\\0" + body)``.

Pure functions: decoding checks every part (zlib stream, header, declared size,
trailing data) and raises :class:`LooseObjectError` instead of leaking
``zlib.error`` or ``ValueError``.
"""

from __future__ import annotations

import zlib

from .errors import LooseObjectError

_TYPE_NAMES = (b"commit", b"tree", b"blob", b"tag")
MAX_HEADER = 64


def encode_header(type_name: bytes, size: int) -> bytes:
    return type_name + b" " + str(size).encode("ascii") + b"\0"


def parse_header(header: bytes) -> tuple[bytes, int]:
    """Parse ``type size`` (without the NUL) strictly."""
    sp = header.find(b" ")
    if sp < 0:
        raise LooseObjectError(f"bad loose object header {header[:MAX_HEADER]!r}")
    type_name, size_text = header[:sp], header[sp + 1:]
    if type_name not in _TYPE_NAMES:
        raise LooseObjectError(f"unknown loose object type {type_name[:32]!r}")
    if not size_text.isdigit() or (len(size_text) > 1 and size_text[:1] == b"0"):
        raise LooseObjectError(f"bad loose object size {size_text[:32]!r}")
    return type_name, int(size_text)


def encode_loose(type_name: bytes, body: bytes, level: int = 1) -> bytes:
    """Compress an object as a loose file (level 1 like core.looseCompression's default)."""
    c = zlib.compressobj(level)
    return c.compress(encode_header(type_name, len(body))) + c.compress(body) + c.flush()


def decode_loose(data: bytes, max_size: int | None = None) -> tuple[bytes, bytes]:
    """Return (type_name, body) of a compressed loose object, checking everything."""
    d = zlib.decompressobj()
    try:
        head = d.decompress(data, MAX_HEADER)
    except zlib.error as e:
        raise LooseObjectError(f"corrupt loose object (zlib: {e})") from None
    nul = head.find(b"\0")
    if nul < 0:
        raise LooseObjectError("loose object header is missing or too long")
    type_name, size = parse_header(head[:nul])
    if max_size is not None and size > max_size:
        raise LooseObjectError(f"loose object of {size} bytes exceeds limit {max_size}")
    body = head[nul + 1:]
    try:
        # Ask for one byte beyond the declared size so that a lie is noticed
        # without inflating an unbounded stream.
        if len(body) <= size:
            body += d.decompress(d.unconsumed_tail, size + 1 - len(body))
    except zlib.error as e:
        raise LooseObjectError(f"corrupt loose object (zlib: {e})") from None
    if len(body) != size:
        raise LooseObjectError(f"loose object size mismatch: header says {size}, data has "
                               f"{'more' if len(body) > size else len(body)}")
    if not d.eof:
        try:
            extra = d.decompress(d.unconsumed_tail, 1)
        except zlib.error as e:
            raise LooseObjectError(f"corrupt loose object (zlib: {e})") from None
        if extra or not d.eof:
            raise LooseObjectError("loose object zlib stream is truncated or has extra data")
    if d.unused_data.strip(b"\0"):
        raise LooseObjectError("garbage after loose object zlib stream")
    return type_name, body
