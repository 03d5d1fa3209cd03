"""Benchmark: write a pack of every object of a repository, puregit vs git.

Restores /work/shared/benchdata/*.bundle (or the bundles given) as mirrors in
bench/work/, then times, in the same run:

* ``git pack-objects --all --stdout`` (default threads, and ``--threads=1``),
* puregit: walk every ref (``iter_reachable``) and stream a pack with
  ``generate_pack_chunks`` (deltify + reuse from the existing pack), and
  optionally with ``reuse=False`` (recompute every delta; slow in Python).
* with ``--subset``: generation only, for the objects reachable from HEAD
  (a pack with gaps: slices with re-encoded deltas), with and without slices.

Each timing is the best of ``--repeat`` runs; ratios are puregit / git.
Usage: python bench/bench_pack_write.py [--repeat N] [--no-reuse] [--subset] [--profile] [BUNDLE...]
"""

from __future__ import annotations

import argparse
import cProfile
import glob
import hashlib
import os
import pstats
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from puregit.object_store import DiskObjectStore  # noqa: E402
from puregit.pack_writer import PackGenerator  # noqa: E402

WORK = os.path.join(HERE, "work")
ENV = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", LC_ALL="C")


def restore(bundle: str) -> str:
    name = os.path.basename(bundle).rsplit(".bundle", 1)[0]
    path = os.path.join(WORK, name + ".git")
    if not os.path.isdir(path):
        os.makedirs(WORK, exist_ok=True)
        subprocess.run(["git", "clone", "--mirror", "-q", bundle, path], check=True, env=ENV)
    return path


def ref_ids(repo: str) -> list[bytes]:
    out = subprocess.run(["git", "for-each-ref", "--format=%(objectname)"], cwd=repo,
                         env=ENV, check=True, stdout=subprocess.PIPE).stdout
    head = subprocess.run(["git", "rev-parse", "--verify", "-q", "HEAD"], cwd=repo, env=ENV,
                          stdout=subprocess.PIPE).stdout.split()
    return sorted(set(out.split() + head))


def ref_ids_head(repo: str) -> list[bytes]:
    return subprocess.run(["git", "rev-parse", "--verify", "-q", "HEAD"], cwd=repo, env=ENV,
                          stdout=subprocess.PIPE).stdout.split()


def time_git(repo: str, *extra: str) -> tuple[float, int]:
    t = time.perf_counter()
    p = subprocess.run(["git", "pack-objects", "--all", "--stdout", "-q", *extra], cwd=repo,
                       env=ENV, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, check=True)
    return time.perf_counter() - t, len(p.stdout)


def time_puregit(repo: str, refs: list[bytes], **options) -> tuple[float, int, float, dict]:
    """(total seconds, pack size, seconds spent walking, stats)."""
    t = time.perf_counter()
    store = DiskObjectStore(os.path.join(repo, "objects"))
    entries = list(store.iter_reachable(refs))
    walked = time.perf_counter() - t
    gen = PackGenerator(store, entries, **options)
    size = 0
    h = hashlib.sha1()
    for chunk in gen:
        size += len(chunk)
        h.update(chunk)  # stand-in for writing to a socket
    total = time.perf_counter() - t
    store.close()
    return total, size, walked, dict(gen.stats)


def time_generation(repo: str, entries: list, **options) -> tuple[float, int]:
    """(seconds, pack size) to stream a pack of ``entries`` from a fresh store."""
    store = DiskObjectStore(os.path.join(repo, "objects"))
    t = time.perf_counter()
    size = sum(len(chunk) for chunk in PackGenerator(store, entries, **options))
    elapsed = time.perf_counter() - t
    store.close()
    return elapsed, size


def best(fn, repeat: int):
    runs = [fn() for _ in range(repeat)]
    return min(runs, key=lambda r: r[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundles", nargs="*")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-reuse", action="store_true", help="also time reuse=False")
    ap.add_argument("--subset", action="store_true",
                    help="also time generation for the objects reachable from HEAD")
    ap.add_argument("--profile", action="store_true", help="cProfile one puregit run")
    args = ap.parse_args()
    bundles = args.bundles or sorted(glob.glob("/work/shared/benchdata/*.bundle"))
    if not bundles:
        sys.exit("no bundles found")
    for bundle in bundles:
        repo = restore(bundle)
        refs = ref_ids(repo)
        name = os.path.basename(repo)
        g_t, g_size = best(lambda: time_git(repo), args.repeat)
        g1_t, _ = best(lambda: time_git(repo, "--threads=1"), args.repeat)
        p_t, p_size, p_walk, stats = best(lambda: time_puregit(repo, refs), args.repeat)
        print(f"{name}: {stats['total']} objects, {len(refs)} refs")
        print(f"  git pack-objects --all      {g_t:7.2f} s  {g_size / 1e6:7.2f} MB")
        print(f"  git ... --threads=1         {g1_t:7.2f} s")
        print(f"  puregit (deltify, reuse)    {p_t:7.2f} s  {p_size / 1e6:7.2f} MB"
              f"  (walk {p_walk:.2f} s; reused {stats['reused']}, deltas {stats['deltas']})")
        print(f"  ratio time: {p_t / g_t:.2f}x git, {p_t / g1_t:.2f}x git --threads=1; "
              f"size {p_size / g_size:.3f}x")
        print(f"  without the walk (pack generation only): {p_t - p_walk:.2f} s, "
              f"{(p_t - p_walk) / g_t:.2f}x git")
        if args.no_reuse:
            n_t, n_size, _, n_stats = time_puregit(repo, refs, reuse=False)
            gn_t, gn_size = time_git(repo, "--no-reuse-delta", "--no-reuse-object")
            print(f"  git --no-reuse-delta/object {gn_t:7.2f} s  {gn_size / 1e6:7.2f} MB")
            print(f"  puregit reuse=False         {n_t:7.2f} s  {n_size / 1e6:7.2f} MB"
                  f"  ({n_stats['deltas']} deltas) ratio time {n_t / gn_t:.2f}x,"
                  f" size {n_size / gn_size:.3f}x")
        if args.subset:
            store = DiskObjectStore(os.path.join(repo, "objects"))
            head = ref_ids_head(repo)
            entries = list(store.iter_reachable(head))
            store.close()
            s_t, s_size = best(lambda: time_generation(repo, entries), args.repeat)
            n_t, n_size = best(lambda: time_generation(repo, entries, slice_min_objects=1 << 62),
                               args.repeat)
            print(f"  HEAD only ({len(entries)} objects), generation: slices {s_t:.2f} s "
                  f"{s_size / 1e6:.2f} MB; entry by entry {n_t:.2f} s {n_size / 1e6:.2f} MB")
        if args.profile:
            prof = cProfile.Profile()
            prof.enable()
            time_puregit(repo, refs)
            prof.disable()
            pstats.Stats(prof).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    main()
