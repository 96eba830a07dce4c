"""PublisherFunction: PublishQueue (embedded or unchanged gold parts) → PublicStartups and PrivateStartups."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.typing import LambdaContext

from thera.observability import entry
from thera.stages import publisher


@entry
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return publisher.handle(event, context)
