"""apply_delta: every instruction form, every lie a delta can tell, and a model check."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from puregit.delta import apply_delta, delta_header_sizes, encode_varint
from puregit.errors import CorruptPackError, DeltaError, ObjectTooLargeError
from puregit.pack import apply_delta as reexported


def copy_op(offset: int, size: int) -> bytes:
    """Encode a copy instruction, omitting zero bytes as git does."""
    cmd = 0x80
    args = bytearray()
    for i in range(4):
        b = (offset >> (8 * i)) & 0xFF
        if b:
            cmd |= 1 << i
            args.append(b)
    if size == 0x10000:
        size = 0
    for i in range(3):
        b = (size >> (8 * i)) & 0xFF
        if b:
            cmd |= 0x10 << i
            args.append(b)
    return bytes([cmd]) + bytes(args)


def insert_op(data: bytes) -> bytes:
    assert 0 < len(data) < 128
    return bytes([len(data)]) + data


def make_delta(base_size: int, result_size: int, *ops: bytes) -> bytes:
    return encode_varint(base_size) + encode_varint(result_size) + b"".join(ops)


def model_apply(base: bytes, ops: list) -> bytes:
    out = b""
    for op in ops:
        if op[0] == "copy":
            out += base[op[1]:op[1] + op[2]]
        else:
            out += op[1]
    return out


def test_reexported_from_pack():
    assert reexported is apply_delta


def test_copy_and_insert():
    base = b"the quick brown fox jumps over the lazy dog"
    delta = make_delta(len(base), 19, copy_op(4, 5), insert_op(b" red "), copy_op(16, 3),
                       insert_op(b"!!!!!!"))
    assert apply_delta(base, delta) == b"quick red fox!!!!!!"


def test_header_sizes():
    delta = make_delta(300, 70000, insert_op(b"x"))
    assert delta_header_sizes(delta) == (300, 70000, 5)


def test_copy_size_zero_means_64k_and_multibyte_offsets():
    base = bytes(range(256)) * 1024  # 256 KiB
    delta = make_delta(len(base), 0x10000 + 10, copy_op(0x1_02_03, 0x10000), copy_op(0x3_00_00, 10))
    assert delta[len(encode_varint(len(base))) + 3] & 0x70 == 0  # size bytes omitted
    assert apply_delta(base, delta) == base[0x10203:0x20203] + base[0x30000:0x3000A]


def test_accepts_chunk_lists_and_memoryviews():
    base = b"abcdefgh"
    delta = make_delta(8, 4, copy_op(2, 4))
    assert apply_delta([b"abcd", b"efgh"], [delta[:3], delta[3:]]) == b"cdef"
    assert apply_delta(memoryview(base), memoryview(delta)) == b"cdef"


def test_empty_result():
    assert apply_delta(b"abc", make_delta(3, 0)) == b""


@pytest.mark.parametrize("delta, why", [
    (make_delta(5, 3, copy_op(0, 3)), "base size"),
    (make_delta(8, 4, copy_op(6, 4)), "copy beyond base"),
    (make_delta(8, 4, copy_op(0xFFFFFFFF, 1)), "copy offset far beyond base"),
    (make_delta(8, 4, b"\x00"), "reserved instruction"),
    (make_delta(8, 5, b"\x05abc"), "insert past end"),
    (make_delta(8, 4, b"\x91\x01"), "truncated copy"),
    (make_delta(8, 3, copy_op(0, 4)), "more than declared"),
    (make_delta(8, 9, copy_op(0, 4)), "less than declared"),
    (b"\x88", "truncated header"),
    (b"", "empty"),
    (b"\xff" * 12, "header varint too long"),
])
def test_malformed_deltas_raise(delta, why):
    with pytest.raises(DeltaError):
        apply_delta(b"abcdefgh", delta)


def test_errors_are_pack_errors():
    assert issubclass(DeltaError, CorruptPackError)


def test_huge_declared_result_is_refused_before_allocating():
    # A delta claiming a 1 TiB result: refused from its header, instantly.
    delta = make_delta(8, 1 << 40, copy_op(0, 8))
    t = time.perf_counter()
    with pytest.raises(ObjectTooLargeError):
        apply_delta(b"abcdefgh", delta)
    assert time.perf_counter() - t < 0.5


def test_many_copies_cannot_exceed_declared_size():
    # A small delta whose copies would add up to far more than it declares.
    base = b"x" * 0x10000
    delta = make_delta(len(base), 10, *([copy_op(0, 0x10000)] * 1000))
    with pytest.raises(DeltaError):
        apply_delta(base, delta)


def test_custom_limit():
    delta = make_delta(3, 3, copy_op(0, 3))
    assert apply_delta(b"abc", delta, max_size=3) == b"abc"
    with pytest.raises(ObjectTooLargeError):
        apply_delta(b"abc", delta, max_size=2)


@st.composite
def base_and_ops(draw):
    base = draw(st.binary(min_size=1, max_size=3000))
    ops = []
    for _ in range(draw(st.integers(0, 30))):
        if draw(st.booleans()):
            off = draw(st.integers(0, len(base) - 1))
            size = draw(st.integers(1, len(base) - off))
            ops.append(("copy", off, size))
        else:
            ops.append(("insert", draw(st.binary(min_size=1, max_size=127))))
    return base, ops


@settings(max_examples=200, deadline=None)
@given(base_and_ops())
def test_matches_model(case):
    base, ops = case
    expected = model_apply(base, ops)
    encoded = [copy_op(o[1], o[2]) if o[0] == "copy" else insert_op(o[1]) for o in ops]
    delta = make_delta(len(base), len(expected), *encoded)
    assert apply_delta(base, delta) == expected


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64), st.binary(max_size=200))
def test_garbage_never_escapes_as_other_errors(base, delta):
    try:
        apply_delta(base, delta)
    except (DeltaError, ObjectTooLargeError):
        pass
