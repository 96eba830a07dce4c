"""Logger, Tracer and Metrics, created once. Service name and namespace come from the template's Globals."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics()
