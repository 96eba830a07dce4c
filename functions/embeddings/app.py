"""EmbeddingsFunction: EmbedQueue (new gold parts) → embeddings/ within the daily budget → PublishQueue.

The daily schedule invokes it too, to release the parts parked while the budget was spent.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.typing import LambdaContext

from thera.observability import entry
from thera.stages import embeddings


@entry
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse | dict[str, int]:
    return embeddings.handle(event, context)
