"""The ``puregit`` command: git-like subcommands over the library.

Each subcommand is a function taking parsed arguments and returning an exit
status; ``COMMANDS`` maps names to (setup, run) pairs so that other modules can
add their commands without growing this file.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Callable, Optional

from . import __version__
from .errors import PuregitError

COMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {}


def command(name: str, setup: Callable[[argparse.ArgumentParser], None]):
    """Register ``run`` as subcommand ``name``; ``setup`` adds its arguments."""

    def register(run: Callable[[argparse.Namespace], int]):
        COMMANDS[name] = (setup, run)
        return run

    return register


def _out(data: bytes) -> None:
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def _open_repo(path: Optional[str] = None):
    from .repo import Repo
    from .errors import NotGitRepository
    path = os.path.abspath(path or os.getcwd())
    while True:
        try:
            return Repo(path)
        except NotGitRepository:
            parent = os.path.dirname(path)
            if parent == path:
                raise
            path = parent


def _setup_init(p: argparse.ArgumentParser) -> None:
    p.add_argument("directory", nargs="?", default=".")
    p.add_argument("--bare", action="store_true")
    p.add_argument("--object-format", default="sha1", choices=["sha1", "sha256"])
    p.add_argument("-b", "--initial-branch", default="master")
    p.add_argument("-q", "--quiet", action="store_true")


@command("init", _setup_init)
def cmd_init(args: argparse.Namespace) -> int:
    from .repo import Repo
    path = os.path.abspath(args.directory)
    os.makedirs(path, exist_ok=True)
    if args.bare:
        Repo.init_bare(path, object_format=args.object_format, default_branch=args.initial_branch)
        where = path
    else:
        Repo.init(path, object_format=args.object_format, default_branch=args.initial_branch)
        where = os.path.join(path, ".git")
    if not args.quiet:
        print(f"Initialized empty Git repository in {where}/")
    return 0


def _setup_cat_file(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("-t", dest="mode", action="store_const", const="type")
    g.add_argument("-s", dest="mode", action="store_const", const="size")
    g.add_argument("-p", dest="mode", action="store_const", const="pretty")
    g.add_argument("-e", dest="mode", action="store_const", const="exists")
    p.add_argument("args", nargs="+", help="[<type>] <object>")


@command("cat-file", _setup_cat_file)
def cmd_cat_file(args: argparse.Namespace) -> int:
    repo = _open_repo()
    name = args.args[-1].encode()
    try:
        obj = repo[name]
    except KeyError:
        if args.mode == "exists":
            return 1
        print(f"fatal: Not a valid object name {name.decode()}", file=sys.stderr)
        return 128
    if args.mode == "exists":
        return 0
    if args.mode == "type":
        _out(obj.type_name + b"\n")
    elif args.mode == "size":
        _out(b"%d\n" % obj.raw_length())
    elif args.mode == "pretty" and obj.type_name == b"tree":
        for entry in obj.items():
            kind = {0o40000: b"tree", 0o160000: b"commit"}.get(entry.mode, b"blob")
            _out(b"%06o %s %s\t%s\n" % (entry.mode, kind, entry.sha, entry.path))
    else:
        _out(obj.as_raw_string())
    return 0


def _setup_show_ref(p: argparse.ArgumentParser) -> None:
    p.add_argument("--head", action="store_true")


@command("show-ref", _setup_show_ref)
def cmd_show_ref(args: argparse.Namespace) -> int:
    repo = _open_repo()
    refs = repo.get_refs()
    names = sorted(n for n in refs if n.startswith(b"refs/") or (args.head and n == b"HEAD"))
    for name in names:
        _out(refs[name] + b" " + name + b"\n")
    return 0 if names else 1


def build_parser(only: Optional[str] = None) -> argparse.ArgumentParser:
    """The command-line parser; with ``only``, just that subcommand's (cheaper to build)."""
    parser = argparse.ArgumentParser(prog="puregit", description="Git, in pure Python.")
    parser.add_argument("--version", action="version", version=f"puregit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    for name, (setup, run) in sorted(COMMANDS.items()):
        if only is not None and name != only:
            continue
        p = sub.add_parser(name)
        setup(p)
        p.set_defaults(run=run)
    return parser


def _load_plugins() -> None:
    """Import modules that register further subcommands (servers, porcelain)."""
    import importlib
    for module in ("puregit.cli_server", "puregit.cli_porcelain", "puregit.cli_maintenance"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name != module:
                raise


def main(argv: Optional[list[str]] = None) -> int:
    _load_plugins()
    if argv is None:
        argv = sys.argv[1:]
    # A known subcommand first: build only its parser (its help and errors are
    # the same; anything else gets the full parser and its command list).
    parser = build_parser(argv[0] if argv and argv[0] in COMMANDS else None)
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 1
    try:
        return args.run(args)
    except PuregitError as e:
        print(f"fatal: {e}", file=sys.stderr)
        return 128
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
