"""Benchmark: count every reachable object (the walk behind pack writing).

Times ``DiskObjectStore.iter_reachable(all refs)`` against
``git rev-list --objects --all`` on the mirrors restored by
bench_pack_write.py (bench/work/*.git), in the same run; best of ``--repeat``.
Usage: python bench/bench_walk.py [--repeat N] [--profile] [REPO.git ...]
"""

from __future__ import annotations

import argparse
import cProfile
import glob
import os
import pstats
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from puregit.object_store import DiskObjectStore  # noqa: E402

ENV = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", LC_ALL="C")


def ref_ids(repo: str) -> list[bytes]:
    out = subprocess.run(["git", "for-each-ref", "--format=%(objectname)"], cwd=repo,
                         env=ENV, check=True, stdout=subprocess.PIPE).stdout
    head = subprocess.run(["git", "rev-parse", "--verify", "-q", "HEAD"], cwd=repo, env=ENV,
                          stdout=subprocess.PIPE).stdout.split()
    return sorted(set(out.split() + head))


def time_git(repo: str) -> tuple[float, int]:
    t = time.perf_counter()
    out = subprocess.run(["git", "rev-list", "--objects", "--all"], cwd=repo, env=ENV,
                         check=True, stdout=subprocess.PIPE).stdout
    return time.perf_counter() - t, out.count(b"\n")


def time_puregit(repo: str, refs: list[bytes]) -> tuple[float, int]:
    t = time.perf_counter()
    store = DiskObjectStore(os.path.join(repo, "objects"))
    n = sum(1 for _ in store.iter_reachable(refs))
    store.close()
    return time.perf_counter() - t, n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("repos", nargs="*")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    repos = args.repos or sorted(glob.glob(os.path.join(HERE, "work", "*.git")))
    for repo in repos:
        refs = ref_ids(repo)
        g = min(time_git(repo) for _ in range(args.repeat))
        p = min(time_puregit(repo, refs) for _ in range(args.repeat))
        print(f"{os.path.basename(repo)}: git rev-list {g[0]:6.2f} s ({g[1]} objects); "
              f"puregit {p[0]:6.2f} s ({p[1]} objects); ratio {p[0] / g[0]:.2f}x")
        if args.profile:
            prof = cProfile.Profile()
            prof.enable()
            time_puregit(repo, refs)
            prof.disable()
            pstats.Stats(prof).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
