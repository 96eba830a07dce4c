"""LOCAL_AWS_ENDPOINT_URL: every AWS client the functions make calls the local stack when it is set, AWS when empty.

No request leaves the process: a ``before-send`` hook on boto3's default session records each request's URL and
stops it there, so what is checked is where botocore would send the call.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from thera import runtime
from thera.kernel.config import LOCAL_AWS_ENDPOINT_URL, AwsSettings, ConfigError, EmbeddingProviderSettings

CONTAINER_ENDPOINT = "http://host.docker.internal:45471"  # how `thera env-vars` names the stack to a container
BUCKET = "thera-dev-lake-123456789012-us-east-1"


class Stopped(Exception):
    """Raised by the hook so that no request is sent."""


def test_the_settings_name_an_endpoint_only_when_the_variable_holds_one() -> None:
    assert AwsSettings.from_env({}).endpoint_url is None
    assert AwsSettings.from_env({LOCAL_AWS_ENDPOINT_URL: ""}).endpoint_url is None  # the deployed default
    assert AwsSettings.from_env({LOCAL_AWS_ENDPOINT_URL: "  "}).endpoint_url is None
    assert AwsSettings.from_env({LOCAL_AWS_ENDPOINT_URL: CONTAINER_ENDPOINT}).endpoint_url == CONTAINER_ENDPOINT
    with pytest.raises(ConfigError, match="LOCAL_AWS_ENDPOINT_URL must be an http"):
        AwsSettings.from_env({LOCAL_AWS_ENDPOINT_URL: "host.docker.internal:45471"})


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The URLs of the requests the clients made through ``thera.runtime`` would send."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")  # no endpoint from a developer's profile
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    urls: list[str] = []

    def stop(request: Any, **_: Any) -> None:
        urls.append(request.url)
        raise Stopped

    session = boto3.Session()
    session.events.register("before-send", stop)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", session)
    runtime.client.cache_clear()
    runtime.secrets.cache_clear()
    runtime.embedding_provider.cache_clear()
    yield urls
    runtime.client.cache_clear()
    runtime.secrets.cache_clear()
    runtime.embedding_provider.cache_clear()


CALLS: dict[str, Callable[[], object]] = {  # one call per client a function makes, through the functions' own code
    "s3": lambda: runtime.client("s3").get_object(Bucket=BUCKET, Key="gold/profiles/part.parquet"),
    "sqs": lambda: runtime.client("sqs").send_message(
        QueueUrl="http://host.docker.internal:45471/123456789012/thera-dev-crawl", MessageBody="{}"
    ),
    "dynamodb": lambda: runtime.client("dynamodb").get_item(TableName="thera-dev-state", Key={"pk": {"S": "x"}}),
    "secretsmanager": lambda: runtime.api_key("thera/dev/apollo"),
    "bedrock-runtime": lambda: runtime.embedding_provider(
        EmbeddingProviderSettings("bedrock", "amazon.titan-embed-text-v2:0", 512, "")
    ).embed("robots for warehouses"),
}
IN_AWS = {
    "s3": f"https://{BUCKET}.s3.amazonaws.com/gold/profiles/part.parquet",
    "sqs": "https://sqs.us-east-1.amazonaws.com/",
    "dynamodb": "https://dynamodb.us-east-1.amazonaws.com/",
    "secretsmanager": "https://secretsmanager.us-east-1.amazonaws.com/",
    "bedrock-runtime": "https://bedrock-runtime.us-east-1.amazonaws.com/model/amazon.titan-embed-text-v2%3A0/invoke",
}
ON_THE_STACK = {
    "s3": f"{CONTAINER_ENDPOINT}/{BUCKET}/gold/profiles/part.parquet",  # by path: no bucket.host.docker.internal
    "sqs": f"{CONTAINER_ENDPOINT}/",
    "dynamodb": f"{CONTAINER_ENDPOINT}/",
    "secretsmanager": f"{CONTAINER_ENDPOINT}/",
    "bedrock-runtime": f"{CONTAINER_ENDPOINT}/model/amazon.titan-embed-text-v2%3A0/invoke",
}


@pytest.mark.parametrize("service", sorted(CALLS))
@pytest.mark.parametrize(
    ("value", "expected"), [(CONTAINER_ENDPOINT, ON_THE_STACK), ("", IN_AWS)], ids=["set", "empty"]
)
def test_each_client_calls_the_stack_when_the_endpoint_is_set_and_aws_when_it_is_empty(
    service: str, value: str, expected: dict[str, str], sent: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(LOCAL_AWS_ENDPOINT_URL, value)
    with contextlib.suppress(Exception):  # Stopped, or the caller's wrapping of it (Powertools, the adapter)
        CALLS[service]()
    assert sent == [expected[service]]
