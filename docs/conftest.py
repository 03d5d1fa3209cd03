"""Doctests under docs/ run in a fresh temporary directory (they create repositories)."""

import pytest


@pytest.fixture(autouse=True)
def _doctest_in_tmp_path(request, tmp_path, monkeypatch):
    if isinstance(request.node, pytest.DoctestItem):
        monkeypatch.chdir(tmp_path)
    yield
