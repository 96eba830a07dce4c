"""The project's Titan adapter against the emulator's Bedrock stand-in, through a real boto3 client."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import SAMPLE
from thera.adapters.bedrock import TitanEmbeddings
from thera.adapters.lsa import fit_lsa
from thera.kernel.ports import ProviderRejected, ProviderUnavailable
from thera_local.emulator import CREDENTIALS, Emulator, aws_client
from thera_local.models import corpus_texts
from thera_local.standins.apollo import load_companies
from thera_local.standins.bedrock import BedrockStandIn


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[BedrockStandIn, object]]:
    path = Path(tmp_path_factory.mktemp("model")) / "lsa.npz"
    fit_lsa(corpus_texts(load_companies(SAMPLE)), 64).save(path)
    standin = BedrockStandIn(path)
    emulator = Emulator()
    endpoint = emulator.start(bedrock=standin)
    client = aws_client("bedrock-runtime", endpoint, Config(retries={"total_max_attempts": 1, "mode": "standard"}))
    yield standin, client
    emulator.stop()


def titan(client: object, dims: int = 256) -> TitanEmbeddings:
    return TitanEmbeddings(client, dimensions=dims, sleep=lambda s: None)  # type: ignore[arg-type]


@pytest.mark.parametrize("dims", [256, 1024])
def test_titan_shaped_unit_vectors_of_the_size_asked(served: tuple[BedrockStandIn, object], dims: int) -> None:
    _, client = served
    got = titan(client, dims).embed("Warehouse robots for distribution centers")
    assert len(got.vector) == dims and got.tokens > 0
    assert math.isclose(math.sqrt(sum(x * x for x in got.vector)), 1.0, rel_tol=1e-6)
    assert got.vector == titan(client, dims).embed("Warehouse robots for distribution centers").vector


def test_throttling_is_retried_by_the_adapter_and_too_much_of_it_reported_unavailable(
    served: tuple[BedrockStandIn, object],
) -> None:
    standin, client = served
    standin.set_faults(429, 3)
    adapter = titan(client)
    adapter.embed("payments for small businesses")
    assert adapter.attempts == 4 and standin.stats()["fault"]["left"] == 0
    standin.set_faults(429, 5)
    with pytest.raises(ProviderUnavailable, match="ThrottlingException"):
        titan(client).embed("payments for small businesses")
    standin.set_faults(503, 5)
    with pytest.raises(ProviderUnavailable, match="ServiceUnavailableException"):
        titan(client).embed("payments for small businesses")


def test_bad_requests_get_bedrock_errors(served: tuple[BedrockStandIn, object]) -> None:
    standin, client = served
    standin.set_faults(reset=True)
    with pytest.raises(ProviderRejected):
        titan(client).embed("   ")  # the adapter refuses before calling
    with pytest.raises(ClientError) as err:
        client.invoke_model(modelId="amazon.titan-embed-text-v2:0", body=b'{"inputText": ""}')  # type: ignore[attr-defined]
    assert err.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as err:
        client.invoke_model(modelId="cohere.embed-v4", body=b'{"inputText": "x"}')  # type: ignore[attr-defined]
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ValueError, match="no Bedrock error"):
        standin.set_faults(418, 1)


def test_the_runtime_client_makes_one_call_per_adapter_attempt(
    served: tuple[BedrockStandIn, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    """botocore's own retries would multiply the adapter's (its ``max_attempts`` counts retries, not calls)."""
    from thera.kernel.config import EmbeddingProviderSettings
    from thera.runtime import embedding_provider

    standin, client = served
    monkeypatch.setenv("AWS_ENDPOINT_URL", client.meta.endpoint_url)  # type: ignore[attr-defined]
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", CREDENTIALS["region_name"])
    provider = embedding_provider(EmbeddingProviderSettings("bedrock", "amazon.titan-embed-text-v2:0", 512, ""))
    standin.set_faults(429, 2)
    before = standin.stats()
    assert len(provider.embed("robots for warehouses").vector) == 512
    after = standin.stats()
    assert after["injected"] - before["injected"] == 2 and after["answered"] - before["answered"] == 1
    assert provider.attempts == 3  # type: ignore[attr-defined]
