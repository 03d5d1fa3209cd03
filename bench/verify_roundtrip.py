"""Check that every object of a repository re-serializes byte-exactly.

Reads each object through puregit's own pack reader, parses it, drops the
cached body so it is rebuilt from its fields, and compares bytes and id.
Run on the restored benchdata repositories (bench/work/*.git, see the other
benchmarks):  python bench/verify_roundtrip.py bench/work/dulwich.git
"""

import sys
import time

from puregit.objects import object_class
from puregit.repo import Repo


def verify(path: str) -> int:
    repo = Repo(path)
    start = time.time()
    count = mismatches = 0
    for sha in repo.object_store:
        type_num, body = repo.object_store.get_raw(sha)
        obj = object_class(type_num).from_string(body, repo.hash_algo)
        obj._changed()
        if obj.as_raw_string() != body or obj.id != sha:
            mismatches += 1
            print(f"mismatch: {sha.decode()}")
        count += 1
    print(f"{path}: {count} objects, {mismatches} mismatches, {time.time() - start:.1f} s")
    return mismatches


if __name__ == "__main__":
    sys.exit(1 if sum(verify(p) for p in sys.argv[1:]) else 0)
