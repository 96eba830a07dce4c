"""The embedded emulator, provisioned from template.yaml, and handlers wired to it."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import ROOT
from thera_local.emulator import Emulator, aws_client, provision
from thera_local.lambda_env import function_environment
from thera_local.template import Template

API_KEY = "local-test-key"
FIRECRAWL_KEY = "fc-local-test-key"


@dataclass
class Aws:
    endpoint: str
    template: Template

    def client(self, service: str) -> Any:
        return aws_client(service, self.endpoint)

    @property
    def bucket(self) -> str:
        return self.template.physical("DataLakeBucket")

    def queue_url(self, logical: str) -> str:
        return self.template.queue_url(logical, self.endpoint)

    def function_env(self, logical: str) -> dict[str, str]:
        return function_environment(self.template.functions()[logical], self.endpoint)


@pytest.fixture(scope="session")
def emulator() -> Iterator[Emulator]:
    emu = Emulator()
    emu.start()
    yield emu
    emu.stop()


def fresh_account(emulator: Emulator) -> Aws:
    """Everything the template declares, nothing else (what was there before is reset away)."""
    req = urllib.request.Request(emulator.endpoint + "/moto-api/reset", method="POST")  # noqa: S310
    urllib.request.urlopen(req, timeout=10).close()  # noqa: S310 - loopback emulator
    template = Template(ROOT / "template.yaml", {"ApolloBaseUrl": "http://127.0.0.1:9/api/v1"})
    provision(template, emulator.endpoint, {"ApolloApiKeySecret": API_KEY, "FirecrawlApiKeySecret": FIRECRAWL_KEY})
    return Aws(emulator.endpoint, template)


@pytest.fixture
def aws(emulator: Emulator) -> Aws:
    """A fresh account per test."""
    return fresh_account(emulator)


HandlerEnv = Callable[..., dict[str, str]]


@pytest.fixture
def handler_env(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> HandlerEnv:
    """Set a function's environment (from the template) for an in-process handler call."""

    def apply(logical: str, **extra: str) -> dict[str, str]:
        env = {**aws.function_env(logical), **extra}
        for k, v in env.items():
            if k not in ("PATH", "HOME"):
                monkeypatch.setenv(k, v)
        from aws_lambda_powertools.utilities import parameters

        from thera import runtime

        runtime.reset_settings()
        runtime.client.cache_clear()
        runtime.secrets.cache_clear()
        runtime.source_queue.cache_clear()
        parameters.clear_caches()  # type: ignore[no-untyped-call]  # Powertools leaves it unannotated
        return env

    return apply
