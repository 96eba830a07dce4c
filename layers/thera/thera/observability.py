"""Logger, Tracer and Metrics, created once, and the one entry decorator that carries them into every handler.

Service name and namespace come from the template's Globals.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics()


def entry[H: Callable[..., Any]](handler: H) -> H:
    """A Lambda handler with fresh log keys per invocation, its metrics flushed (none is fine) and a trace."""
    traced = tracer.capture_lambda_handler(handler)
    flushed = metrics.log_metrics(traced, raise_on_empty_metrics=False)
    return cast(H, logger.inject_lambda_context(flushed, clear_state=True))
