"""Capability names and helpers for parsing and formatting them.

Capabilities are ``bytes`` everywhere: ``name`` or ``name=value``.  In v0/v1
they travel as one space-separated list (after a NUL on the first ref or
command line, after the oid on the first want line); in v2 each is its own
pkt-line.  The helpers here only deal with the list items, so both versions
share them.
"""

from __future__ import annotations

from typing import Iterable, Optional

from .errors import CapabilityError

__all__ = [
    "CAPABILITY_ATOMIC", "CAPABILITY_AGENT", "CAPABILITY_ALLOW_REACHABLE_SHA1_IN_WANT",
    "CAPABILITY_ALLOW_TIP_SHA1_IN_WANT", "CAPABILITY_DEEPEN_NOT", "CAPABILITY_DEEPEN_RELATIVE",
    "CAPABILITY_DEEPEN_SINCE", "CAPABILITY_DELETE_REFS", "CAPABILITY_FETCH",
    "CAPABILITY_FILTER", "CAPABILITY_INCLUDE_TAG", "CAPABILITY_LS_REFS",
    "CAPABILITY_MULTI_ACK", "CAPABILITY_MULTI_ACK_DETAILED", "CAPABILITY_NO_DONE",
    "CAPABILITY_NO_PROGRESS", "CAPABILITY_NO_THIN", "CAPABILITY_OBJECT_FORMAT",
    "CAPABILITY_OBJECT_INFO", "CAPABILITY_OFS_DELTA", "CAPABILITY_PUSH_CERT",
    "CAPABILITY_PUSH_OPTIONS", "CAPABILITY_QUIET", "CAPABILITY_REPORT_STATUS",
    "CAPABILITY_REPORT_STATUS_V2", "CAPABILITY_SERVER_OPTION", "CAPABILITY_SESSION_ID",
    "CAPABILITY_SHALLOW", "CAPABILITY_SIDE_BAND", "CAPABILITY_SIDE_BAND_64K",
    "CAPABILITY_SYMREF", "CAPABILITY_THIN_PACK", "CAPABILITY_UNBORN",
    "CAPABILITY_WAIT_FOR_DONE", "CAPABILITY_SIDEBAND_ALL", "CAPABILITY_REF_IN_WANT",
    "CAPABILITY_PACKFILE_URIS",
    "COMMON_CAPABILITIES", "KNOWN_UPLOAD_CAPABILITIES", "KNOWN_RECEIVE_CAPABILITIES",
    "SINGLE_ACK", "MULTI_ACK", "MULTI_ACK_DETAILED",
    "agent_string", "capability_agent", "capability_symref", "capability_object_format",
    "symref_capabilities", "parse_capability", "extract_capability_names",
    "find_capability", "find_capability_values", "has_capability", "parse_symrefs",
    "parse_capability_list", "format_capability_list", "ack_type", "check_capability_item",
    "object_format_from_capabilities", "validate_agent",
]

CAPABILITY_ATOMIC = b"atomic"
CAPABILITY_AGENT = b"agent"
CAPABILITY_ALLOW_REACHABLE_SHA1_IN_WANT = b"allow-reachable-sha1-in-want"
CAPABILITY_ALLOW_TIP_SHA1_IN_WANT = b"allow-tip-sha1-in-want"
CAPABILITY_DEEPEN_NOT = b"deepen-not"
CAPABILITY_DEEPEN_RELATIVE = b"deepen-relative"
CAPABILITY_DEEPEN_SINCE = b"deepen-since"
CAPABILITY_DELETE_REFS = b"delete-refs"
CAPABILITY_FETCH = b"fetch"
CAPABILITY_FILTER = b"filter"
CAPABILITY_INCLUDE_TAG = b"include-tag"
CAPABILITY_LS_REFS = b"ls-refs"
CAPABILITY_MULTI_ACK = b"multi_ack"
CAPABILITY_MULTI_ACK_DETAILED = b"multi_ack_detailed"
CAPABILITY_NO_DONE = b"no-done"
CAPABILITY_NO_PROGRESS = b"no-progress"
CAPABILITY_NO_THIN = b"no-thin"
CAPABILITY_OBJECT_FORMAT = b"object-format"
CAPABILITY_OBJECT_INFO = b"object-info"
CAPABILITY_OFS_DELTA = b"ofs-delta"
CAPABILITY_PACKFILE_URIS = b"packfile-uris"
CAPABILITY_PUSH_CERT = b"push-cert"
CAPABILITY_PUSH_OPTIONS = b"push-options"
CAPABILITY_QUIET = b"quiet"
CAPABILITY_REF_IN_WANT = b"ref-in-want"
CAPABILITY_REPORT_STATUS = b"report-status"
CAPABILITY_REPORT_STATUS_V2 = b"report-status-v2"
CAPABILITY_SERVER_OPTION = b"server-option"
CAPABILITY_SESSION_ID = b"session-id"
CAPABILITY_SHALLOW = b"shallow"
CAPABILITY_SIDE_BAND = b"side-band"
CAPABILITY_SIDE_BAND_64K = b"side-band-64k"
CAPABILITY_SIDEBAND_ALL = b"sideband-all"
CAPABILITY_SYMREF = b"symref"
CAPABILITY_THIN_PACK = b"thin-pack"
CAPABILITY_UNBORN = b"unborn"
CAPABILITY_WAIT_FOR_DONE = b"wait-for-done"

COMMON_CAPABILITIES = [CAPABILITY_OFS_DELTA, CAPABILITY_SIDE_BAND_64K]
KNOWN_UPLOAD_CAPABILITIES = set(COMMON_CAPABILITIES + [
    CAPABILITY_THIN_PACK, CAPABILITY_MULTI_ACK, CAPABILITY_MULTI_ACK_DETAILED,
    CAPABILITY_INCLUDE_TAG, CAPABILITY_DEEPEN_SINCE, CAPABILITY_SYMREF,
    CAPABILITY_SHALLOW, CAPABILITY_DEEPEN_NOT, CAPABILITY_DEEPEN_RELATIVE,
    CAPABILITY_ALLOW_TIP_SHA1_IN_WANT, CAPABILITY_ALLOW_REACHABLE_SHA1_IN_WANT,
    CAPABILITY_FETCH, CAPABILITY_FILTER, CAPABILITY_SIDE_BAND, CAPABILITY_NO_PROGRESS,
    CAPABILITY_NO_DONE, CAPABILITY_OBJECT_FORMAT, CAPABILITY_AGENT, CAPABILITY_SESSION_ID,
])
KNOWN_RECEIVE_CAPABILITIES = set(COMMON_CAPABILITIES + [
    CAPABILITY_REPORT_STATUS, CAPABILITY_REPORT_STATUS_V2, CAPABILITY_DELETE_REFS,
    CAPABILITY_QUIET, CAPABILITY_ATOMIC, CAPABILITY_PUSH_OPTIONS, CAPABILITY_PUSH_CERT,
    CAPABILITY_OBJECT_FORMAT, CAPABILITY_AGENT, CAPABILITY_SESSION_ID, CAPABILITY_NO_THIN,
])

# ack_type() results (how the server acknowledges haves).
SINGLE_ACK = 0
MULTI_ACK = 1
MULTI_ACK_DETAILED = 2


def agent_string() -> bytes:
    """Our ``agent=`` value: ``puregit/<version>``."""
    # The package's own version string: asking importlib.metadata would import
    # email, csv, zipfile... (over a megabyte) on every connection.
    from . import __version__ as v
    return ("puregit/" + v).encode("ascii", "replace").replace(b" ", b"_")


def capability_agent(agent: bytes | None = None) -> bytes:
    """Return the ``agent=...`` capability."""
    value = agent_string() if agent is None else agent
    validate_agent(value)
    return CAPABILITY_AGENT + b"=" + value


def validate_agent(value: bytes) -> None:
    """Agent values are printable ASCII without spaces (33..126)."""
    if not value or any(c < 33 or c > 126 for c in value):
        raise CapabilityError(f"invalid agent string {value!r}")


def capability_symref(from_ref: bytes, to_ref: bytes) -> bytes:
    """Return ``symref=<from>:<to>``."""
    for r in (from_ref, to_ref):
        if not r or any(c in b" \0\n:" for c in r):
            raise CapabilityError(f"invalid ref name for symref capability: {r!r}")
    return CAPABILITY_SYMREF + b"=" + from_ref + b":" + to_ref


def symref_capabilities(symrefs: Iterable[tuple[bytes, bytes]]) -> list[bytes]:
    """Return one ``symref=`` capability per (from, to) pair."""
    return [capability_symref(f, t) for f, t in symrefs]


def capability_object_format(name: bytes | str) -> bytes:
    if isinstance(name, str):
        name = name.encode("ascii")
    return CAPABILITY_OBJECT_FORMAT + b"=" + name


def check_capability_item(cap: bytes) -> None:
    """Refuse items that would break framing (space, NUL, LF) or are empty."""
    if not cap or any(c in b" \0\n" for c in cap):
        raise CapabilityError(f"invalid capability {cap!r}")


def parse_capability(cap: bytes) -> tuple[bytes, Optional[bytes]]:
    """Split ``name=value`` into ``(name, value)``; value is None without ``=``."""
    name, sep, value = cap.partition(b"=")
    if not name:
        raise CapabilityError(f"invalid capability {cap!r}")
    return name, (value if sep else None)


def extract_capability_names(capabilities: Iterable[bytes]) -> set[bytes]:
    """Return the names of ``capabilities`` (values dropped)."""
    return {parse_capability(c)[0] for c in capabilities}


def find_capability_values(capabilities: Iterable[bytes], name: bytes) -> list[bytes]:
    """All values given for ``name`` (e.g. every ``symref=``), in order."""
    out = []
    for c in capabilities:
        n, v = parse_capability(c)
        if n == name and v is not None:
            out.append(v)
    return out


def find_capability(capabilities: Iterable[bytes], name: bytes) -> Optional[bytes]:
    """First value of ``name``; ``b""`` if present without a value; None if absent."""
    for c in capabilities:
        n, v = parse_capability(c)
        if n == name:
            return b"" if v is None else v
    return None


def has_capability(capabilities: Iterable[bytes], name: bytes) -> bool:
    return find_capability(capabilities, name) is not None


def parse_symrefs(capabilities: Iterable[bytes]) -> dict[bytes, bytes]:
    """Map each ``symref=<from>:<to>`` source to its target."""
    out = {}
    for v in find_capability_values(capabilities, CAPABILITY_SYMREF):
        src, sep, dst = v.partition(b":")
        if not sep or not src or not dst:
            raise CapabilityError(f"malformed symref capability {v!r}")
        out[src] = dst
    return out


def object_format_from_capabilities(capabilities: Iterable[bytes]) -> bytes:
    """The ``object-format`` in effect (``sha1`` when absent)."""
    v = find_capability(capabilities, CAPABILITY_OBJECT_FORMAT)
    if v is None:
        return b"sha1"
    if v not in (b"sha1", b"sha256"):
        raise CapabilityError(f"unknown object-format {v!r}")
    return v


def parse_capability_list(text: bytes) -> list[bytes]:
    """Split a space-separated list (extra spaces tolerated)."""
    return [c for c in text.split(b" ") if c]


def format_capability_list(capabilities: Iterable[bytes]) -> bytes:
    caps = list(capabilities)
    for c in caps:
        check_capability_item(c)
    return b" ".join(caps)


def ack_type(capabilities: Iterable[bytes]) -> int:
    """Extract the ack type (SINGLE_ACK, MULTI_ACK or MULTI_ACK_DETAILED)."""
    names = extract_capability_names(capabilities)
    if CAPABILITY_MULTI_ACK_DETAILED in names:
        return MULTI_ACK_DETAILED
    if CAPABILITY_MULTI_ACK in names:
        return MULTI_ACK
    return SINGLE_ACK
