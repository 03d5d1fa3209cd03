"""``puregit gc`` and ``puregit repack -a -d [-b]``: see :mod:`puregit.repack`."""

from __future__ import annotations

import argparse
import sys

from .cli import _open_repo, command

__all__ = []


def _progress(args):
    if getattr(args, "quiet", False) or not sys.stderr.isatty():
        return None
    stream = sys.stderr.buffer

    def progress(msg: bytes) -> None:
        stream.write(msg)
        stream.flush()
    return progress


def _setup_gc(p: argparse.ArgumentParser) -> None:
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--no-write-bitmap-index", dest="bitmap", action="store_false",
                   help="do not write a reachability bitmap")
    p.add_argument("--auto", action="store_true",
                   help="only if the repository has collected enough packs or loose objects "
                        "(gc.auto, gc.autoPackLimit), in the background unless gc.autoDetach "
                        "is false")


@command("gc", _setup_gc)
def cmd_gc(args: argparse.Namespace) -> int:
    from .repack import repack
    repo = _open_repo()
    try:
        if args.auto:
            from .auto_gc import run_auto
            return run_auto(repo, quiet=args.quiet, progress=_progress(args))
        repack(repo, write_bitmap=args.bitmap, progress=_progress(args), pack_refs=True)
    finally:
        repo.close()
    return 0


def _setup_repack(p: argparse.ArgumentParser) -> None:
    p.add_argument("-a", dest="all", action="store_true",
                   help="pack everything reachable into a single pack")
    p.add_argument("-d", dest="delete", action="store_true",
                   help="then remove redundant packs and loose objects")
    p.add_argument("-b", "--write-bitmap-index", dest="bitmap", action="store_true",
                   help="write a reachability bitmap for the new pack")
    p.add_argument("-q", "--quiet", action="store_true")


@command("repack", _setup_repack)
def cmd_repack(args: argparse.Namespace) -> int:
    from .repack import repack
    if not args.all:
        print("fatal: only full repacks are supported: use 'puregit repack -a [-d] [-b]'",
              file=sys.stderr)
        return 129
    repo = _open_repo()
    try:
        repack(repo, write_bitmap=args.bitmap, progress=_progress(args), pack_refs=False,
               delete=args.delete)
    finally:
        repo.close()
    return 0
