"""Capability names and helpers."""

import pytest

from puregit import capabilities as c
from puregit.errors import CapabilityError

ADV = [b"multi_ack", b"thin-pack", b"side-band-64k", b"symref=HEAD:refs/heads/main",
       b"symref=refs/remotes/o/HEAD:refs/remotes/o/main", b"object-format=sha256",
       b"agent=git/2.39.5"]


def test_names_are_bytes():
    for name in c.__all__:
        if name.startswith("CAPABILITY_"):
            assert isinstance(getattr(c, name), bytes)
    assert c.CAPABILITY_SIDE_BAND_64K == b"side-band-64k"
    assert c.CAPABILITY_REPORT_STATUS_V2 == b"report-status-v2"


def test_parse_and_find():
    assert c.parse_capability(b"agent=git/2.39.5") == (b"agent", b"git/2.39.5")
    assert c.parse_capability(b"thin-pack") == (b"thin-pack", None)
    with pytest.raises(CapabilityError):
        c.parse_capability(b"=x")
    assert c.find_capability(ADV, b"agent") == b"git/2.39.5"
    assert c.find_capability(ADV, b"thin-pack") == b""
    assert c.find_capability(ADV, b"nope") is None
    assert c.has_capability(ADV, b"multi_ack")
    assert c.extract_capability_names(ADV) >= {b"symref", b"agent", b"multi_ack"}
    assert c.find_capability_values(ADV, b"symref") == [
        b"HEAD:refs/heads/main", b"refs/remotes/o/HEAD:refs/remotes/o/main"]


def test_symrefs():
    assert c.parse_symrefs(ADV) == {b"HEAD": b"refs/heads/main",
                                    b"refs/remotes/o/HEAD": b"refs/remotes/o/main"}
    with pytest.raises(CapabilityError):
        c.parse_symrefs([b"symref=HEAD"])
    assert c.capability_symref(b"HEAD", b"refs/heads/main") == b"symref=HEAD:refs/heads/main"
    assert c.symref_capabilities([(b"HEAD", b"refs/heads/x")]) == [b"symref=HEAD:refs/heads/x"]
    with pytest.raises(CapabilityError):
        c.capability_symref(b"HE AD", b"x")


def test_agent_and_object_format():
    assert c.capability_agent(b"git/2.39.5") == b"agent=git/2.39.5"
    assert c.capability_agent().startswith(b"agent=puregit/")
    with pytest.raises(CapabilityError):
        c.capability_agent(b"has space")
    assert c.capability_object_format("sha256") == b"object-format=sha256"
    assert c.object_format_from_capabilities(ADV) == b"sha256"
    assert c.object_format_from_capabilities([]) == b"sha1"
    with pytest.raises(CapabilityError):
        c.object_format_from_capabilities([b"object-format=md5"])


def test_lists():
    assert c.parse_capability_list(b" a  b c") == [b"a", b"b", b"c"]
    assert c.format_capability_list([b"a", b"b=1"]) == b"a b=1"
    with pytest.raises(CapabilityError):
        c.format_capability_list([b"a b"])


def test_ack_type():
    assert c.ack_type([b"multi_ack_detailed", b"multi_ack"]) == c.MULTI_ACK_DETAILED
    assert c.ack_type([b"multi_ack"]) == c.MULTI_ACK
    assert c.ack_type([b"thin-pack"]) == c.SINGLE_ACK
