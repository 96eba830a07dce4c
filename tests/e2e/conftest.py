"""Run the real `thera` command against a local stack in a temporary home."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, SAMPLE


class TheraCli:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.env = {**os.environ, "THERA_HOME": str(home), "THERA_PROJECT": str(ROOT)}

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "thera_local.cli", *args]

    def run(self, *args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(self.argv(*args), env=self.env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
        if check and done.returncode != 0:
            raise AssertionError(f"thera {' '.join(args)} exited {done.returncode}\n{done.stdout}\n{done.stderr}")
        return done

    def popen(self, *args: str, **kw: Any) -> subprocess.Popen[str]:
        return subprocess.Popen(self.argv(*args), env=self.env, text=True, cwd=ROOT, **kw)


@pytest.fixture
def make_cli(tmp_path: Path) -> Iterator[Any]:
    made: list[TheraCli] = []

    def make(name: str = "home") -> TheraCli:
        cli = TheraCli(tmp_path / name)
        made.append(cli)
        return cli

    yield make
    for cli in made:
        cli.run("down", check=False, timeout=180)


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TheraCli, str]]:
    """One daily run on the first 150 companies of the sample, shared by the tests that read or drill it."""
    home = tmp_path_factory.mktemp("demo")
    data = home / "companies.jsonl"
    data.write_text("\n".join(SAMPLE.read_text().splitlines()[:150]) + "\n")
    cli = TheraCli(home / "home")
    cli.run("run", "daily", "--data", str(data), timeout=900)
    yield cli, str(data)
    cli.run("down", check=False, timeout=180)
