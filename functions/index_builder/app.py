"""IndexBuilderFunction: on its schedule, a new matcher index version when gold or embeddings parts changed."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from thera.observability import entry
from thera.stages import index_builder


@entry
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, object]:
    return index_builder.handle(event, context)
