"""`sam local invoke --env-vars <thera env-vars file>` up to the container: a handler run with exactly the
environment SAM CLI's own code builds from the file reaches the local stack, with no AWS_ENDPOINT_URL anywhere.

The file names the stack by 127.0.0.1, as for ``--docker-network host`` (Linux); Docker itself is not needed
to check what the function does with that environment.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conftest import load_event, load_handler_module
from tests.integration.conftest import API_KEY, Aws
from tests.unit.test_sam_env import sam_environments
from thera import runtime
from thera.kernel import keys
from thera_local.sam_env import env_vars_file


@pytest.fixture
def as_sam_passes_it(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], dict[str, str]]]:
    """Make this process's environment the one SAM CLI gives a function's container, and nothing else of AWS."""
    environments = sam_environments(env_vars_file(aws.template, aws.endpoint, "127.0.0.1").doc, monkeypatch)

    def apply(logical: str) -> dict[str, str]:
        for name in [n for n in os.environ if n.startswith(("AWS_", "POWERTOOLS_"))]:
            monkeypatch.delenv(name)
        for name, value in environments[logical].items():
            monkeypatch.setenv(name, value)
        runtime.client.cache_clear()
        runtime.secrets.cache_clear()
        return environments[logical]

    yield apply
    runtime.client.cache_clear()
    runtime.secrets.cache_clear()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # samtranslator's validator, not ours
def test_a_function_given_sams_environment_writes_to_the_local_stack(
    aws: Aws, as_sam_passes_it: Any, lambda_context: Any
) -> None:
    env = as_sam_passes_it("AmsFunction")
    assert "AWS_ENDPOINT_URL" not in os.environ and env["LOCAL_AWS_ENDPOINT_URL"] == aws.endpoint
    event = load_event("ams_schedule.json")
    assert load_handler_module("ams").handler(event, lambda_context)["date"] == event["date"]
    written = aws.client("s3").get_object(Bucket=aws.bucket, Key=keys.ams_metrics(event["date"]))
    assert written["ContentLength"] > 0


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_a_function_given_sams_environment_reads_its_key_from_the_local_stacks_secrets(as_sam_passes_it: Any) -> None:
    env = as_sam_passes_it("ApolloPullFunction")
    assert runtime.api_key(env["APOLLO_SECRET_ID"]) == API_KEY
