"""The emulator's moto patches name the moto they were written against; a different moto is said in
one line when an emulator starts, and the pin the venv installs is that same version."""

from __future__ import annotations

import re
import subprocess
import sys
import warnings

import moto
import pytest

from tests.conftest import ROOT
from thera_local.emulator import moto_patches
from thera_local.emulator.moto_patches import MOTO_VERSION, MotoVersionWarning, check_moto_version, moto_version_note


def test_the_pinned_moto_is_the_one_the_patches_were_written_against() -> None:
    pins = re.findall(r"^moto\[server\]==(\S+)$", (ROOT / "requirements" / "dev.txt").read_text(), re.M)
    assert pins == [MOTO_VERSION]
    assert moto.__version__ == MOTO_VERSION  # this venv: no warning at the emulator's start


def test_the_same_version_says_nothing_and_another_says_one_line() -> None:
    assert moto_version_note(MOTO_VERSION) is None
    note = moto_version_note("5.3.0")
    assert note is not None and "\n" not in note
    assert "moto 5.3.0 is installed" in note and f"moto[server]=={MOTO_VERSION}" in note


def test_a_different_moto_warns_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(moto, "__version__", "5.3.0")
    monkeypatch.setattr(moto_patches, "_WARNED", {})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        check_moto_version()
        check_moto_version()
    assert [(w.category, str(w.message)) for w in caught] == [(MotoVersionWarning, moto_version_note("5.3.0"))]


def test_the_installed_moto_does_not_warn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(moto_patches, "_WARNED", {})
    with warnings.catch_warnings():
        warnings.simplefilter("error", MotoVersionWarning)
        check_moto_version()


def test_the_warning_prints_as_one_line_on_stderr() -> None:
    script = (
        "import moto; moto.__version__ = '5.3.0'\n"
        "from thera_local.emulator.moto_patches import check_moto_version\n"
        "check_moto_version()\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "MotoVersionWarning: moto 5.3.0 is installed" in lines[0], lines
