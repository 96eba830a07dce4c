"""The dependency rule (README, "Adding a stage"): the core reaches neither boto3, botocore nor aiohttp, directly or
through anything it imports. Each core module is imported in a fresh interpreter where those packages
cannot be imported. Not core: the adapters and the composition modules that build the SDK clients
(runtime, the stages package) or the handlers' Powertools logger, metrics and tracer (observability)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT

COMPOSITION = {"runtime", "stages", "observability"}
PACKAGE = ROOT / "layers" / "thera" / "thera"
CORE = sorted(
    ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    for parts in (p.relative_to(PACKAGE).with_suffix("").parts for p in PACKAGE.rglob("*.py"))
    if parts[0] not in COMPOSITION | {"adapters", "__init__"}
)
BLOCKER = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"boto3", "botocore", "aiohttp"}:
            raise ImportError(f"blocked: {name}")
sys.meta_path.insert(0, Block())
import importlib
importlib.import_module(sys.argv[1])
"""


def test_the_core_is_found() -> None:
    assert {"enrichment.crawl", "lake.ingest", "lake.replay", "matching", "matching.rank", "kernel.ports"} <= set(CORE)


@pytest.mark.parametrize("module", CORE)
def test_core_module_imports_without_any_sdk(module: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", BLOCKER, f"thera.{module}"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr.strip().splitlines()[-1:]
