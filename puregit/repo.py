"""Repositories: a control directory with objects, refs, config and (maybe) an index.

``Repo`` opens what cgit makes (bare, non-bare, ``.git`` files pointing
elsewhere, linked work trees via ``commondir``) and creates repositories cgit
accepts, in SHA-1 or SHA-256.  ``MemoryRepo`` keeps everything in memory.
"""

from __future__ import annotations

import os
import time
from typing import Iterable, Optional

from .errors import (MissingObjectError, NotGitRepository, PuregitError,
                     RepositoryFormatError)
from .hashes import SHA1, HashAlgorithm, by_name
from .object_store import BaseObjectStore, DiskObjectStore, MemoryObjectStore
from .objects import Commit, ObjectID, ShaFile, Tree, valid_hexsha

OBJECTDIR = "objects"
REFSDIR = "refs"
INDEX_FILENAME = "index"
COMMONDIR = "commondir"
GITDIR_FILE_PREFIX = b"gitdir: "

# Extensions cgit defines; a repository using another one must not be written.
KNOWN_EXTENSIONS = {b"objectformat", b"worktreeconfig", b"noop", b"preciousobjects",
                    b"partialclone"}


class CommitError(PuregitError):
    """A commit could not be made (e.g. the ref moved underneath us)."""


def _b(value, what: str) -> bytes:
    if value is None:
        return None  # type: ignore[return-value]
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bytes):
        return value
    raise TypeError(f"{what} must be str or bytes")


def local_timezone_offset(when: float) -> int:
    """The local UTC offset in seconds at ``when``."""
    lt = time.localtime(when)
    return lt.tm_gmtoff if lt.tm_gmtoff is not None else -time.timezone


def default_identity(config=None, kind: str = "COMMITTER") -> bytes:
    """``Name <email>`` from GIT_<KIND>_NAME/EMAIL, then user.name/email, then the host."""
    name = os.environ.get(f"GIT_{kind}_NAME")
    email = os.environ.get(f"GIT_{kind}_EMAIL")
    if config is not None:
        if name is None:
            v = _config_get(config, (b"user",), b"name")
            name = v.decode("utf-8", "replace") if v else None
        if email is None:
            v = _config_get(config, (b"user",), b"email")
            email = v.decode("utf-8", "replace") if v else None
    if name is None or email is None:
        import getpass  # (and socket below) only when git's defaults are needed
    if name is None:
        try:
            name = getpass.getuser()
        except Exception:
            name = "unknown"
    if email is None:
        import socket
        email = f"{getpass.getuser() if name else 'unknown'}@{socket.gethostname()}"
    return f"{name} <{email}>".encode("utf-8")


def _config_get(config, section, name) -> Optional[bytes]:
    try:
        return config.get(section, name)
    except KeyError:
        return None


class BaseRepo:
    """What disk and memory repositories share: object access, refs, commits."""

    object_store: BaseObjectStore
    refs = None  # a RefsContainer
    hash_algo: HashAlgorithm = SHA1

    def get_config(self):
        raise NotImplementedError

    def get_config_stack(self):
        from .config import StackedConfig
        return StackedConfig([self.get_config()] + StackedConfig.default_backends())

    # objects
    def __getitem__(self, name) -> ShaFile:
        """An object by hex id, or the object a ref points at."""
        if isinstance(name, str):
            name = name.encode("ascii")
        if len(name) in (20, 32):
            return self.object_store[name]
        if valid_hexsha(name):
            try:
                return self.object_store[name.lower()]
            except KeyError:
                pass
        try:
            return self.object_store[self.refs[name]]
        except (KeyError, ValueError):
            raise MissingObjectError(name) from None

    def __contains__(self, name) -> bool:
        try:
            self[name]
        except KeyError:
            return False
        return True

    def get_object(self, sha) -> ShaFile:
        return self.object_store[sha]

    def get_refs(self) -> dict[bytes, bytes]:
        """All refs (and HEAD) mapped to the ids they resolve to."""
        return self.refs.as_dict()

    def head(self) -> ObjectID:
        return self.refs[b"HEAD"]

    def get_peeled(self, ref: bytes) -> ObjectID:
        """The id ``ref`` points at after following tags."""
        cached = self.refs.get_peeled(ref)
        if cached is not None:
            return cached
        return self.object_store.peel_sha(self.refs[ref]).id

    def generate_pack_data(self, have, want, ofs_delta: bool = True, progress=None, **kwargs):
        """``(count, pack chunks)`` for send_pack, as Dulwich's porcelain passes it."""
        return self.object_store.generate_pack_data(have, want, ofs_delta=ofs_delta,
                                                    progress=progress, **kwargs)

    def get_parents(self, sha: bytes) -> list[bytes]:
        return self[sha].parents

    def _get_user_identity(self, kind: str = "COMMITTER") -> bytes:
        return default_identity(self.get_config_stack(), kind)

    def _empty_index_tree(self) -> ObjectID:
        tree = Tree()
        tree.hash_algo = self.hash_algo
        return self.object_store.add_object(tree)

    def _index_tree(self) -> ObjectID:
        return self._empty_index_tree()

    def do_commit(self, message=None, committer=None, author=None, commit_timestamp=None,
                  commit_timezone=None, author_timestamp=None, author_timezone=None,
                  tree=None, encoding=None, ref: Optional[bytes] = b"HEAD",
                  merge_heads: Optional[Iterable[bytes]] = None, no_verify: bool = False,
                  sign: bool = False) -> ObjectID:
        """Commit the index (or ``tree``) and move ``ref`` to it by compare-and-swap.

        ``message``, ``committer`` and ``author`` may be ``str`` or ``bytes``.
        Returns the new commit's id.
        """
        c = Commit()
        c.hash_algo = self.hash_algo
        c.tree = tree if tree is not None else self._index_tree()
        explicit_committer = committer is not None
        committer = _b(committer, "committer") or self._get_user_identity("COMMITTER")
        c.committer = committer
        now = time.time()
        c.commit_time = int(now) if commit_timestamp is None else int(commit_timestamp)
        c.commit_timezone = (local_timezone_offset(c.commit_time) if commit_timezone is None
                             else commit_timezone)
        if author is None:
            # An explicit committer also authors; otherwise ask env and config as git does.
            author = committer if explicit_committer else self._get_user_identity("AUTHOR")
        c.author = _b(author, "author")
        c.author_time = c.commit_time if author_timestamp is None else int(author_timestamp)
        c.author_timezone = (c.commit_timezone if author_timezone is None else author_timezone)
        if encoding is not None:
            c.encoding = _b(encoding, "encoding")
        if message is None:
            raise CommitError("a commit needs a message")
        message = _b(message, "message")
        c.message = message
        merge_heads = list(merge_heads or [])
        if ref is None:
            c.parents = merge_heads
            self.object_store.add_object(c)
            return c.id
        ref = _b(ref, "ref")
        try:
            old_head = self.refs[ref]
            c.parents = [old_head] + merge_heads
        except KeyError:
            old_head = None
            c.parents = merge_heads
        self.object_store.add_object(c)
        reflog_message = b"commit: " + message.split(b"\n", 1)[0]
        if old_head is None:
            ok = self.refs.add_if_new(ref, c.id, committer=committer,
                                      timestamp=c.commit_time, timezone=c.commit_timezone,
                                      message=b"commit (initial): " + message.split(b"\n", 1)[0])
        else:
            ok = self.refs.set_if_equals(ref, old_head, c.id, committer=committer,
                                         timestamp=c.commit_time, timezone=c.commit_timezone,
                                         message=reflog_message)
        if not ok:
            raise CommitError(f"{ref!r} changed during commit")
        return c.id

    def close(self) -> None:
        self.object_store.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Repo(BaseRepo):
    """A repository on disk, bare or with a work tree."""

    def __init__(self, root: str | os.PathLike | bytes, object_store: Optional[DiskObjectStore] = None,
                 bare: Optional[bool] = None) -> None:
        root = os.fsdecode(root)
        hidden = os.path.join(root, ".git")
        if bare is None:
            if os.path.isfile(hidden):
                bare = False
            elif os.path.isdir(hidden):
                bare = False
            elif os.path.isdir(os.path.join(root, OBJECTDIR)) and \
                    os.path.exists(os.path.join(root, "HEAD")):
                bare = True
            else:
                raise NotGitRepository(f"no git repository was found at {root}")
        self.bare = bare
        if bare:
            self._controldir = root
        elif os.path.isfile(hidden):
            with open(hidden, "rb") as f:
                line = f.read().strip()
            if not line.startswith(GITDIR_FILE_PREFIX):
                raise NotGitRepository(f"invalid .git file at {hidden}")
            target = os.fsdecode(line[len(GITDIR_FILE_PREFIX):])
            self._controldir = os.path.normpath(os.path.join(root, target))
        else:
            self._controldir = hidden
        self.path = root
        commondir = self.get_named_file(COMMONDIR)
        if commondir is not None:
            with commondir:
                target = os.fsdecode(commondir.read().rstrip(b"\r\n"))
            self._commondir = os.path.normpath(os.path.join(self._controldir, target))
        else:
            self._commondir = self._controldir
        if not os.path.exists(os.path.join(self._controldir, "HEAD")):
            raise NotGitRepository(f"{self._controldir} has no HEAD")
        self._config = None
        config = self.get_config()
        self.hash_algo = self._check_format(config)
        if object_store is None:
            object_store = DiskObjectStore(os.path.join(self.commondir(), OBJECTDIR),
                                           hash_algo=self.hash_algo)
        self.object_store = object_store
        from .refs import DiskRefsContainer
        log_all = config.get_boolean((b"core",), b"logallrefupdates", not bare)
        self.refs = DiskRefsContainer(self.commondir(), worktree_path=self._controldir,
                                      logger=None, hash_algorithm=self.hash_algo,
                                      log_all_ref_updates=bool(log_all))

    @staticmethod
    def _check_format(config) -> HashAlgorithm:
        raw = _config_get(config, (b"core",), b"repositoryformatversion") or b"0"
        try:
            version = int(raw)
        except ValueError:
            raise RepositoryFormatError(f"bad core.repositoryformatversion {raw!r}") from None
        if version not in (0, 1):
            raise RepositoryFormatError(f"unsupported repository format version {version}")
        algo = SHA1
        if version == 1:
            section = (b"extensions",)
            names = []
            try:
                names = [k for k, _ in config.items(section)]
            except KeyError:
                pass
            for name in names:
                key = name.lower() if isinstance(name, bytes) else name.encode().lower()
                if key not in KNOWN_EXTENSIONS:
                    raise RepositoryFormatError(f"unsupported repository extension {name!r}")
            fmt = _config_get(config, section, b"objectformat")
            if fmt:
                algo = by_name(fmt)
        return algo

    # paths
    def controldir(self) -> str:
        return self._controldir

    def commondir(self) -> str:
        return self._commondir

    def index_path(self) -> str:
        return os.path.join(self._controldir, INDEX_FILENAME)

    def get_named_file(self, path: str, basedir: Optional[str] = None):
        path = path.lstrip("/")
        try:
            return open(os.path.join(basedir or self._controldir, path), "rb")
        except (FileNotFoundError, NotADirectoryError):
            return None

    def _put_named_file(self, path: str, contents: bytes) -> None:
        from .object_store import write_file_atomically
        write_file_atomically(os.path.join(self._controldir, path), contents)

    # config
    def get_config(self):
        from .config import ConfigFile
        path = os.path.join(self._commondir, "config")
        try:
            return ConfigFile.from_path(path)
        except FileNotFoundError:
            cf = ConfigFile()
            cf.path = path
            return cf

    def get_description(self) -> Optional[bytes]:
        f = self.get_named_file("description")
        if f is None:
            return None
        with f:
            return f.read()

    def set_description(self, description: bytes) -> None:
        self._put_named_file("description", _b(description, "description"))

    # index
    def has_index(self) -> bool:
        return not self.bare

    def open_index(self):
        from .index import Index
        if self.bare:
            raise NotGitRepository("a bare repository has no index")
        return Index(self.index_path(), hash_algo=self.hash_algo)

    def _index_tree(self) -> ObjectID:
        if self.bare:
            return self._empty_index_tree()
        return self.open_index().commit(self.object_store)

    def stage(self, paths: Iterable) -> None:
        """Add work-tree files to the index (deleted files are removed)."""
        from .index import blob_from_path_and_stat, index_entry_from_stat
        index = self.open_index()
        root = os.fsencode(self.path)
        for p in paths:
            rel = os.fsencode(p).replace(os.sep.encode(), b"/")
            full = os.path.join(root, rel)
            try:
                st = os.lstat(full)
            except FileNotFoundError:
                if rel in index:
                    del index[rel]
                continue
            if os.path.isdir(full):
                continue
            blob = blob_from_path_and_stat(full, st)
            blob.hash_algo = self.hash_algo
            self.object_store.add_object(blob)
            index[rel] = index_entry_from_stat(st, blob.id)
        index.write()

    def reset_index(self, tree: Optional[bytes] = None) -> None:
        """Check out ``tree`` (default: HEAD's) into the work tree and index."""
        from .index import build_index_from_tree
        if tree is None:
            tree = self[b"HEAD"].tree
        build_index_from_tree(self.path, self.index_path(), self.object_store, tree)

    # creation
    @classmethod
    def _init_maybe_bare(cls, controldir: str, bare: bool, object_format: str = "sha1",
                         default_branch: bytes = b"master", config=None) -> None:
        algo = by_name(object_format)
        for d in ("branches", "hooks", "info", os.path.join(OBJECTDIR, "info"),
                  os.path.join(OBJECTDIR, "pack"), os.path.join(REFSDIR, "heads"),
                  os.path.join(REFSDIR, "tags")):
            os.makedirs(os.path.join(controldir, d), exist_ok=True)
        with open(os.path.join(controldir, "HEAD"), "wb") as f:
            f.write(b"ref: refs/heads/" + _b(default_branch, "branch") + b"\n")
        with open(os.path.join(controldir, "description"), "wb") as f:
            f.write(b"Unnamed repository; edit this file 'description' to name the repository.\n")
        with open(os.path.join(controldir, "info", "exclude"), "wb") as f:
            f.write(b"# git ls-files --others --exclude-from=.git/info/exclude\n")
        from .config import ConfigFile
        cf = ConfigFile()
        version = b"0" if algo is SHA1 else b"1"
        cf.set((b"core",), b"repositoryformatversion", version)
        cf.set((b"core",), b"filemode", b"true")
        cf.set((b"core",), b"bare", b"true" if bare else b"false")
        if not bare:
            cf.set((b"core",), b"logallrefupdates", b"true")
        if algo is not SHA1:
            cf.set((b"extensions",), b"objectformat", algo.name.encode())
        cf.write_to_path(os.path.join(controldir, "config"))

    @classmethod
    def init(cls, path: str | os.PathLike, mkdir: bool = False, bare: bool = False,
             object_format: str = "sha1", default_branch: bytes | str = b"master") -> "Repo":
        """Create a repository with a work tree at ``path`` (``path/.git``)."""
        path = os.fsdecode(path)
        if mkdir:
            os.mkdir(path)
        if bare:
            return cls.init_bare(path, object_format=object_format, default_branch=default_branch)
        controldir = os.path.join(path, ".git")
        os.mkdir(controldir)
        cls._init_maybe_bare(controldir, False, object_format, _b(default_branch, "branch"))
        return cls(path)

    @classmethod
    def init_bare(cls, path: str | os.PathLike, mkdir: bool = False, object_format: str = "sha1",
                  default_branch: bytes | str = b"master") -> "Repo":
        """Create a bare repository at ``path``."""
        path = os.fsdecode(path)
        if mkdir:
            os.mkdir(path)
        cls._init_maybe_bare(path, True, object_format, _b(default_branch, "branch"))
        return cls(path, bare=True)

    create = init_bare

    def __repr__(self) -> str:
        return f"<Repo at {self.path!r}>"


class MemoryRepo(BaseRepo):
    """A repository held in memory (objects, refs and config)."""

    def __init__(self, hash_algo: HashAlgorithm = SHA1) -> None:
        from .config import ConfigFile
        from .refs import DictRefsContainer
        self.hash_algo = hash_algo
        self.object_store = MemoryObjectStore(hash_algo)
        self.refs = DictRefsContainer({})
        self.refs.set_symbolic_ref(b"HEAD", b"refs/heads/master")
        self._config = ConfigFile()
        self.bare = True
        self._named_files: dict[str, bytes] = {}
        self.path = None

    def get_config(self):
        return self._config

    def get_config_stack(self):
        from .config import StackedConfig
        return StackedConfig([self._config])

    def get_named_file(self, path: str, basedir=None):
        import io
        data = self._named_files.get(path.lstrip("/"))
        return io.BytesIO(data) if data is not None else None

    def _put_named_file(self, path: str, contents: bytes) -> None:
        self._named_files[path.lstrip("/")] = contents

    def get_description(self) -> Optional[bytes]:
        return self._named_files.get("description")

    def set_description(self, description: bytes) -> None:
        self._named_files["description"] = _b(description, "description")

    @classmethod
    def init_bare(cls, objects: Iterable[ShaFile] = (), refs: Optional[dict] = None,
                  hash_algo: HashAlgorithm = SHA1) -> "MemoryRepo":
        repo = cls(hash_algo)
        for obj in objects:
            repo.object_store.add_object(obj)
        for name, value in (refs or {}).items():
            repo.refs[name] = value
        return repo
