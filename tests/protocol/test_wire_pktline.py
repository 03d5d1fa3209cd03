"""pkt-line encoder and incremental decoder."""

import pytest

from puregit.errors import PktLineError, ProtocolError
from puregit.pktline import (
    DELIM, FLUSH, MAX_PKT_PAYLOAD, MAX_PKT_SIZE, NEED_DATA, RESPONSE_END, PktLineDecoder,
    Special, decode_pkt, encode_pkts, parse_pkt_length, pkt_line, split_pkts,
)

STREAM = b"000ahello\n" + b"0000" + b"0001" + b"0002" + b"0004" + b"0006ab"
EXPECTED = [b"hello\n", FLUSH, DELIM, RESPONSE_END, b"", b"ab"]


def test_pkt_line_basic():
    assert pkt_line(b"hello\n") == b"000ahello\n"
    assert pkt_line(None) == b"0000"
    assert pkt_line(b"") == b"0004"
    assert pkt_line(DELIM) == b"0001"
    assert pkt_line(RESPONSE_END) == b"0002"
    assert pkt_line(FLUSH) == b"0000"


def test_pkt_line_lowercase_hex():
    assert pkt_line(b"x" * 0xa6)[:4] == b"00aa"


def test_pkt_line_write_limit():
    assert len(pkt_line(b"x" * MAX_PKT_PAYLOAD)) == MAX_PKT_SIZE
    with pytest.raises(PktLineError):
        pkt_line(b"x" * (MAX_PKT_PAYLOAD + 1))
    with pytest.raises(TypeError):
        pkt_line("str")


def test_special_values_distinct():
    assert len({FLUSH, DELIM, RESPONSE_END}) == 3
    assert not NEED_DATA
    assert repr(FLUSH) == "FLUSH"
    assert Special(1) is DELIM


def test_encode_pkts():
    assert encode_pkts(EXPECTED) == STREAM


def test_decoder_whole():
    d = PktLineDecoder()
    d.feed(STREAM)
    assert list(d) == EXPECTED
    assert d.unused == b""


def test_decoder_byte_at_a_time():
    d = PktLineDecoder()
    got = []
    for i in range(len(STREAM)):
        d.feed(STREAM[i:i + 1])
        got.extend(d)
    assert got == EXPECTED


def test_decoder_trailing_bytes():
    d = PktLineDecoder()
    d.feed(STREAM + b"00")
    assert list(d) == EXPECTED
    assert d.unused == b"00"
    assert d.needed() == 2
    d.feed(b"0")
    assert d.needed() == 1
    d.feed(b"7ab")
    assert d.needed() == 1
    assert d.next_pkt() is NEED_DATA
    d.feed(b"cd")
    assert d.next_pkt() == b"abc"
    assert d.unused == b"d"
    assert d.take_unused() == b"d"
    assert d.unused == b""


def test_decode_pkt_and_split():
    assert decode_pkt(b"0000") == (FLUSH, 4)
    assert decode_pkt(b"00") == (NEED_DATA, 0)
    assert decode_pkt(b"0008ab") == (NEED_DATA, 0)
    assert decode_pkt(b"xx0005a", 2) == (b"a", 7)
    pkts, rest = split_pkts(STREAM + b"0009x")
    assert pkts == EXPECTED and rest == b"0009x"


@pytest.mark.parametrize("header", [
    b"0003", b"+01a", b"-001", b" 01a", b"01a ", b"0x1a", b"1_23", b"00g0", b"\x00\x00\x00\x00",
    b"\xff000", b"ffff", b"fff1", b"\xd9\xa0\xd9\xa1",
])
def test_bad_lengths_rejected(header):
    with pytest.raises(PktLineError):
        parse_pkt_length(header)
    d = PktLineDecoder()
    d.feed(header + b"x" * 10)
    with pytest.raises(PktLineError):
        d.next_pkt()


def test_read_limit_is_65520_total():
    assert parse_pkt_length(b"fff0") == 65520
    with pytest.raises(PktLineError):
        parse_pkt_length(b"fff1")
    payload = b"y" * 65516
    assert decode_pkt(b"fff0" + payload) == (payload, 65520)


def test_uppercase_hex_accepted_when_reading():
    assert parse_pkt_length(b"000A") == 10


def test_errors_are_protocol_errors():
    assert issubclass(PktLineError, ProtocolError)
