"""Requests the emulator served, per service and action: what ``thera cost`` prices.

A request is named from what the SDK sends anyway: the service from the credential scope of its
``Authorization`` header (``Credential=KEY/DATE/REGION/SERVICE/aws4_request``), the action from
``X-Amz-Target`` (JSON protocols), else ``Action=`` in the query string, else the HTTP method (S3,
where a GET on the bucket itself is a LIST). DynamoDB batch calls also count their items
(``BatchWriteItem:items``), which is what on-demand capacity bills.

The local tools' own calls (``thera run`` waiting for the queues, ``thera status``, the state
saves) carry ``TOOL_APP_ID`` in their user agent and are counted apart: AWS would not see them.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from typing import Any
from urllib.parse import parse_qs

TOOL_APP_ID = "thera-local"
BATCH_ITEMS = {"BatchWriteItem": "RequestItems", "BatchGetItem": "RequestItems"}


class RequestCounts:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()
        self.tool = 0

    def add(self, service: str, action: str, n: int = 1) -> None:
        with self._lock:
            self._counts[(service, action)] += n

    def add_request(self, environ: dict[str, Any], body: bytes | None = None) -> None:
        """Count one WSGI request (``body``: when the caller has read it, for batch item counts)."""
        if TOOL_APP_ID in environ.get("HTTP_USER_AGENT", ""):
            with self._lock:
                self.tool += 1
            return
        service, action = request_name(environ)
        self.add(service, action)
        if service == "dynamodb" and action in BATCH_ITEMS and body:
            self.add(service, f"{action}:items", batch_items(body, BATCH_ITEMS[action]))

    def snapshot(self) -> dict[str, dict[str, int]]:
        with self._lock:
            out: dict[str, dict[str, int]] = {}
            for (service, action), n in sorted(self._counts.items()):
                out.setdefault(service, {})[action] = n
            return out


def request_name(environ: dict[str, Any]) -> tuple[str, str]:
    service = _scope_service(environ.get("HTTP_AUTHORIZATION", "")) or "unknown"
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        return service, target.rsplit(".", 1)[-1]
    query = parse_qs(environ.get("QUERY_STRING", ""))
    if "Action" in query:
        return service, query["Action"][0]
    method = environ.get("REQUEST_METHOD", "GET")
    if service == "s3" and method == "GET":
        path = (environ.get("RAW_URI", "").split("?", 1)[0] or environ.get("PATH_INFO", "")).strip("/")
        if "/" not in path:  # the bucket itself: ListObjects(V2)
            return service, "LIST"
    return service, method


def _scope_service(authorization: str) -> str:
    marker = "Credential="
    start = authorization.find(marker)
    if start < 0:
        return ""
    scope = authorization[start + len(marker) :].split(",", 1)[0].split("/")
    return scope[3] if len(scope) >= 5 else ""


def batch_items(body: bytes, key: str) -> int:
    try:
        request = json.loads(body).get(key) or {}
    except (ValueError, AttributeError):
        return 0
    return sum(len(v) if isinstance(v, list) else len(v.get("Keys", [])) for v in request.values())
