"""Finding and running repository hooks the way cgit's receive-pack runs them.

Hooks are executable files in ``<git dir>/hooks`` (or ``core.hooksPath``).
Push hooks run with the git directory as working directory and
``GIT_DIR=.``; their stdout and stderr are merged and handed, as produced, to
an ``output`` callback (receive-pack sends them to the client on side-band 2,
where git prints them as ``remote: ...``).  A hook that does not read its
stdin is fine: the broken pipe is ignored, as git ignores SIGPIPE there.

This is the only module that starts processes for receive-pack; the
environment building is pure and tested on its own.
"""

from __future__ import annotations

import os
import subprocess
import threading
from typing import Callable, Iterable, Mapping, Optional, Sequence

__all__ = [
    "HookRunner", "find_hook", "run_hook", "hook_env", "push_option_env", "quarantine_env",
    "format_ref_lines",
]

Output = Callable[[bytes], None]

#: Variables from the server's own environment that must not leak into hooks
#: (they would point the hook at another repository or object directory).
_SCRUB = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
          "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_QUARANTINE_PATH", "GIT_COMMON_DIR",
          "GIT_NAMESPACE", "GIT_PUSH_OPTION_COUNT")


def find_hook(hooks_dir: str, name: str) -> Optional[str]:
    """Path of an executable hook ``name`` in ``hooks_dir``, or None (as git: ignored if not +x)."""
    if os.sep in name or name.startswith("."):
        raise ValueError(f"invalid hook name {name!r}")
    path = os.path.join(hooks_dir, name)
    if os.path.isfile(path) and os.access(path, os.X_OK):
        return path
    return None


def push_option_env(options: Optional[Sequence[bytes]]) -> dict:
    """``GIT_PUSH_OPTION_COUNT`` and ``GIT_PUSH_OPTION_<i>``; empty if none were negotiated."""
    if options is None:
        return {}
    env = {"GIT_PUSH_OPTION_COUNT": str(len(options))}
    for i, opt in enumerate(options):
        env[f"GIT_PUSH_OPTION_{i}"] = os.fsdecode(opt)
    return env


def quarantine_env(quarantine_dir: str, objects_dir: str,
                   inherited_alternates: Optional[str] = None) -> dict:
    """What cgit exports while objects sit in quarantine (``tmp-objdir.c``)."""
    alternates = objects_dir
    if inherited_alternates:
        alternates = objects_dir + os.pathsep + inherited_alternates
    return {
        "GIT_QUARANTINE_PATH": quarantine_dir,
        "GIT_OBJECT_DIRECTORY": quarantine_dir,
        "GIT_ALTERNATE_OBJECT_DIRECTORIES": alternates,
    }


def hook_env(base: Mapping[str, str], extra: Optional[Mapping[str, str]] = None) -> dict:
    """The environment for a push hook: ``base`` minus repository variables, plus ``GIT_DIR=.``."""
    env = {k: v for k, v in base.items()
           if k not in _SCRUB and not k.startswith("GIT_PUSH_OPTION_")}
    env["GIT_DIR"] = "."
    if extra:
        env.update(extra)
    return env


def format_ref_lines(updates: Iterable[tuple[bytes, bytes, bytes]]) -> bytes:
    """pre-receive/post-receive stdin: ``<old> SP <new> SP <ref> LF`` per update."""
    return b"".join(old + b" " + new + b" " + ref + b"\n" for old, new, ref in updates)


def run_hook(path: str, args: Sequence[str | bytes] = (), stdin: bytes = b"",
             env: Optional[Mapping[str, str]] = None, cwd: Optional[str] = None,
             output: Optional[Output] = None, timeout: Optional[float] = None) -> int:
    """Run one hook; return its exit status (negative for a signal, 255 if it could not start).

    Output is passed to ``output`` chunk by chunk while the hook runs.
    """
    try:
        proc = subprocess.Popen([path, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, env=dict(env) if env is not None else None,
                                cwd=cwd, close_fds=True)
    except OSError as exc:
        if output is not None:
            output(f"error: cannot run {os.path.basename(path)}: {exc.strerror}\n".encode())
        return 255

    def feed() -> None:
        try:
            if stdin:
                proc.stdin.write(stdin)
        except (BrokenPipeError, OSError):
            pass
        finally:
            try:
                proc.stdin.close()
            except OSError:
                pass

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    timer = None
    if timeout is not None:
        timer = threading.Timer(timeout, proc.kill)
        timer.daemon = True
        timer.start()
    try:
        while True:
            chunk = proc.stdout.read1(65536) if hasattr(proc.stdout, "read1") else proc.stdout.read(65536)
            if not chunk:
                break
            if output is not None:
                output(chunk)
        proc.stdout.close()
        return proc.wait()
    finally:
        if timer is not None:
            timer.cancel()
        writer.join()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


class HookRunner:
    """Runs a repository's hooks with a fixed base environment and output sink.

    ``git_dir`` is the working directory (cgit runs push hooks in
    ``$GIT_DIR``); ``hooks_dir`` defaults to ``git_dir/hooks``.
    """

    def __init__(self, git_dir: str, hooks_dir: Optional[str] = None,
                 base_env: Optional[Mapping[str, str]] = None,
                 output: Optional[Output] = None, timeout: Optional[float] = None) -> None:
        self.git_dir = git_dir
        self.hooks_dir = hooks_dir or os.path.join(git_dir, "hooks")
        self.base_env = dict(os.environ if base_env is None else base_env)
        self.output = output
        self.timeout = timeout

    def exists(self, name: str) -> bool:
        return find_hook(self.hooks_dir, name) is not None

    def run(self, name: str, args: Sequence[str | bytes] = (), stdin: bytes = b"",
            extra_env: Optional[Mapping[str, str]] = None) -> Optional[int]:
        """Run hook ``name`` if present; its exit status, or None if there is no such hook."""
        path = find_hook(self.hooks_dir, name)
        if path is None:
            return None
        return run_hook(path, args, stdin, hook_env(self.base_env, extra_env), self.git_dir,
                        self.output, self.timeout)
