"""``puregit clone|fetch|push|ls-remote|add|commit``: git's flags where they apply."""

from __future__ import annotations

import argparse
import os
import sys

from .cli import _open_repo, _out, command

__all__ = []


def _progress_stream(args) -> object:
    """Where progress goes: stderr if it is a terminal or --progress was given, unless -q."""
    if getattr(args, "quiet", False):
        return None
    if getattr(args, "progress", False) or sys.stderr.isatty():
        return sys.stderr.buffer
    return None


def _add_transfer_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--progress", action="store_true")
    p.add_argument("-v", "--verbose", action="store_true")


def _setup_clone(p: argparse.ArgumentParser) -> None:
    p.add_argument("repository")
    p.add_argument("directory", nargs="?")
    p.add_argument("--depth", type=int)
    p.add_argument("--bare", action="store_true")
    p.add_argument("--mirror", action="store_true")
    p.add_argument("--filter", dest="filter_spec")
    p.add_argument("-b", "--branch")
    p.add_argument("-o", "--origin", default="origin")
    p.add_argument("-n", "--no-checkout", action="store_true")
    p.add_argument("--protocol-version", type=int, choices=[0, 1, 2])
    _add_transfer_flags(p)


@command("clone", _setup_clone)
def cmd_clone(args: argparse.Namespace) -> int:
    from . import porcelain
    stream = _progress_stream(args)
    if not args.quiet:
        target = args.directory or os.path.basename(args.repository.rstrip("/"))
        if stream is None:
            sys.stderr.write(f"Cloning into {'bare repository ' if args.bare or args.mirror else ''}"
                             f"'{target}'...\n")
    r = porcelain.clone(args.repository, args.directory, bare=args.bare or args.mirror,
                        mirror=args.mirror, checkout=False if args.no_checkout else None,
                        depth=args.depth, branch=args.branch, origin=args.origin,
                        filter_spec=args.filter_spec, errstream=stream, quiet=stream is None,
                        protocol_version=args.protocol_version)
    r.close()
    return 0


def _setup_fetch(p: argparse.ArgumentParser) -> None:
    p.add_argument("remote", nargs="?", default="origin")
    p.add_argument("--depth", type=int)
    p.add_argument("--filter", dest="filter_spec")
    p.add_argument("--protocol-version", type=int, choices=[0, 1, 2])
    _add_transfer_flags(p)


@command("fetch", _setup_fetch)
def cmd_fetch(args: argparse.Namespace) -> int:
    from . import porcelain
    stream = _progress_stream(args)
    repo = _open_repo()
    try:
        porcelain.fetch(repo, args.remote, errstream=stream, quiet=stream is None,
                        depth=args.depth, filter_spec=args.filter_spec,
                        protocol_version=args.protocol_version)
    finally:
        repo.close()
    return 0


def _setup_push(p: argparse.ArgumentParser) -> None:
    p.add_argument("remote", nargs="?", default="origin")
    p.add_argument("refspec", nargs="*")
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("--atomic", action="store_true")
    p.add_argument("-d", "--delete", action="store_true")
    p.add_argument("--mirror", action="store_true", help="push every ref under refs/")
    p.add_argument("-o", "--push-option", action="append", default=[])
    _add_transfer_flags(p)


@command("push", _setup_push)
def cmd_push(args: argparse.Namespace) -> int:
    from . import porcelain
    stream = _progress_stream(args)
    specs = list(args.refspec) or None
    if args.delete:
        specs = [":" + s for s in args.refspec]
    repo = _open_repo()
    if args.mirror:
        specs = [b"+" + name + b":" + name for name in sorted(repo.refs.as_dict())
                 if name.startswith(b"refs/")]
    try:
        _, url = porcelain.get_remote_repo(repo, args.remote)
        result = porcelain.push(repo, args.remote, specs, errstream=None, force=args.force,
                                atomic=args.atomic, push_options=args.push_option or None,
                                quiet=stream is None)
    finally:
        repo.close()
    lines = []
    failed = False
    for ref, status in sorted(result.ref_status.items()):
        short = ref.decode("utf-8", "replace")
        if status is None:
            lines.append(f" * {short} -> {short}")
        else:
            failed = True
            lines.append(f" ! [rejected]        {short} -> {short} ({status})")
    if lines and (not args.quiet or failed):
        sys.stderr.write(f"To {url}\n" + "\n".join(lines) + "\n")
    if failed:
        sys.stderr.write(f"error: failed to push some refs to '{url}'\n")
        return 1
    return 0


def _setup_ls_remote(p: argparse.ArgumentParser) -> None:
    p.add_argument("repository", nargs="?", default="origin")
    p.add_argument("--heads", action="store_true")
    p.add_argument("--tags", "-t", action="store_true")
    p.add_argument("--symref", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--protocol-version", type=int, choices=[0, 1, 2])


@command("ls-remote", _setup_ls_remote)
def cmd_ls_remote(args: argparse.Namespace) -> int:
    from . import porcelain
    location = args.repository
    if not os.path.exists(location) and "://" not in location and ":" not in location:
        repo = _open_repo()
        try:
            _, location = porcelain.get_remote_repo(repo, location)
        finally:
            repo.close()
    result = porcelain.ls_remote(location, protocol_version=args.protocol_version)
    if args.quiet:
        return 0
    for name in ([b"HEAD"] if b"HEAD" in result.refs else []) + sorted(
            n for n in result.refs if n != b"HEAD"):
        if args.heads or args.tags:
            if not ((args.heads and name.startswith(b"refs/heads/"))
                    or (args.tags and name.startswith(b"refs/tags/"))):
                continue
        if args.symref and name in result.symrefs:
            _out(b"ref: " + result.symrefs[name] + b"\t" + name + b"\n")
        _out(result.refs[name] + b"\t" + name + b"\n")
    return 0


def _setup_add(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="*")
    p.add_argument("-A", "--all", action="store_true")


@command("add", _setup_add)
def cmd_add(args: argparse.Namespace) -> int:
    from . import porcelain
    repo = _open_repo()
    try:
        paths = args.paths
        if args.paths == ["."] or (args.all and not args.paths):
            paths = None
        porcelain.add(repo, paths)
    finally:
        repo.close()
    return 0


def _setup_commit(p: argparse.ArgumentParser) -> None:
    p.add_argument("-m", "--message", required=True)
    p.add_argument("--author")
    p.add_argument("-q", "--quiet", action="store_true")


@command("commit", _setup_commit)
def cmd_commit(args: argparse.Namespace) -> int:
    from . import porcelain
    repo = _open_repo()
    try:
        sha = porcelain.commit(repo, args.message, author=args.author)
        if not args.quiet:
            head = repo.refs.follow(b"HEAD")[0][-1].decode()
            branch = head[len("refs/heads/"):] if head.startswith("refs/heads/") else head
            first = args.message.splitlines()[0] if args.message else ""
            print(f"[{branch} {sha.decode()[:7]}] {first}")
    finally:
        repo.close()
    return 0
