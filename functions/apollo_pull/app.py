"""ApolloPullFunction: scheduled daily; pulls company pages from Apollo under the shared quota."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from thera.observability import entry
from thera.stages import apollo_pull


@entry
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return apollo_pull.handle(event, context)
