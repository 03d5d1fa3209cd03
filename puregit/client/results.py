"""What fetch and push return."""

from __future__ import annotations

from typing import Any, Optional

__all__ = ["FetchPackResult", "SendPackResult", "LsRemoteResult"]


class _RefsMapping:
    """Old Dulwich callers treated results as the refs dict; keep that working."""

    refs: dict

    def __getitem__(self, name: bytes) -> bytes:
        return self.refs[name]

    def __contains__(self, name: object) -> bool:
        return name in self.refs

    def __iter__(self):
        return iter(self.refs)

    def __len__(self) -> int:
        return len(self.refs)

    def keys(self):
        return self.refs.keys()

    def values(self):
        return self.refs.values()

    def items(self):
        return self.refs.items()

    def get(self, name: bytes, default: Any = None) -> Any:
        return self.refs.get(name, default)


class FetchPackResult(_RefsMapping):
    """Refs the server advertised, its symrefs and agent, and shallow updates."""

    def __init__(self, refs: dict, symrefs: Optional[dict] = None, agent: Optional[bytes] = None,
                 new_shallow: Optional[set] = None, new_unshallow: Optional[set] = None,
                 object_count: Optional[int] = None) -> None:
        self.refs = refs
        self.symrefs = symrefs or {}
        self.agent = agent
        self.new_shallow = new_shallow or set()
        self.new_unshallow = new_unshallow or set()
        self.object_count = object_count

    def __eq__(self, other: object) -> bool:
        if isinstance(other, dict):
            return self.refs == other
        if not isinstance(other, FetchPackResult):
            return NotImplemented
        return (self.refs, self.symrefs, self.agent) == (other.refs, other.symrefs, other.agent)

    def __repr__(self) -> str:
        return f"FetchPackResult({self.refs!r}, {self.symrefs!r}, {self.agent!r})"


class SendPackResult(_RefsMapping):
    """Refs after the push and, per pushed ref, None (ok) or the error text."""

    def __init__(self, refs: dict, agent: Optional[bytes] = None,
                 ref_status: Optional[dict] = None) -> None:
        self.refs = refs
        self.agent = agent
        self.ref_status = ref_status or {}

    @property
    def ok(self) -> bool:
        return all(v is None for v in self.ref_status.values())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, dict):
            return self.refs == other
        if not isinstance(other, SendPackResult):
            return NotImplemented
        return (self.refs, self.agent, self.ref_status) == (other.refs, other.agent, other.ref_status)

    def __repr__(self) -> str:
        return f"SendPackResult({self.refs!r}, {self.agent!r}, {self.ref_status!r})"


class LsRemoteResult(_RefsMapping):
    """Refs and symrefs of a remote (``get_refs``/``ls_remote``)."""

    def __init__(self, refs: dict, symrefs: Optional[dict] = None) -> None:
        self.refs = refs
        self.symrefs = symrefs or {}

    def __eq__(self, other: object) -> bool:
        if isinstance(other, dict):
            return self.refs == other
        if not isinstance(other, LsRemoteResult):
            return NotImplemented
        return (self.refs, self.symrefs) == (other.refs, other.symrefs)

    def __repr__(self) -> str:
        return f"LsRemoteResult({self.refs!r}, {self.symrefs!r})"
