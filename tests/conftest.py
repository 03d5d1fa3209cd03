"""Test-wide environment: an isolated HOME and git identity for every test."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from helpers import GIT_ENV  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_git_env(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    for key, value in GIT_ENV.items():
        if not key.endswith("_DATE"):
            monkeypatch.setenv(key, value)
