"""Starts LocalStack in this process with Lambda functions created but never run.

Creating a function makes LocalStack's Docker executor download a runtime init binary and
pull a runtime image; there is no Docker here, so preparing a version does nothing instead.
Functions reach State Active and their event source mappings are created; invoking one fails.
Run with the LocalStack virtual environment's Python (3.13), never the project's.
"""

from __future__ import annotations

from typing import Any

from localstack.runtime.main import main
from localstack.services.lambda_.invocation.docker_runtime_executor import DockerRuntimeExecutor


def _prepare_nothing(cls: type, function_version: Any) -> None:
    """Skips the runtime download and image pull: functions are created, not invoked."""


if __name__ == "__main__":
    DockerRuntimeExecutor.prepare_version = classmethod(_prepare_nothing)
    main()
