"""receive-pack's rules, free of I/O: settings, refusal reasons, ref-name and
hidden-ref checks, the capability list, the command record and the
fast-forward test.

:mod:`puregit.receive_pack` (the handler) applies them; every public name
here is also importable from there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Iterable, Optional

from .capabilities import (
    CAPABILITY_AGENT, CAPABILITY_ATOMIC, CAPABILITY_DELETE_REFS, CAPABILITY_OBJECT_FORMAT,
    CAPABILITY_OFS_DELTA, CAPABILITY_PUSH_OPTIONS, CAPABILITY_QUIET,
    CAPABILITY_REPORT_STATUS, CAPABILITY_REPORT_STATUS_V2, CAPABILITY_SIDE_BAND_64K,
    agent_string,
)
from .errors import PuregitError
from .graph import commit_tree_and_parents
from .refs import check_ref_format

__all__ = [
    "ReceiveConfig", "Command", "is_funny_refname", "ref_is_hidden", "is_ancestor",
    "receive_capabilities",
    "UNPACKER_ERROR", "FUNNY_REFNAME", "MISSING_OBJECTS", "PRE_RECEIVE_DECLINED",
    "HOOK_DECLINED", "NON_FAST_FORWARD", "BAD_REF", "DELETION_PROHIBITED", "DELETE_CURRENT",
    "CHECKED_OUT", "FAILED_TO_UPDATE", "ATOMIC_PUSH_FAILURE", "ATOMIC_TRANSACTION_FAILED",
    "HIDDEN_UPDATE", "HIDDEN_DELETE", "MIGRATE_FAILED",
]

# cgit's reasons, verbatim (they are what users and tools match on)
UNPACKER_ERROR = b"unpacker error"
FUNNY_REFNAME = b"funny refname"
MISSING_OBJECTS = b"missing necessary objects"
PRE_RECEIVE_DECLINED = b"pre-receive hook declined"
HOOK_DECLINED = b"hook declined"
NON_FAST_FORWARD = b"non-fast-forward"
BAD_REF = b"bad ref"
DELETION_PROHIBITED = b"deletion prohibited"
DELETE_CURRENT = b"deletion of the current branch prohibited"
CHECKED_OUT = b"branch is currently checked out"
FAILED_TO_UPDATE = b"failed to update ref"
ATOMIC_PUSH_FAILURE = b"atomic push failure"
ATOMIC_TRANSACTION_FAILED = b"atomic transaction failed"
HIDDEN_UPDATE = b"deny updating a hidden ref"
HIDDEN_DELETE = b"deny deleting a hidden ref"
MIGRATE_FAILED = b"unable to migrate objects to permanent storage"
SHALLOW_UPDATE = b"shallow update not allowed"


# --- configuration -------------------------------------------------------------

def _cfg(config, section: tuple, name: bytes) -> Optional[bytes]:
    try:
        return config.get(section, name)
    except KeyError:
        return None


def _cfg_int(config, section: tuple, name: bytes) -> Optional[int]:
    """An integer setting (``k``/``m``/``g`` suffixes allowed); None if unset or not a number."""
    from .config import parse_int
    v = _cfg(config, section, name)
    if not v:
        return None
    try:
        return parse_int(v)
    except ValueError:
        return None


def _cfg_bool(config, section: tuple, name: bytes) -> Optional[bool]:
    from .config import parse_boolean
    v = _cfg(config, section, name)
    if v is None:
        return None
    try:
        return parse_boolean(v)
    except ValueError:
        return None


def _deny_value(value: Optional[bytes], default: str) -> str:
    """``receive.deny*``: booleans or refuse/warn/ignore/updateInstead."""
    if value is None:
        return default
    v = value.lower()
    if v in (b"refuse", b"warn", b"ignore"):
        return v.decode()
    if v == b"updateinstead":
        return "updateInstead"
    try:
        from .config import parse_boolean
        return "refuse" if parse_boolean(v) else "ignore"
    except ValueError:
        return default


@dataclass
class ReceiveConfig:
    """The ``receive.*`` / ``transfer.*`` settings receive-pack obeys."""

    deny_non_fast_forwards: bool = False
    deny_deletes: bool = False
    deny_current_branch: str = "unconfigured"     # refuse unless bare
    deny_delete_current: str = "unconfigured"     # refuse
    fsck_objects: bool = False
    fsck_overrides: dict = field(default_factory=dict)
    fsck_skip_list: Optional[str] = None          # receive.fsck.skipList: a file of ids
    max_input_size: int = 0
    auto_gc: bool = True                          # receive.autogc: gc --auto after a push
    keep_alive: int = 5                           # receive.keepAlive seconds (0: none)
    shallow_update: bool = False                  # receive.shallowUpdate
    unpack_limit: int = 100                       # receive/transfer.unpackLimit
    advertise_push_options: bool = False
    advertise_atomic: bool = True
    hide_refs: list = field(default_factory=list)
    hooks_path: Optional[str] = None

    @classmethod
    def from_repo(cls, repo) -> "ReceiveConfig":
        try:
            config = repo.get_config_stack()
        except Exception:
            config = repo.get_config()
        out = cls()
        r, t = (b"receive",), (b"transfer",)
        out.deny_non_fast_forwards = bool(_cfg_bool(config, r, b"denynonfastforwards"))
        out.deny_deletes = bool(_cfg_bool(config, r, b"denydeletes"))
        out.auto_gc = _cfg_bool(config, r, b"autogc") is not False
        out.shallow_update = bool(_cfg_bool(config, r, b"shallowupdate"))
        for section in (r, t):   # receive.unpackLimit, else transfer.unpackLimit
            limit = _cfg_int(config, section, b"unpacklimit")
            if limit is not None:
                out.unpack_limit = limit
                break
        out.deny_current_branch = _deny_value(_cfg(config, r, b"denycurrentbranch"), "unconfigured")
        out.deny_delete_current = _deny_value(_cfg(config, r, b"denydeletecurrent"), "unconfigured")
        fsck = _cfg_bool(config, r, b"fsckobjects")
        if fsck is None:
            fsck = _cfg_bool(config, t, b"fsckobjects")
        out.fsck_objects = bool(fsck)
        try:
            items = repo.get_config().items((b"receive", b"fsck"))
        except Exception:
            items = []
        out.fsck_overrides = {k.decode("ascii", "replace"): v.decode("ascii", "replace")
                              for k, v in items if k.lower() != b"skiplist"}
        skip = [v for k, v in items if k.lower() == b"skiplist" and v]
        if skip:   # relative to the repository, where git's receive-pack runs
            path = os.path.expanduser(os.fsdecode(skip[-1]))
            controldir = getattr(repo, "controldir", None)
            out.fsck_skip_list = os.path.join(controldir(), path) if controldir else path
        size = _cfg_int(config, r, b"maxinputsize")
        if size is not None:
            out.max_input_size = max(0, size)
        alive = _cfg_int(config, r, b"keepalive")
        if alive is not None:
            out.keep_alive = max(0, alive)
        out.advertise_push_options = bool(_cfg_bool(config, r, b"advertisepushoptions"))
        atomic = _cfg_bool(config, r, b"advertiseatomic")
        out.advertise_atomic = True if atomic is None else atomic
        hide = []
        for sec in (t, r):
            try:
                hide += config.get_multivalue(sec, b"hiderefs")
            except KeyError:
                pass
        out.hide_refs = hide
        hp = _cfg(config, (b"core",), b"hookspath")
        out.hooks_path = os.fsdecode(hp) if hp else None
        return out


# --- pure helpers ----------------------------------------------------------------

def is_funny_refname(ref: bytes) -> bool:
    """cgit's test: the name must start with ``refs/`` and the rest be a valid multi-level name."""
    return not ref.startswith(b"refs/") or not check_ref_format(ref[5:])


def ref_is_hidden(ref: bytes, patterns: Iterable[bytes]) -> bool:
    """``transfer.hideRefs``: prefix match on whole components; ``!`` negates; last match wins."""
    hidden = False
    for pat in patterns:
        neg = pat.startswith(b"!")
        if neg:
            pat = pat[1:]
        if pat.startswith(b"^"):
            pat = pat[1:]
        pat = pat.rstrip(b"/")
        if pat and (ref == pat or ref.startswith(pat + b"/")):
            hidden = not neg
    return hidden


def receive_capabilities(config: ReceiveConfig, object_format: bytes = b"sha1",
                         agent: Optional[bytes] = None) -> list[bytes]:
    """What receive-pack advertises, in cgit's order."""
    caps = [CAPABILITY_REPORT_STATUS, CAPABILITY_REPORT_STATUS_V2, CAPABILITY_DELETE_REFS,
            CAPABILITY_SIDE_BAND_64K, CAPABILITY_QUIET]
    if config.advertise_atomic:
        caps.append(CAPABILITY_ATOMIC)
    caps.append(CAPABILITY_OFS_DELTA)
    if config.advertise_push_options:
        caps.append(CAPABILITY_PUSH_OPTIONS)
    caps.append(CAPABILITY_OBJECT_FORMAT + b"=" + object_format)
    caps.append(CAPABILITY_AGENT + b"=" + (agent or agent_string()))
    return caps


@dataclass
class Command:
    """One ref update with its outcome (``error`` None means still fine / ok)."""

    old: bytes
    new: bytes
    ref: bytes
    error: Optional[bytes] = None

    @property
    def is_delete(self) -> bool:
        return not self.new.strip(b"0")

    @property
    def is_create(self) -> bool:
        return not self.old.strip(b"0")


def _object_type(get_raw, sha: bytes) -> Optional[int]:
    try:
        return get_raw(sha)[0]
    except (KeyError, PuregitError):
        return None


def is_ancestor(get_raw, old: bytes, new: bytes, limit: int = 10_000_000) -> bool:
    """Whether commit ``old`` is reachable from commit ``new``."""
    if old == new:
        return True
    seen = {new}
    stack = [new]
    while stack and len(seen) < limit:
        sha = stack.pop()
        try:
            type_num, body = get_raw(sha)
        except (KeyError, PuregitError):
            continue
        if type_num != 1:
            continue
        for p in commit_tree_and_parents(body)[1]:
            if p == old:
                return True
            if p not in seen:
                seen.add(p)
                stack.append(p)
    return False
