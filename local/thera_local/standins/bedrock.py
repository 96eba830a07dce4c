"""Bedrock Runtime's ``InvokeModel`` for Titan Text Embeddings V2, served by the embedded emulator.

moto serves no ``bedrock-runtime``, so the emulator hands ``POST /model/{modelId}/invoke``
to this stand-in: the functions' boto3 clients reach it through the same
``AWS_ENDPOINT_URL`` as every other service, and the project's Titan adapter runs
unchanged. The answer has Titan V2's shape (``embedding``, ``embeddingsByType.float``,
``inputTextTokenCount``); the vector is the local LSA model's, cut or padded with zeros
to the size asked for (one of Titan's 256, 512, 1024; others are refused as Titan does)
and of unit length.

Drills inject faults: the next N answers with one status, each with the error code
Bedrock sends for it (429 ThrottlingException, 500 InternalServerException,
503 ServiceUnavailableException...), then normal answers again.
"""

from __future__ import annotations

import json
import math
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from thera.adapters.bedrock import DIMENSIONS, MODEL_ID
from thera.adapters.lsa import LsaModel
from thera_local.loopback import take_injected

INVOKE_PATH = re.compile(r"^/model/(?P<model>[^/]+)/invoke$")
ERROR_CODES = {
    400: "ValidationException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    424: "ModelErrorException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}
REASONS = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found", 429: "Too Many Requests"}


@dataclass
class Answer:
    status: int
    body: dict[str, Any]
    error_code: str = ""

    def wsgi(self) -> tuple[str, list[tuple[str, str]], bytes]:
        data = json.dumps(self.body).encode()
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
        if self.error_code:
            headers.append(("x-amzn-ErrorType", self.error_code))
        return f"{self.status} {REASONS.get(self.status, 'Error')}", headers, data


def _error(status: int, message: str) -> Answer:
    return Answer(status, {"message": message}, ERROR_CODES.get(status, "InternalServerException"))


@dataclass
class InjectedFaults:
    status: int | None = None  # answer this status ...
    count: int = 0  # ... this many times (then answer again)


class BedrockStandIn:
    def __init__(self, model_path: Path, model_id: str = MODEL_ID) -> None:
        self._model_path, self._model_id = model_path, model_id
        self._model: LsaModel | None = None
        self._lock = threading.Lock()
        self._faults = InjectedFaults()
        self.answered = 0  # 200s
        self.injected = 0  # answers with an injected fault
        self.tokens = 0

    def _loaded(self) -> LsaModel:
        with self._lock:
            if self._model is None:
                self._model = LsaModel.load(str(self._model_path))
            return self._model

    def set_faults(self, status: int | None = None, count: int = 0, reset: bool = False) -> dict[str, Any]:
        with self._lock:
            if reset or status is None:
                self._faults = InjectedFaults()
            else:
                if status not in ERROR_CODES:
                    raise ValueError(f"no Bedrock error for status {status}; one of {sorted(ERROR_CODES)}")
                self._faults = InjectedFaults(status, count)
        return self.stats()

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "answered": self.answered,
                "injected": self.injected,
                "tokens": self.tokens,
                "fault": {"status": self._faults.status, "left": self._faults.count},
            }

    def answer(self, path: str, body: bytes) -> Answer | None:
        """The answer to a request, or None when it is not an InvokeModel call (moto serves it)."""
        match = INVOKE_PATH.match(path)
        if match is None:
            return None
        with self._lock:
            status = take_injected(self._faults)
            if status is not None:
                self.injected += 1
                return _error(status, f"injected fault {status}")
        model_id = unquote(match.group("model"))
        if model_id != self._model_id:
            return _error(404, f"The local stand-in serves {self._model_id} only, not {model_id}")
        try:
            doc = json.loads(body or b"{}")
        except ValueError:
            return _error(400, "Malformed input request: body is not JSON")
        text = doc.get("inputText") if isinstance(doc, dict) else None
        if not isinstance(text, str) or not text.strip():
            return _error(400, "Malformed input request: inputText must be a non-empty string")
        dims = doc.get("dimensions", 1024)
        if dims not in DIMENSIONS:
            return _error(400, f"Malformed input request: dimensions must be one of {sorted(DIMENSIONS)}")
        embedding = self._loaded().embed(text)
        vector = [float(x) for x in embedding.vector[:dims]]
        vector += [0.0] * (dims - len(vector))
        norm = math.sqrt(sum(x * x for x in vector)) or 1.0
        vector = [x / norm for x in vector]
        with self._lock:
            self.answered += 1
            self.tokens += embedding.tokens
        return Answer(
            200, {"embedding": vector, "embeddingsByType": {"float": vector}, "inputTextTokenCount": embedding.tokens}
        )
