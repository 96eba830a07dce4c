"""MatcherFunction: the HTTP API. POST /match, POST /feedback, GET /health, GET /models, GET /facets, GET /."""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.utilities.typing import LambdaContext

from thera.config import MatcherSettings
from thera.match_wiring import matcher_service
from thera.matching import BadRequest
from thera.observability import logger, metrics, tracer
from thera.serving import NotReady

app = APIGatewayHttpResolver()


@cache
def settings() -> MatcherSettings:
    return MatcherSettings.from_env(os.environ)


@app.post("/match")
def match() -> dict[str, Any]:
    return matcher_service(settings()).match(app.current_event.json_body, app.lambda_context.aws_request_id)


@app.post("/feedback")
def feedback() -> tuple[dict[str, Any], int]:
    return matcher_service(settings()).feedback(app.current_event.json_body), 201


@app.get("/health")
def health() -> dict[str, Any]:
    return matcher_service(settings()).health()


@app.get("/models")
def models() -> dict[str, Any]:
    return matcher_service(settings()).models()


@app.get("/facets")
def facets() -> dict[str, Any]:
    return matcher_service(settings()).facets()


@app.get("/")
def explorer() -> Response[str]:
    return Response(200, content_types.TEXT_HTML, (Path(__file__).parent / "explorer.html").read_text())


@app.exception_handler(BadRequest)  # type: ignore[untyped-decorator]  # Powertools leaves it unannotated
def bad_request(exc: BadRequest) -> Response[dict[str, str]]:
    return Response(400, content_types.APPLICATION_JSON, {"error": str(exc)})


@app.exception_handler(NotReady)  # type: ignore[untyped-decorator]  # as above
def not_ready(exc: NotReady) -> Response[dict[str, str]]:
    return Response(503, content_types.APPLICATION_JSON, {"error": str(exc)})


@app.exception_handler(json.JSONDecodeError)  # type: ignore[untyped-decorator]  # a body that is not JSON
def not_json(exc: json.JSONDecodeError) -> Response[dict[str, str]]:
    return Response(400, content_types.APPLICATION_JSON, {"error": f"the body is not valid JSON: {exc}"})


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(raise_on_empty_metrics=False)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
