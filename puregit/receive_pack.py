"""receive-pack: the push side of the server, with the guarantees hosting needs.

Processing follows cgit's ``builtin/receive-pack.c``:

1. advertise refs (no HEAD, no peeled lines, ``.have`` for alternates,
   ``capabilities^{}`` when empty);
2. read the commands (and push options), then the pack (none for delete-only
   pushes) into a quarantine directory, completing thin packs;
3. fsck the incoming objects (hostile names always; everything with
   ``receive.fsckObjects``) and check that every new tip is connected;
4. run ``pre-receive`` with the quarantine environment;
5. per ref: funny names, hidden refs, ``denyCurrentBranch``, ``denyDeletes``,
   ``denyNonFastForwards``, the ``update`` hook;
6. lock every ref and compare its value with the old id the client sent;
7. only if something will be written: migrate the quarantine, then commit the
   ref writes (with ``atomic``: all or nothing);
8. report-status (v1 or v2, inside side-band-64k when negotiated), then the
   ``post-receive`` and ``post-update`` hooks.

Where puregit is stricter than cgit 2.39 (on purpose): the ``update`` hook
and the compare-and-swap run before the objects leave quarantine, so a push
in which no ref changes leaves ``objects/`` untouched; an ``atomic`` push
also fails as a whole when one ref misses objects (cgit updates the others);
commands with funny ref names are not shown to ``pre-receive``.  The
connectivity walk stops at objects already in the repository (cgit walks
``--not --all``), so it costs O(pushed objects).

This module is the handler and the stdin/stdout entry.  The I/O-free rules
(``ReceiveConfig``, the refusal reasons, ``Command``, ``is_funny_refname``,
``ref_is_hidden``, ``is_ancestor``, ``receive_capabilities``) are in
:mod:`puregit.receive_policy`; the compare-and-swap of step 6 is
:class:`puregit.ref_transaction.RefTransaction`.  Both are re-exported here.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from binascii import hexlify, unhexlify
from itertools import chain
from typing import Callable, Optional

from .backend import Backend, Handler
from .capabilities import (
    CAPABILITY_ATOMIC, CAPABILITY_OBJECT_FORMAT, CAPABILITY_PUSH_OPTIONS, CAPABILITY_QUIET,
    CAPABILITY_REPORT_STATUS, CAPABILITY_REPORT_STATUS_V2, CAPABILITY_SIDE_BAND_64K,
    find_capability,
)
from .errors import (
    HangupException, ObjectFormatError, PackError, ProtocolError,
    PuregitError, RefError, UnexpectedMessage,
)
from .fsck import FsckPolicy, check_object
from .fsck_stream import StreamFsck
from .quarantine import check_connectivity, connected_by_closure, fsck_objects
from .hooks import (HookRunner, find_hook, format_ref_lines, hook_env, push_option_env,
                    quarantine_env, run_hook)
from .pktline import FLUSH
from .refs import SYMREF
from .sideband import SIDE_BAND_CHANNEL_DATA, SIDE_BAND_CHANNEL_PROGRESS, iter_mux
from .ticker import ticking
from .wire.advertisement import AdvertisedRef, RefAdvertisement
from .wire.push import PushOptions, PushRequest
from .wire.report_status import RefStatus, ReportStatus
# The I/O-free rules (settings, reasons, checks, Command) and the ref
# transaction have their own modules; their names stay importable from here.
from .receive_policy import (  # noqa: F401  (re-exported)
    ATOMIC_PUSH_FAILURE, ATOMIC_TRANSACTION_FAILED, BAD_REF, CHECKED_OUT, DELETE_CURRENT,
    DELETION_PROHIBITED, FAILED_TO_UPDATE, FUNNY_REFNAME, HIDDEN_DELETE, HIDDEN_UPDATE,
    HOOK_DECLINED, MIGRATE_FAILED, MISSING_OBJECTS, NON_FAST_FORWARD, PRE_RECEIVE_DECLINED,
    SHALLOW_UPDATE, UNPACKER_ERROR, Command, ReceiveConfig, _object_type, is_ancestor,
    is_funny_refname,
    receive_capabilities, ref_is_hidden,
)
from .ref_transaction import RefTransaction, _SimpleTransaction  # noqa: F401  (re-exported)

__all__ = [
    "ReceivePackHandler", "ReceiveConfig", "Command", "main",
    "is_funny_refname", "ref_is_hidden", "check_connectivity", "fsck_objects", "is_ancestor",
    "RefTransaction", "receive_capabilities",
]

MAX_COMMANDS = 200_000
MAX_PUSH_OPTIONS = 10_000


# --- the handler ------------------------------------------------------------------

def _alternate_haves(store, known: set) -> list:
    """Ref values of the repositories our alternates belong to (``.have`` lines)."""
    from .refs import DiskRefsContainer
    out = []
    for alt in getattr(store, "alternates", []) or []:
        parent = os.path.dirname(os.path.abspath(alt.path))
        if not os.path.isfile(os.path.join(parent, "HEAD")):
            continue
        try:
            values = DiskRefsContainer(parent).as_dict().values()
        except Exception:
            continue
        for sha in sorted(set(values)):
            if sha not in known and not sha.startswith(SYMREF):
                known.add(sha)
                out.append(sha)
    return out


class ReceivePackHandler(Handler):
    """Serves one push (stateful, or one stateless-RPC request).

    ``options`` may hold ``"stderr"``: a ``write(bytes)`` callable for
    messages when side-band is not in use (pipes/ssh), ``"hook_timeout"``
    (seconds), ``"hook_env"`` (base environment for hooks).
    """

    service = b"git-receive-pack"

    def __init__(self, backend: Backend, args: list, proto, stateless_rpc: bool = False,
                 advertise_refs: bool = False, protocol_version: int = 0,
                 options: Optional[dict] = None) -> None:
        super().__init__(backend, args, proto, stateless_rpc, advertise_refs,
                         protocol_version, options)
        self.repo = backend.open_repository(args[0] if args else "/")
        self.config = ReceiveConfig.from_repo(self.repo)
        self.hash_algo = getattr(self.repo, "hash_algo", None) or self.repo.object_store.hash_algo
        self.zero = b"0" * self.hash_algo.hex_size
        self.object_format = getattr(self.hash_algo, "name", "sha1")
        if isinstance(self.object_format, str):
            self.object_format = self.object_format.encode("ascii")
        self.client_caps: list = []
        self.client_shallows: list = []      # a shallow client's boundary commits
        self.new_shallows: set = set()       # ... those this push adds to $GIT_DIR/shallow
        self.use_sideband = False
        self.report_v1 = False
        self.report_v2 = False
        self.atomic = False
        self.quiet = False
        self.push_options: Optional[list] = None
        self._stderr = self.options.get("stderr")
        self._write_lock = threading.Lock()
        self._last_write = time.monotonic()

    # -- capabilities -------------------------------------------------------
    @classmethod
    def capabilities(cls) -> list:
        return receive_capabilities(ReceiveConfig())

    # -- output ---------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        with self._write_lock:   # the keepalive thread writes too
            self.proto.write(data)
            self._last_write = time.monotonic()

    def _message(self, text: bytes) -> None:
        """A message for the user: band 2 with side-band, else our stderr."""
        if not text.endswith(b"\n"):
            text += b"\n"
        if self.use_sideband:
            try:
                for pkt in iter_mux(SIDE_BAND_CHANNEL_PROGRESS, text):
                    self._write(pkt)
            except (OSError, PuregitError):
                pass
        elif self._stderr is not None:
            try:
                self._stderr(text)
            except (OSError, ValueError):
                pass

    def _progress(self, text: bytes) -> None:
        """A progress line as it is (``\r``-ended lines overwrite each other)."""
        if text.endswith(b"\n"):
            self._message(text)
        else:
            self._hook_output(text)

    def _hook_output(self, data: bytes) -> None:
        if self.use_sideband:
            try:
                for pkt in iter_mux(SIDE_BAND_CHANNEL_PROGRESS, data):
                    self._write(pkt)
            except (OSError, PuregitError):
                pass
        elif self._stderr is not None:
            try:
                self._stderr(data)
            except (OSError, ValueError):
                pass

    @contextlib.contextmanager
    def _keepalive(self):
        """``receive.keepAlive``: an empty band-1 packet after that many silent seconds.

        Indexing, fsck, the connectivity check and the hooks of a big push
        can take minutes without a byte to the client; some networks drop
        such a connection.  Needs side-band (the packet is a zero-length
        piece of the report, which the client ignores).
        """
        interval = self.config.keep_alive
        if not (self.use_sideband and interval > 0):
            yield
            return

        def beat() -> Optional[bool]:
            if time.monotonic() - self._last_write >= interval:
                try:
                    self._write(b"0005\x01")
                except (OSError, PuregitError, ValueError):
                    return False   # the client is gone: stop
            return None
        with ticking(min(interval, 1.0), beat, "receive-pack keepalive"):
            yield

    # -- advertisement ------------------------------------------------------------
    def advertisement(self) -> RefAdvertisement:
        refs = self.repo.refs.as_dict()
        hidden = self.config.hide_refs
        adv = RefAdvertisement(capabilities=receive_capabilities(self.config, self.object_format))
        known = set()
        for name in sorted(refs):
            sha = refs[name]
            if name == b"HEAD" or not name.startswith(b"refs/") or sha.startswith(SYMREF):
                continue
            if hidden and ref_is_hidden(name, hidden):
                continue
            adv.refs.append(AdvertisedRef(sha, name))
            known.add(sha)
        for sha in _alternate_haves(self.repo.object_store, known):
            adv.refs.append(AdvertisedRef(sha, b".have"))
        if self.protocol_version == 1:
            adv.version = 1
        return adv

    # -- request ----------------------------------------------------------------------
    def _read_message(self, cls, limit: int):
        decoder = cls.decoder()
        n = 0
        while not decoder.done:
            pkt = self.proto.read_pkt()
            n += 1
            if n > limit:
                raise UnexpectedMessage(f"too many lines in the {cls.__name__}")
            decoder.feed_pkt(pkt)
        return decoder.result

    def read_request(self) -> Optional[PushRequest]:
        """The command list; None if the client sent only a flush (nothing to push)."""
        try:
            first = self.proto.read_pkt()
        except HangupException:
            return None
        if first is FLUSH:
            return None
        decoder = PushRequest.decoder()
        decoder.feed_pkt(first)
        n = 1
        while not decoder.done:
            pkt = self.proto.read_pkt()
            n += 1
            if n > MAX_COMMANDS:
                raise UnexpectedMessage("too many push commands")
            decoder.feed_pkt(pkt)
        req = decoder.result
        for cmd in req.commands:
            if len(cmd.old) != len(self.zero):
                raise UnexpectedMessage("push command uses another object format")
        return req

    def _negotiate(self, caps: list) -> None:
        names = {c.split(b"=", 1)[0] for c in caps}
        self.client_caps = caps
        self.report_v2 = CAPABILITY_REPORT_STATUS_V2 in names
        self.report_v1 = CAPABILITY_REPORT_STATUS in names
        self.use_sideband = CAPABILITY_SIDE_BAND_64K in names
        self.quiet = CAPABILITY_QUIET in names
        self.atomic = CAPABILITY_ATOMIC in names and self.config.advertise_atomic
        fmt = find_capability(caps, CAPABILITY_OBJECT_FORMAT)
        if fmt is not None and fmt != self.object_format:
            raise UnexpectedMessage(f"unsupported object format {fmt.decode('ascii', 'replace')!r}")
        if CAPABILITY_PUSH_OPTIONS in names:
            self.push_options = []

    # -- main flow -------------------------------------------------------------------------
    def handle(self) -> None:
        if not self.stateless_rpc or self.advertise_refs:
            self._write(self.advertisement().encode())
            if self.advertise_refs:
                return
        req = self.read_request()
        if req is None:
            return
        self._negotiate(req.capabilities)
        if self.push_options is not None:
            opts = self._read_message(PushOptions, MAX_PUSH_OPTIONS)
            self.push_options = list(opts.options)
        commands = [Command(c.old, c.new, c.ref) for c in req.commands]
        self.client_shallows = list(req.shallows)
        with self._keepalive():
            unpack_status = self.process(commands)
        self.send_report(unpack_status, commands)
        self.run_post_hooks(commands)
        self.maybe_gc(commands)
        if self.use_sideband:
            self._write(b"0000")

    def _pack_reader(self) -> Callable[[int], bytes]:
        """A read that returns what is available: the pack is read only up to its checksum."""
        recv = getattr(self.proto, "recv", None)
        if recv is not None:
            return recv
        read = self.proto.read
        read1 = getattr(getattr(read, "__self__", None), "read1", None)
        if read1 is not None and getattr(read, "__name__", "") == "read":
            return read1
        return read

    def process(self, commands: list) -> bytes:
        """Everything between the request and the report; returns the unpack status."""
        repo = self.repo
        store = repo.object_store
        for cmd in commands:
            if is_funny_refname(cmd.ref):
                cmd.error = FUNNY_REFNAME
                self._message(b"error: refusing to create funny ref '" + cmd.ref + b"' remotely")
        delete_only = all(c.is_delete for c in commands)
        if not hasattr(store, "pack_dir"):
            return self._process_in_memory(commands, delete_only)
        from .quarantine import Quarantine
        quarantine = Quarantine(store)
        try:
            references = None
            if not delete_only:
                skip: frozenset = frozenset()
                if self.config.fsck_skip_list:
                    try:
                        skip = read_skip_list(self.config.fsck_skip_list, self.hash_algo.hex_size)
                    except (OSError, ValueError) as exc:
                        return self._unpack_failed(
                            commands, b"could not read fsck skip list: " + _one_line(
                                str(exc).encode("utf-8", "replace")))
                policy = FsckPolicy(self.config.fsck_objects, self.config.fsck_overrides, skip)
                # fsck runs inside the indexer's pass, each object checked while in hand.
                references = set() if not policy.skip else None
                checker = StreamFsck(policy, self.hash_algo.digest_size, references)
                try:
                    quarantine.receive_pack(self._pack_reader(),
                                            max_input_size=self.config.max_input_size,
                                            inspect=checker, parallel=True,
                                            progress=None if self.quiet else self._progress)
                    problems = checker.finish(quarantine.store.get_raw)
                except (PackError, ObjectFormatError, ProtocolError, OSError, MemoryError) as exc:
                    return self._unpack_failed(commands, _unpack_reason(exc))
                except (PuregitError, ValueError) as exc:
                    return self._unpack_failed(commands, _unpack_reason(exc))
                if problems:
                    for sha, p in problems[:20]:
                        self._message(b"error: object " + sha + b": " + str(p).encode())
                    sha, p = problems[0]
                    return self._unpack_failed(
                        commands, b"fsck error in object " + sha + b": " + p.msg_id.encode())
            if not delete_only and quarantine.explode(self.config.unpack_limit, store.contains):
                references = None   # loose now: the connectivity check walks them
            self._check_connectivity(commands, quarantine, references=references)
            self._reject_hidden(commands)
            env = quarantine_env(quarantine.path, os.path.abspath(store.path),
                                 os.environ.get("GIT_ALTERNATE_OBJECT_DIRECTORIES"))
            if not self._run_pre_receive(commands, env):
                return b"ok"
            self._check_each(commands, quarantine.store.get_raw, env)
            self._apply(commands, quarantine)
            return b"ok"
        finally:
            if not quarantine.migrated:
                quarantine.drop()

    def _process_in_memory(self, commands: list, delete_only: bool) -> bytes:
        """Memory repositories: the pack is staged in memory, then copied in."""
        from .object_store import MemoryObjectStore
        store = self.repo.object_store
        staged = MemoryObjectStore(self.hash_algo)
        if not delete_only:
            from .pack_indexer import PackIndexer
            import tempfile
            with tempfile.TemporaryDirectory(prefix="puregit-receive-") as tmp:
                from .quarantine import CHUNK
                from .pack_indexer import load_pack_objects

                def resolve(binsha):
                    try:
                        return store.get_raw(binsha.hex().encode("ascii"))
                    except KeyError:
                        return None
                try:
                    indexer = PackIndexer(tmp, self.hash_algo, fix_thin=True, resolve_ext_ref=resolve)
                    read = self._pack_reader()
                    total = 0
                    while not indexer.complete:
                        data = read(CHUNK)
                        if not data:
                            break
                        total += len(data)
                        if self.config.max_input_size and total > self.config.max_input_size:
                            indexer.abort()
                            raise PackError("pack exceeds maximum allowed size")
                        indexer.feed(data)
                    result = indexer.finish()
                    staged._data.update(load_pack_objects(result, tmp, self.hash_algo))
                except (PackError, ObjectFormatError, ProtocolError, OSError) as exc:
                    return self._unpack_failed(commands, _unpack_reason(exc))
        policy = FsckPolicy(self.config.fsck_objects, self.config.fsck_overrides)
        for sha in staged:
            t, body = staged.get_raw(sha)
            bad = [p for p in check_object(t, body, len(self.zero)) if policy.is_fatal(p)]
            if bad:
                return self._unpack_failed(commands, b"fsck error in object " + sha + b": "
                                           + bad[0].msg_id.encode())

        def get_raw(sha):
            try:
                return staged.get_raw(sha)
            except KeyError:
                return store.get_raw(sha)

        class _Q:
            contains = staged.contains
        self._check_connectivity(commands, _Q(), get_raw=get_raw, has=store.contains)
        self._reject_hidden(commands)
        if not self._run_pre_receive(commands, {}):
            return b"ok"
        self._check_each(commands, get_raw, {})
        for sha in staged:
            store.add_raw(*staged.get_raw(sha))
        self._update_refs(commands, None)
        return b"ok"

    def _unpack_failed(self, commands: list, reason: bytes) -> bytes:
        for cmd in commands:
            cmd.error = UNPACKER_ERROR
        return reason

    def _check_connectivity(self, commands: list, quarantine, get_raw=None, has=None,
                            references: Optional[set] = None) -> None:
        tips = [c.new for c in commands if c.error is None and not c.is_delete]
        if not tips:
            return
        store = self.repo.object_store
        if references is not None:
            # Fast path: fsck collected what every new object points at (binary ids).
            ids = set(chain.from_iterable(pack.index.iter_sha() for pack in quarantine.store.packs))
            contains = has or store.contains
            if connected_by_closure(map(unhexlify, tips), references, ids,
                                    lambda b: contains(hexlify(b))):
                return
        get_raw = get_raw or quarantine.store.get_raw
        contains = has or store.contains
        digest = self.hash_algo.digest_size
        bad = check_connectivity(tips, quarantine.contains, contains, get_raw, digest)
        theirs = frozenset(s for s in self.client_shallows if quarantine.contains(s))
        for cmd in commands:
            if cmd.error is None and not cmd.is_delete and cmd.new in bad:
                cmd.error = MISSING_OBJECTS
                if not theirs:
                    continue
                # A shallow client's push: complete down to its shallow commits?
                reached: set = set()
                if check_connectivity([cmd.new], quarantine.contains, contains, get_raw, digest,
                                      boundary=theirs, reached=reached):
                    continue
                if self.config.shallow_update:
                    cmd.error = None
                    self.new_shallows |= reached
                else:
                    cmd.error = SHALLOW_UPDATE

    def _reject_hidden(self, commands: list) -> None:
        hidden = self.config.hide_refs
        if not hidden:
            return
        for cmd in commands:
            if cmd.error is None and ref_is_hidden(cmd.ref, hidden):
                cmd.error = HIDDEN_DELETE if cmd.is_delete else HIDDEN_UPDATE

    def _hooks(self) -> Optional[HookRunner]:
        controldir = getattr(self.repo, "controldir", None)
        if controldir is None:
            return None
        git_dir = controldir()
        hooks_dir = None
        if self.config.hooks_path:
            hooks_dir = os.path.join(git_dir, os.path.expanduser(self.config.hooks_path))
        return HookRunner(git_dir, hooks_dir, self.options.get("hook_env"), self._hook_output,
                          self.options.get("hook_timeout"))

    def _live(self, commands: list) -> list:
        return [c for c in commands if c.error is None]

    def _run_pre_receive(self, commands: list, qenv: dict) -> bool:
        live = self._live(commands)
        hooks = self._hooks()
        if not live or hooks is None:
            return True
        env = dict(qenv)
        env.update(push_option_env(self.push_options))
        status = hooks.run("pre-receive", (), format_ref_lines((c.old, c.new, c.ref) for c in live),
                           env)
        if status is None or status == 0:
            return True
        for cmd in commands:
            if cmd.error is None:
                cmd.error = PRE_RECEIVE_DECLINED
        return False

    def _head_target(self) -> Optional[bytes]:
        try:
            names, _ = self.repo.refs.follow(b"HEAD")
        except (RefError, KeyError, OSError):
            return None
        return names[-1] if len(names) > 1 else None

    def _check_each(self, commands: list, get_raw, qenv: dict) -> None:
        """cgit's ``update()`` checks before the write, including the update hook."""
        cfg = self.config
        bare = getattr(self.repo, "bare", True)
        head = self._head_target()
        hooks = self._hooks()
        for cmd in commands:
            if cmd.error is not None:
                continue
            if self.atomic and any(c.error is not None for c in commands):
                break
            update_worktree = False
            if head is not None and cmd.ref == head and not bare:
                mode = cfg.deny_current_branch
                if mode in ("refuse", "unconfigured"):
                    self._message(b"error: refusing to update checked out branch: " + cmd.ref)
                    cmd.error = CHECKED_OUT
                    continue
                if mode == "updateInstead":   # after the other checks, as git does
                    update_worktree = not cmd.is_delete
                if mode == "warn":
                    self._message(b"warning: updating the current branch")
            if cmd.is_delete:
                if cfg.deny_deletes and cmd.ref.startswith(b"refs/heads/"):
                    self._message(b"error: denying ref deletion for " + cmd.ref)
                    cmd.error = DELETION_PROHIBITED
                    continue
                if head is not None and cmd.ref == head:
                    mode = cfg.deny_delete_current
                    if mode in ("refuse", "unconfigured", "updateInstead"):
                        self._message(b"error: refusing to delete the current branch: " + cmd.ref)
                        cmd.error = DELETE_CURRENT
                        continue
                    if mode == "warn":
                        self._message(b"warning: deleting the current branch")
            elif cfg.deny_non_fast_forwards and not cmd.is_create and \
                    cmd.ref.startswith(b"refs/heads/"):
                if _object_type(get_raw, cmd.old) != 1 or _object_type(get_raw, cmd.new) != 1:
                    self._message(b"error: bad sha1 objects for " + cmd.ref)
                    cmd.error = BAD_REF
                    continue
                if not is_ancestor(get_raw, cmd.old, cmd.new):
                    self._message(b"error: denying non-fast-forward " + cmd.ref
                                  + b" (you should pull first)")
                    cmd.error = NON_FAST_FORWARD
                    continue
            if hooks is not None:
                status = hooks.run("update", (cmd.ref, cmd.old, cmd.new), b"", qenv)
                if status not in (None, 0):
                    self._message(b"error: hook declined to update " + cmd.ref)
                    cmd.error = HOOK_DECLINED
                    continue
            if update_worktree:
                cmd.error = self._update_worktree(cmd, get_raw, qenv)
        if self.atomic:
            self._atomic_fail(commands, ATOMIC_PUSH_FAILURE)

    def _update_worktree(self, cmd, get_raw, qenv: dict) -> Optional[bytes]:
        """updateInstead: the push-to-checkout hook, or move the work tree (None if done)."""
        from .push_to_checkout import update_worktree
        git_dir = os.path.abspath(self.repo.controldir())
        hooks = self._hooks()
        path = find_hook(hooks.hooks_dir, "push-to-checkout") if hooks is not None else None
        if path is not None:
            env = hook_env(hooks.base_env, dict(qenv, GIT_DIR=git_dir))
            status = run_hook(path, (cmd.new,), b"", env, self.repo.path, self._hook_output,
                              hooks.timeout)
            return None if status == 0 else b"push-to-checkout hook declined"
        return update_worktree(self.repo, None if cmd.is_create else cmd.old, cmd.new, get_raw)

    def _atomic_fail(self, commands: list, reason: bytes) -> bool:
        if any(c.error is not None for c in commands):
            for c in commands:
                if c.error is None:
                    c.error = reason
            return True
        return False

    def _transaction(self):
        refs = self.repo.refs
        committer = None
        try:
            from .repo import default_identity
            committer = default_identity(self.repo.get_config())
        except Exception:
            pass
        cls = RefTransaction if hasattr(refs, "_lock") and hasattr(refs, "_packed") \
            else _SimpleTransaction
        return cls(refs, self.zero, committer, b"push", self._message)

    def _apply(self, commands: list, quarantine) -> None:
        """Lock and compare every ref, migrate the objects if anything will change, write."""
        self._update_refs(commands, quarantine)

    def _update_refs(self, commands: list, quarantine) -> None:
        txn = self._transaction()
        try:
            for cmd in commands:
                if cmd.error is None:
                    cmd.error = txn.prepare(cmd)
            if self.atomic and self._atomic_fail(commands, ATOMIC_TRANSACTION_FAILED):
                for c in commands:
                    if c.error in (ATOMIC_TRANSACTION_FAILED, FAILED_TO_UPDATE):
                        c.error = ATOMIC_TRANSACTION_FAILED
                txn.abort()
                return
            if not self._live(commands):
                txn.abort()
                return
            if quarantine is not None and not all(c.is_delete for c in self._live(commands)):
                try:
                    quarantine.migrate()
                except OSError as exc:
                    self._message(f"error: {exc}".encode())
                    for c in commands:
                        if c.error is None:
                            c.error = MIGRATE_FAILED
                    txn.abort()
                    return
            if self.new_shallows and self._live(commands):
                self._add_shallows(self.new_shallows)
            groups = self._transaction_prepared(txn, commands)
            if groups is None:
                txn.abort()
                return
            failed = txn.commit()
        except BaseException:
            txn.abort()
            raise
        for cmd in commands:
            if cmd.error is None and cmd.ref in failed:
                cmd.error = failed[cmd.ref]
        for group in groups:
            done = [c for c in group if c.error is None]
            if done:
                self._reference_transaction_hook("committed", done)

    def _add_shallows(self, commits: set) -> None:
        """receive.shallowUpdate: record a shallow push's boundary in ``$GIT_DIR/shallow``."""
        from .object_store import write_file_atomically
        from .upload_pack import read_shallow_file
        known = read_shallow_file(self.repo)
        if commits <= known or getattr(self.repo, "controldir", None) is None:
            return
        path = os.path.join(self.repo.controldir(), "shallow")
        write_file_atomically(path, b"".join(s + b"\n" for s in sorted(known | commits)))

    def _reference_transaction_hook(self, state: str, cmds: list) -> Optional[int]:
        hooks = self._hooks()
        if hooks is None:
            return None
        return hooks.run("reference-transaction", (state,),
                         format_ref_lines((c.old, c.new, c.ref) for c in cmds), {})

    def _transaction_prepared(self, txn, commands: list) -> Optional[list]:
        """The ``reference-transaction`` hook's "prepared" call, with the refs locked.

        As in git, a non-atomic push is one transaction per ref (the hook is
        asked per ref and may refuse some), an atomic push one transaction; a
        refused one is then told "aborted".  Unlike git 2.39's receive-pack,
        which dies there ("fatal: ref updates aborted by hook") and leaves the
        client with a hung-up connection, the refused refs are reported.
        Returns the groups that go on, or None when an atomic push must stop.
        """
        hooks = self._hooks()
        live = self._live(commands)
        if hooks is None or not live or not hooks.exists("reference-transaction"):
            return []
        groups = [live] if self.atomic else [[c] for c in live]
        kept = []
        for group in groups:
            if self._reference_transaction_hook("prepared", group) in (None, 0):
                kept.append(group)
                continue
            self._message(b"error: in 'prepared' phase, update aborted by the "
                          b"reference-transaction hook")
            self._reference_transaction_hook("aborted", group)   # git calls it too
            for c in group:
                c.error = ATOMIC_TRANSACTION_FAILED if self.atomic else FAILED_TO_UPDATE
                txn.release(c)
        if self.atomic and not kept:
            return None
        return kept

    # -- report and post hooks ------------------------------------------------------------
    def send_report(self, unpack_status: bytes, commands: list) -> None:
        if not (self.report_v1 or self.report_v2):
            return
        report = ReportStatus(unpack=_one_line(unpack_status))
        for cmd in commands:
            ref = cmd.ref if cmd.ref and not any(c in b" \n\0" for c in cmd.ref) \
                else cmd.ref.replace(b"\n", b"?").replace(b" ", b"?").replace(b"\0", b"?") or b"?"
            report.refs.append(RefStatus(ref, None if cmd.error is None else cmd.error))
        data = report.encode()
        if self.use_sideband:
            for pkt in iter_mux(SIDE_BAND_CHANNEL_DATA, data):
                self._write(pkt)
        else:
            self._write(data)

    def run_post_hooks(self, commands: list) -> None:
        updated = [c for c in commands if c.error is None]
        hooks = self._hooks()
        if not updated or hooks is None:
            return
        env = push_option_env(self.push_options)
        hooks.run("post-receive", (), format_ref_lines((c.old, c.new, c.ref) for c in updated), env)
        hooks.run("post-update", [c.ref for c in updated], b"", {})

    def maybe_gc(self, commands: list) -> None:
        """``receive.autogc``: after a push that changed something, ``gc --auto``."""
        if self.config.auto_gc and any(c.error is None for c in commands):
            from .auto_gc import start_after_push
            start_after_push(self.repo)


def read_skip_list(path: str, hex_size: int = 40) -> frozenset:
    """The object ids of an fsck skip list: one full id per line, ``#`` comments.

    Raises OSError when the file cannot be read and ValueError for a line
    that is not an id (git refuses to go on in both cases).
    """
    ids = set()
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            line = raw.split(b"#", 1)[0].strip()
            if not line:
                continue
            if len(line) != hex_size or line.strip(b"0123456789abcdefABCDEF"):
                raise ValueError(f"invalid object name on line {n} of {path}")
            ids.add(line.lower())
    return frozenset(ids)


def _one_line(text: bytes) -> bytes:
    text = text.replace(b"\n", b" ").replace(b"\0", b" ").strip()
    return text[:1000] or b"error"


def _unpack_reason(exc: BaseException) -> bytes:
    msg = str(exc) or type(exc).__name__
    if isinstance(exc, MemoryError):
        msg = "out of memory"
    return _one_line(msg.encode("utf-8", "replace"))


# --- the stdin/stdout entry ------------------------------------------------------------

class _SingleRepoBackend(Backend):
    def __init__(self, repo) -> None:
        self.repo = repo

    def open_repository(self, path):
        return self.repo


def _protocol_version_from_env() -> int:
    for item in os.environ.get("GIT_PROTOCOL", "").split(":"):
        if item.startswith("version="):
            try:
                return int(item[8:])
            except ValueError:
                return 0
    return 0


def main(argv: Optional[list] = None, stdin=None, stdout=None, stderr=None) -> int:
    """``git-receive-pack [--stateless-rpc] [--advertise-refs] <directory>`` over stdin/stdout."""
    from .protocol import Protocol
    from .repo import Repo
    argv = list(sys.argv[1:] if argv is None else argv)
    stateless = advertise = False
    paths = []
    for a in argv:
        if a == "--stateless-rpc":
            stateless = True
        elif a in ("--advertise-refs", "--http-backend-info-refs"):
            advertise = True
        elif a == "--":
            continue
        elif a.startswith("-"):
            paths.append(None)
            break
        else:
            paths.append(a)
    err = stderr or sys.stderr.buffer
    if len(paths) != 1 or paths[0] is None:
        err.write(b"usage: git receive-pack <git-dir>\n")
        err.flush()
        return 129
    inp = stdin or sys.stdin.buffer
    out = stdout or sys.stdout.buffer
    read = getattr(inp, "read1", None) or inp.read

    def write(data: bytes) -> None:
        out.write(data)
        out.flush()

    def write_err(data: bytes) -> None:
        err.write(data)
        err.flush()

    try:
        repo = Repo(paths[0])
    except PuregitError as exc:
        write_err(f"fatal: '{paths[0]}' does not appear to be a git repository ({exc})\n".encode())
        return 128
    proto = Protocol(read, write)
    version = _protocol_version_from_env()
    handler = ReceivePackHandler(_SingleRepoBackend(repo), [paths[0]], proto,
                                 stateless_rpc=stateless, advertise_refs=advertise,
                                 protocol_version=1 if version == 1 else 0,
                                 options={"stderr": write_err})
    try:
        handler.handle()
    except (ProtocolError, PuregitError) as exc:
        write_err(f"fatal: {exc}\n".encode("utf-8", "replace"))
        return 128
    except BrokenPipeError:
        return 128
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
