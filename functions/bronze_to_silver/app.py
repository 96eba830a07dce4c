"""BronzeToSilverFunction: SQS (S3 notifications on bronze/) → silver companies and quarantine."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.typing import LambdaContext

from thera.observability import entry
from thera.stages import bronze_to_silver


@entry
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return bronze_to_silver.handle(event, context)
