"""MatcherFunction: the HTTP API. POST /match, POST /feedback, POST /feedback/batch, GET /health, GET /models,
GET /facets, GET /, GET /config (how the page signs in), and the saved shortlists under /shortlists."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.utilities.typing import LambdaContext

from thera.matching import BadRequest
from thera.matching.serving import NotReady
from thera.matching.shortlists import NotFound, caller_identity
from thera.observability import entry
from thera.stages import matcher

app = APIGatewayHttpResolver()


@app.post("/match")
def match() -> dict[str, Any]:
    return matcher.service().match(app.current_event.json_body, app.lambda_context.aws_request_id)


@app.post("/feedback")
def feedback() -> tuple[dict[str, Any], int]:
    return matcher.service().feedback(app.current_event.json_body), 201


@app.post("/feedback/batch")
def feedback_batch() -> dict[str, Any]:
    return matcher.service().feedback_batch(app.current_event.json_body)


@app.get("/health")
def health() -> dict[str, Any]:
    return matcher.service().health()


@app.get("/models")
def models() -> dict[str, Any]:
    return matcher.service().models()


@app.get("/facets")
def facets() -> dict[str, Any]:
    return matcher.service().facets()


# ---------------------------------------------------------------- saved shortlists


def _caller() -> str:
    return caller_identity(app.current_event.raw_event.get("requestContext"))


@app.post("/shortlists")
def save_shortlist() -> tuple[dict[str, Any], int]:
    body = app.current_event.json_body
    return matcher.shortlists().save(body, _caller(), app.lambda_context.aws_request_id), 201


@app.get("/shortlists")
def list_shortlists() -> dict[str, Any]:
    return matcher.shortlists().list_saved()


@app.get("/shortlists/<shortlist_id>")
def open_shortlist(shortlist_id: str) -> dict[str, Any]:
    return matcher.shortlists().open(shortlist_id)


@app.post("/shortlists/<shortlist_id>/decisions")
def decide(shortlist_id: str) -> tuple[dict[str, Any], int]:
    return matcher.shortlists().decide(shortlist_id, app.current_event.json_body, _caller()), 201


@app.get("/shortlists/<shortlist_id>/csv")
def export_csv(shortlist_id: str) -> Response[str]:
    filename, text = matcher.shortlists().csv(shortlist_id)
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    return Response(200, "text/csv; charset=utf-8", text, headers=headers)


@app.exception_handler(NotFound)  # type: ignore[untyped-decorator]  # as below
def not_found(exc: NotFound) -> Response[dict[str, str]]:
    return Response(404, content_types.APPLICATION_JSON, {"error": str(exc)})


# ----------------------------------------------------------------


@app.get("/")
def explorer() -> Response[str]:
    return Response(200, content_types.TEXT_HTML, (Path(__file__).parent / "explorer.html").read_text())


@app.get("/config")
def config() -> dict[str, str]:
    return matcher.sign_in()


@app.exception_handler(BadRequest)  # type: ignore[untyped-decorator]  # Powertools leaves it unannotated
def bad_request(exc: BadRequest) -> Response[dict[str, str]]:
    return Response(400, content_types.APPLICATION_JSON, {"error": str(exc)})


@app.exception_handler(NotReady)  # type: ignore[untyped-decorator]  # as above
def not_ready(exc: NotReady) -> Response[dict[str, str]]:
    return Response(503, content_types.APPLICATION_JSON, {"error": str(exc)})


@app.exception_handler(json.JSONDecodeError)  # type: ignore[untyped-decorator]  # a body that is not JSON
def not_json(exc: json.JSONDecodeError) -> Response[dict[str, str]]:
    return Response(400, content_types.APPLICATION_JSON, {"error": f"the body is not valid JSON: {exc}"})


@entry
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
