"""Starts LocalStack in this process: functions created but never run, the rehearsal's extras registered.

Creating a function makes LocalStack's Docker executor download a runtime init binary and
pull a runtime image; there is no Docker here, so preparing a version does nothing instead.
Functions reach State Active and their event source mappings are created; invoking one fails
(custom resources are the exception: ``localstack_extras`` runs their code itself).
``localstack_extras`` brings Cognito user pools, HTTP APIs and custom resources, which
LocalStack community lacks; its plugins are named in an entry-point file put on sys.path here.
Run with the LocalStack virtual environment's Python (3.13), never the project's.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Any


def _prepare_nothing(cls: type, function_version: Any) -> None:
    """Skips the runtime download and image pull: functions are created, not invoked."""


if __name__ == "__main__":
    plugins = Path(os.environ["FILESYSTEM_ROOT"]) / "plugins"
    import localstack_extras

    localstack_extras.register(plugins)
    sys.path.append(str(plugins))
    importlib.invalidate_caches()

    from localstack.runtime.main import main
    from localstack.services.lambda_.invocation.docker_runtime_executor import DockerRuntimeExecutor

    DockerRuntimeExecutor.prepare_version = classmethod(_prepare_nothing)
    main()
