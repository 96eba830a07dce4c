"""Amazon Bedrock Titan Text Embeddings V2 (``InvokeModel``) behind the ``EmbeddingProvider`` port.

Throttling and transient faults (Bedrock's 429/5xx codes, connection and read timeouts) are
retried here with full-jitter backoff, then reported as ``ProviderUnavailable`` so the message
is tried again later; ``ValidationException`` is ``ProviderRejected`` (the input will never
pass). Other client errors (AccessDenied, ResourceNotFound...) are configuration faults and
propagate unchanged. Give the client ``Config(retries={"total_max_attempts": 1})`` so botocore's
own retries do not multiply these attempts (its ``max_attempts`` counts retries, not calls).

The input text may hold personal data: it is never logged nor put in an exception message.
"""

from __future__ import annotations

import json
import math
import random as _random
import time
from collections.abc import Callable
from typing import Any, Protocol

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotocoreConnectionError

from thera.kernel.ports import Embedding, ProviderRejected, ProviderUnavailable
from thera.kernel.retry import Backoff

MODEL_ID = "amazon.titan-embed-text-v2:0"
DIMENSIONS = frozenset({256, 512, 1024})
MAX_CHARS = 50_000
RETRYABLE_CODES = frozenset(
    {
        "ThrottlingException",
        "ServiceUnavailableException",
        "ModelNotReadyException",
        "InternalServerException",
        "ModelTimeoutException",
    }
)
# ConnectionError covers endpoint/connect-timeout failures; HTTPClientError covers read timeouts,
# closed connections and a body stream cut short.
TRANSIENT_ERRORS = (BotocoreConnectionError, HTTPClientError)
BACKOFF = Backoff(attempts=5, base=0.5, cap=10.0)  # calls at most, first and largest wait (s)


class BedrockRuntimeClient(Protocol):
    """The one call we need from a boto3 ``bedrock-runtime`` client (its stubs are not installed)."""

    def invoke_model(self, **kwargs: Any) -> Any: ...


# Not ProviderRejected (the input is not at fault, discarding the message would lose it) and not
# ProviderUnavailable (waiting will not fix a model/dimension mismatch): it fails loudly like other config faults.
class InvalidEmbeddingResponse(RuntimeError):
    """Bedrock answered, but not with a vector of the configured size and a token count."""


class TitanEmbeddings:
    """One text per ``InvokeModel`` call to Titan Text Embeddings V2, normalized to unit length."""

    def __init__(
        self,
        client: BedrockRuntimeClient,
        *,
        model_id: str = MODEL_ID,
        dimensions: int = 1024,
        backoff: Backoff = BACKOFF,
        sleep: Callable[[float], None] = time.sleep,
        random: Callable[[], float] = _random.random,
    ) -> None:
        if dimensions not in DIMENSIONS:
            raise ValueError(f"Titan V2 dimensions must be one of {sorted(DIMENSIONS)}, not {dimensions!r}")
        self._client = client
        self._model_id = model_id
        self._dimensions = dimensions
        self._backoff = backoff
        self._sleep, self._random = sleep, random
        self.attempts = 0  # InvokeModel calls made, for metrics

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dimensions(self) -> int:
        return self._dimensions

    def embed(self, text: str) -> Embedding:
        if not text.strip():
            raise ProviderRejected("text to embed is empty")
        if len(text) > MAX_CHARS:
            raise ProviderRejected(f"text to embed has {len(text)} characters; Titan accepts at most {MAX_CHARS}")
        body = json.dumps(
            {"inputText": text, "dimensions": self._dimensions, "normalize": True, "embeddingTypes": ["float"]}
        )
        problem = "no attempt made"
        for attempt in range(self._backoff.attempts):
            self.attempts += 1
            try:
                response = self._client.invoke_model(
                    modelId=self._model_id, body=body, contentType="application/json", accept="application/json"
                )
                raw = response["body"].read()
            except ClientError as exc:
                error = exc.response.get("Error", {})
                code = str(error.get("Code") or "")
                if code == "ValidationException":
                    raise ProviderRejected(f"Bedrock refused the input: {error.get('Message') or code}") from exc
                if code not in RETRYABLE_CODES:
                    raise
                message = str(error.get("Message") or "")
                problem = f"{code}: {message}" if message else code
            except TRANSIENT_ERRORS as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                return self._parse(raw)
            if attempt + 1 < self._backoff.attempts:
                self._sleep(self._backoff.delay(attempt, self._random))
        raise ProviderUnavailable(f"Bedrock {self._model_id} failed after {self._backoff.attempts} attempts: {problem}")

    def _parse(self, raw: bytes) -> Embedding:
        """Check the answer's shape: a wrong-size vector would silently corrupt the index."""
        try:
            payload = json.loads(raw)
        except ValueError as exc:
            raise InvalidEmbeddingResponse(f"Bedrock {self._model_id} answered with invalid JSON") from exc
        if not isinstance(payload, dict):
            raise InvalidEmbeddingResponse(f"Bedrock {self._model_id} answered with a non-object")
        by_type = payload.get("embeddingsByType")
        vector = by_type.get("float") if isinstance(by_type, dict) else None
        if vector is None:
            vector = payload.get("embedding")
        if not isinstance(vector, list) or len(vector) != self._dimensions:
            size = len(vector) if isinstance(vector, list) else type(vector).__name__
            raise InvalidEmbeddingResponse(
                f"Bedrock {self._model_id} returned a vector of {size}, expected {self._dimensions} floats"
            )
        if not all(isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) for x in vector):
            raise InvalidEmbeddingResponse(f"Bedrock {self._model_id} returned a vector with non-finite or non-numbers")
        tokens = payload.get("inputTextTokenCount")
        if not isinstance(tokens, int) or isinstance(tokens, bool) or tokens < 0:
            raise InvalidEmbeddingResponse(f"Bedrock {self._model_id} returned no valid inputTextTokenCount")
        return Embedding(vector=tuple(float(x) for x in vector), tokens=tokens)
