"""Titan embeddings against a stubbed real bedrock-runtime client: request shape, retries and error mapping."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

from thera.adapters.bedrock import MODEL_ID, InvalidEmbeddingResponse, TitanEmbeddings
from thera.kernel.ports import EmbeddingProvider, ProviderRejected, ProviderUnavailable
from thera.kernel.retry import Backoff

TEXT = "Acme Robotics builds warehouse robots. Contact: jane.doe@example.com"
EXPECTED_PARAMS = {"modelId": MODEL_ID, "body": ANY, "contentType": "application/json", "accept": "application/json"}


class Harness:
    """A real client with a Stubber, the request bodies it saw and the sleeps the provider asked for."""

    def __init__(self) -> None:
        self.client = boto3.client(
            "bedrock-runtime", region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
        )
        self.stubber = Stubber(self.client)
        self.bodies: list[dict[str, Any]] = []
        self.sleeps: list[float] = []
        self.client.meta.events.register("before-parameter-build.bedrock-runtime.InvokeModel", self._capture)

    def _capture(self, params: dict[str, Any], **_: Any) -> None:
        self.bodies.append(json.loads(params["body"]))

    def provider(self, **kw: Any) -> TitanEmbeddings:
        kw.setdefault("random", lambda: 1.0)
        return TitanEmbeddings(self.client, sleep=self.sleeps.append, **kw)

    def answer(self, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        response = {"body": StreamingBody(io.BytesIO(data), len(data)), "contentType": "application/json"}
        self.stubber.add_response("invoke_model", response, EXPECTED_PARAMS)

    def embedding(self, dims: int = 1024, tokens: int = 17) -> None:
        vector = [0.01 * (i % 7) for i in range(dims)]
        self.answer({"embedding": vector, "inputTextTokenCount": tokens, "embeddingsByType": {"float": vector}})

    def error(self, code: str, status: int, message: str = "boom") -> None:
        self.stubber.add_client_error("invoke_model", code, message, status, expected_params=EXPECTED_PARAMS)


@pytest.fixture
def harness() -> Iterator[Harness]:
    h = Harness()
    with h.stubber:
        yield h


def test_embeds_one_text_with_the_titan_v2_request(harness: Harness) -> None:
    harness.embedding(dims=512, tokens=23)
    provider = harness.provider(dimensions=512)
    result = provider.embed(TEXT)
    assert harness.bodies == [{"inputText": TEXT, "dimensions": 512, "normalize": True, "embeddingTypes": ["float"]}]
    assert len(result.vector) == 512 and all(isinstance(x, float) for x in result.vector)
    assert result.tokens == 23
    assert (provider.model_id, provider.dimensions, provider.attempts) == (MODEL_ID, 512, 1)
    assert harness.sleeps == []
    harness.stubber.assert_no_pending_responses()


def test_satisfies_the_port() -> None:
    provider: EmbeddingProvider = TitanEmbeddings(object())  # type: ignore[arg-type]
    assert (provider.model_id, provider.dimensions) == (MODEL_ID, 1024)


def test_prefers_embeddings_by_type_and_falls_back_to_embedding(harness: Harness) -> None:
    harness.answer({"embedding": [9.0] * 256, "inputTextTokenCount": 3, "embeddingsByType": {"float": [0.5] * 256}})
    harness.answer({"embedding": [0.25] * 256, "inputTextTokenCount": 3})
    provider = harness.provider(dimensions=256)
    assert set(provider.embed(TEXT).vector) == {0.5}
    assert set(provider.embed(TEXT).vector) == {0.25}


def test_two_throttles_then_success_backs_off_within_max_delay(harness: Harness) -> None:
    harness.error("ThrottlingException", 429, "Too many requests")
    harness.error("ThrottlingException", 429, "Too many requests")
    harness.embedding()
    result = harness.provider(backoff=Backoff(5, base=1.0, cap=1.5)).embed(TEXT)
    assert len(result.vector) == 1024
    assert len(harness.bodies) == 3
    assert harness.sleeps == [1.0, 1.5]  # 1 * 2**0, then 1 * 2**1 capped at max_delay
    harness.stubber.assert_no_pending_responses()


def test_backoff_uses_full_jitter(harness: Harness) -> None:
    harness.error("ThrottlingException", 429)
    harness.embedding()
    harness.provider(backoff=Backoff(5, base=2.0, cap=10.0), random=lambda: 0.25).embed(TEXT)
    assert harness.sleeps == [0.5]


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ThrottlingException", 429),
        ("ServiceUnavailableException", 503),
        ("ModelNotReadyException", 429),
        ("InternalServerException", 500),
        ("ModelTimeoutException", 408),
    ],
)
def test_transient_errors_every_time_end_unavailable_after_max_attempts(
    harness: Harness, code: str, status: int
) -> None:
    for _ in range(3):
        harness.error(code, status, "try later")
    provider = harness.provider(backoff=Backoff(3, base=0.1, cap=0.15))
    with pytest.raises(ProviderUnavailable, match=f"after 3 attempts: {code}: try later") as info:
        provider.embed(TEXT)
    assert TEXT not in str(info.value)
    assert len(harness.bodies) == 3 and provider.attempts == 3
    assert len(harness.sleeps) == 2 and all(0 <= s <= 0.15 for s in harness.sleeps)
    harness.stubber.assert_no_pending_responses()


def test_default_max_attempts_is_five(harness: Harness) -> None:
    for _ in range(5):
        harness.error("ThrottlingException", 429)
    with pytest.raises(ProviderUnavailable):
        harness.provider().embed(TEXT)
    assert len(harness.bodies) == 5 and len(harness.sleeps) == 4
    harness.stubber.assert_no_pending_responses()


@pytest.mark.parametrize(
    "exc",
    [
        ReadTimeoutError(endpoint_url="https://bedrock-runtime.us-east-1.amazonaws.com"),
        ConnectTimeoutError(endpoint_url="https://bedrock-runtime.us-east-1.amazonaws.com"),
        EndpointConnectionError(endpoint_url="https://bedrock-runtime.us-east-1.amazonaws.com"),
    ],
)
def test_connection_and_read_timeouts_are_retried(harness: Harness, exc: Exception) -> None:
    class Flaky:
        calls = 0

        def invoke_model(self, **kwargs: Any) -> Any:
            self.calls += 1
            if self.calls == 1:
                raise exc
            return harness.client.invoke_model(**kwargs)

    harness.embedding()
    flaky = Flaky()
    result = TitanEmbeddings(flaky, sleep=harness.sleeps.append, random=lambda: 1.0).embed(TEXT)
    assert len(result.vector) == 1024 and flaky.calls == 2 and len(harness.sleeps) == 1


def test_timeouts_every_time_name_the_last_error() -> None:
    class Down:
        def invoke_model(self, **kwargs: Any) -> Any:
            raise ReadTimeoutError(endpoint_url="https://bedrock-runtime.us-east-1.amazonaws.com")

    sleeps: list[float] = []
    with pytest.raises(ProviderUnavailable, match="after 2 attempts: ReadTimeoutError"):
        TitanEmbeddings(Down(), backoff=Backoff(2, base=0.5, cap=10.0), sleep=sleeps.append).embed(TEXT)
    assert len(sleeps) == 1


def test_validation_exception_is_rejected_after_one_call(harness: Harness) -> None:
    harness.error("ValidationException", 400, "Malformed input request: too many input tokens")
    harness.embedding()  # would be a successful retry: must stay unused
    provider = harness.provider()
    with pytest.raises(ProviderRejected, match="too many input tokens") as info:
        provider.embed(TEXT)
    assert TEXT not in str(info.value)
    assert len(harness.bodies) == 1 and harness.sleeps == []


@pytest.mark.parametrize("text", ["", "   \n\t "])
def test_empty_text_is_rejected_without_a_call(harness: Harness, text: str) -> None:
    with pytest.raises(ProviderRejected, match="empty"):
        harness.provider().embed(text)
    assert harness.bodies == []
    harness.stubber.assert_no_pending_responses()


def test_text_over_50000_characters_is_rejected_without_a_call(harness: Harness) -> None:
    with pytest.raises(ProviderRejected, match="50001 characters") as info:
        harness.provider().embed("x" * 50_001)
    assert "xxxx" not in str(info.value) and harness.bodies == []
    harness.embedding()
    assert harness.provider().embed("x" * 50_000).tokens == 17


@pytest.mark.parametrize(
    "payload",
    [
        {"embedding": [0.1] * 1023, "inputTextTokenCount": 5, "embeddingsByType": {"float": [0.1] * 1023}},
        {"embedding": [0.1] * 1024, "inputTextTokenCount": 5, "embeddingsByType": {"float": [0.1] * 512}},
        {"inputTextTokenCount": 5},
        {"embedding": [0.1] * 1023 + ["x"], "inputTextTokenCount": 5},
        {"embedding": [0.1] * 1024, "inputTextTokenCount": -1},
        {"embedding": [0.1] * 1024, "inputTextTokenCount": "5"},
        {"embedding": [0.1] * 1024},
    ],
)
def test_malformed_answer_is_an_error_and_not_retried(harness: Harness, payload: dict[str, Any]) -> None:
    harness.answer(payload)
    with pytest.raises(InvalidEmbeddingResponse):
        harness.provider().embed(TEXT)
    assert len(harness.bodies) == 1 and harness.sleeps == []


def test_access_denied_propagates_unchanged(harness: Harness) -> None:
    harness.error("AccessDeniedException", 403, "not authorized to invoke this model")
    with pytest.raises(ClientError) as info:
        harness.provider().embed(TEXT)
    assert not isinstance(info.value, ProviderUnavailable | ProviderRejected)
    assert info.value.response["Error"]["Code"] == "AccessDeniedException"
    assert len(harness.bodies) == 1 and harness.sleeps == []


@pytest.mark.parametrize("dims", [300, 0, 1536])
def test_unsupported_dimensions_are_a_value_error(dims: int) -> None:
    with pytest.raises(ValueError, match="dimensions must be one of"):
        TitanEmbeddings(object(), dimensions=dims)  # type: ignore[arg-type]


@pytest.mark.parametrize(("attempts", "base", "cap"), [(0, 0.5, 10.0), (3, -1.0, 10.0), (3, 0.5, -1.0)])
def test_a_backoff_of_no_calls_or_negative_waits_is_a_value_error(attempts: int, base: float, cap: float) -> None:
    with pytest.raises(ValueError, match=r"attempts must be at least 1|must not be negative"):
        Backoff(attempts, base, cap)
