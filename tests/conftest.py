"""Shared fixtures. Every test runs with the network closed except loopback.

Each test gets its tier's marker from its folder (``-m unit``, ``-m "not e2e"``). Randomised tests
take their seed from the ``seed`` fixture: THERA_TEST_SEED when set, else drawn once per run; the
header shows it and a failing test that used it says how to replay it.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import json
import os
import random
import socket
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Page

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"
SAMPLE = ROOT / "local" / "data" / "companies_sample.jsonl"

# Powertools reads these when the handler modules are imported (as the template's Globals set them).
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "thera")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Thera")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

TIERS = ("unit", "integration", "e2e")
SEED_VARIABLE = "THERA_TEST_SEED"
_SEED = pytest.StashKey[int]()


def pytest_configure(config: pytest.Config) -> None:
    given = os.environ.get(SEED_VARIABLE)
    if given is not None and not given.isdigit():
        raise pytest.UsageError(f"{SEED_VARIABLE} takes a whole number, got {given!r}")
    seed = int(given) if given is not None else random.randrange(1 << 30)
    os.environ[SEED_VARIABLE] = str(seed)  # pytest-xdist's workers start later and inherit it: one seed per run
    config.stash[_SEED] = seed


def pytest_report_header(config: pytest.Config) -> str:
    return f"{SEED_VARIABLE}={config.stash[_SEED]}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The tier is the folder: tests/unit, tests/integration, tests/e2e."""
    tests = Path(__file__).parent
    for item in items:
        parts = item.path.relative_to(tests).parts if item.path.is_relative_to(tests) else ()
        if parts and parts[0] in TIERS:
            item.add_marker(parts[0])


@pytest.fixture
def seed(request: pytest.FixtureRequest) -> int:
    """This run's seed for a randomised test (THERA_TEST_SEED, else a fresh one per run)."""
    return request.config.stash[_SEED]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report: pytest.TestReport = yield
    if report.failed and "seed" in getattr(item, "fixturenames", ()):
        replay = f"{SEED_VARIABLE}={item.config.stash[_SEED]} .venv/bin/pytest '{item.nodeid}'"
        report.sections.append(("random seed", f"replay: {replay}"))
    return report


_real_connect = socket.socket.connect


def _loopback_only(self: socket.socket, address: Any) -> Any:
    host = address[0] if isinstance(address, tuple) else None
    if host is not None:
        try:
            ip = ipaddress.ip_address(socket.gethostbyname(host) if host != "localhost" else "127.0.0.1")
        except (OSError, ValueError):
            raise OSError(f"test tried to reach {host!r}: only loopback is allowed") from None
        if not ip.is_loopback:
            raise OSError(f"test tried to reach {host}: only loopback is allowed")
    return _real_connect(self, address)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _loopback_only)


def load_event(name: str) -> Any:
    return json.loads((EVENTS / name).read_text())


class FakeContext:
    """A Lambda context for handlers called in-process."""

    def __init__(self, function_name: str = "test-function", timeout_ms: int = 900_000) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.memory_limit_in_mb = 512
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "test"
        self._timeout_ms = timeout_ms

    def get_remaining_time_in_millis(self) -> int:
        return self._timeout_ms


@pytest.fixture
def lambda_context() -> FakeContext:
    return FakeContext()


@pytest.fixture
def page() -> Iterator[Page]:
    """A page in headless Chromium (tests/chromium.py); skipped, with the reason, only where chromium cannot be had."""
    from tests.chromium import chromium_or_skip, chromium_page  # Playwright loads only for the browser tests

    with chromium_page(chromium_or_skip()) as page:
        yield page


def load_handler_module(function_dir: str) -> ModuleType:
    """Import functions/<dir>/app.py under a unique name (every handler file is called app.py)."""
    path = ROOT / "functions" / function_dir / "app.py"
    spec = importlib.util.spec_from_file_location(f"handler_{function_dir}_{uuid.uuid4().hex[:6]}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from thera.runtime import reset_settings

    reset_settings()  # a fresh handler reads its environment again, as a new execution environment does
    return module


def emitted_metrics(out: str) -> dict[str, list[float]]:
    """The metrics a handler flushed to stdout (Embedded Metric Format), each with its values."""
    values: dict[str, list[float]] = {}
    for line in out.splitlines():
        if line.startswith("{") and "_aws" in line:
            doc = json.loads(line)
            for directive in doc["_aws"]["CloudWatchMetrics"]:
                for metric in directive["Metrics"]:
                    value = doc[metric["Name"]]
                    values.setdefault(metric["Name"], []).extend(value if isinstance(value, list) else [value])
    return values


@pytest.fixture(autouse=True)
def _reset_metrics() -> Iterator[None]:
    yield
    from thera.observability import metrics
    from thera.runtime import reset_settings

    metrics.clear_metrics()
    reset_settings()
