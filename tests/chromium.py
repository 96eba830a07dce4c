"""Headless Chromium for the tests: Playwright drives Debian's `chromium` package, never a browser of its own.

`playwright install` downloads a browser build, which CI cannot fetch; the `chromium` package comes from the apt
mirror CI reaches, so Playwright is given its path (`executable_path`) and the first run installs the package when
it is missing and the machine can (root with apt-get). Playwright's own launch flags already keep the browser
offline and quiet (no background networking, component updates, sync or first-run UI; --no-sandbox because CI
runs as root).
"""

from __future__ import annotations

import fcntl
import functools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Page, ViewportSize, sync_playwright

CHROMIUM_NAMES = ("chromium", "chromium-browser")
APT_LOCK_WAIT_S = 600
INSTALL_LOCK = Path(tempfile.gettempdir()) / "thera-chromium-install.lock"
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}


class ChromiumUnavailable(RuntimeError):
    """Chromium is missing and this machine cannot install it (not root, or no apt-get): the only case to skip."""


def _find_chromium() -> str | None:
    override = os.environ.get("THERA_CHROMIUM")
    if override:
        return override
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def _apt(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    argv = ["apt-get", "-o", f"DPkg::Lock::Timeout={APT_LOCK_WAIT_S}", *args]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=900, check=False)


def _apt_lists_present() -> bool:
    lists = Path("/var/lib/apt/lists")
    return lists.is_dir() and any(
        p.name.endswith(("_Packages", "_Packages.lz4", "_Packages.gz")) for p in lists.iterdir()
    )


@functools.cache
def ensure_chromium() -> str:
    """Path of a Chromium binary, installing the Debian package first when it is missing.

    Raises ChromiumUnavailable only when installing is impossible here (not root or no apt-get), so a caller may
    skip; a failed install on a machine that could install raises RuntimeError, so CI never skips silently.
    """
    found = _find_chromium()
    if found:
        return found
    if shutil.which("apt-get") is None:
        raise ChromiumUnavailable("chromium is not installed and there is no apt-get to install it")
    if os.geteuid() != 0:
        raise ChromiumUnavailable("chromium is not installed and installing it needs root: apt-get install chromium")
    # pytest-xdist workers may all get here at once; one installs, the others wait and then find it.
    with INSTALL_LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = _find_chromium()
        if found:
            return found
        install = ("install", "-y", "--no-install-recommends", "chromium")
        log: list[str] = []
        if not _apt_lists_present():
            log.append(_apt("update").stderr)
        done = _apt(*install)
        if done.returncode != 0:  # stale package lists give 404s: refresh them once and retry
            log.append(done.stdout[-2000:] + done.stderr[-2000:])
            log.append(_apt("update").stderr)
            done = _apt(*install)
        found = _find_chromium()
        if done.returncode != 0 or not found:
            detail = "\n".join([*log, done.stdout[-4000:], done.stderr[-4000:]])
            raise RuntimeError(f"apt-get install chromium failed (exit {done.returncode}):\n{detail}")
        return found


def chromium_or_skip() -> str:
    """ensure_chromium() for a pytest fixture: skips when the machine cannot install it, fails on anything else."""
    try:
        return ensure_chromium()
    except ChromiumUnavailable as exc:
        pytest.skip(str(exc))


@contextmanager
def chromium_page(executable: str) -> Iterator[Page]:
    """One page in a headless Chromium of its own, closed (browser and driver) on the way out."""
    with sync_playwright() as playwright, playwright.chromium.launch(executable_path=executable) as browser:
        yield browser.new_page(viewport=VIEWPORT)


def page_errors(page: Page) -> list[str]:
    """What a test should see as an error: uncaught exceptions and rejections, console.error and console.assert
    calls, and the console error Chromium logs for a failed request (with the request's URL)."""
    uncaught = [f"uncaught: {e.name}: {e.message}" for e in page.page_errors(filter="all")]
    console = [
        f"console.{m.type}: {m.text} {m.location.get('url', '')}".strip()
        for m in page.console_messages(filter="all")
        if m.type in ("error", "assert")
    ]
    return uncaught + console
