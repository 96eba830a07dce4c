"""`thera env-vars`: the ``--env-vars`` file of ``sam local invoke``, pointing each function at the local stack.

SAM's format: ``{"<LogicalId>": {"VAR": "value"}, "Parameters": {"VAR": "value"}}``; a function's own
entry wins over ``Parameters``. SAM only overrides variables the template declares for the function
(samcli/local/lambdafn/env_vars.py ``EnvironmentVariables.resolve``): a name the template does not
declare is dropped, so each entry holds exactly the function's declared variables (Globals + its
own), with the values the running stack gives them.

Values are the ones the local runtime hands its own execution environments (``function_environment``),
with the loopback address replaced by the address a Lambda container reaches this machine by. The
emulator's address travels in ``LOCAL_AWS_ENDPOINT_URL`` (declared in Globals, empty when deployed), not in
the standard ``AWS_ENDPOINT_URL``, which the template does not declare, so SAM would drop it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from thera.kernel.config import LOCAL_AWS_ENDPOINT_URL
from thera_local.lambda_env import function_environment
from thera_local.template import Template

CONTAINER_HOST = "host.docker.internal"
ENDPOINT_VARIABLE = LOCAL_AWS_ENDPOINT_URL  # the emulator's address; the functions' clients use it when set
_LOOPBACK = re.compile(r"(?<=://)(?:127\.0\.0\.1|localhost)(?=[:/]|$)")


def reach(value: str, host: str) -> str:
    """``value`` with every loopback URL's host replaced by ``host`` (how the container reaches this machine)."""
    return _LOOPBACK.sub(host, value)


@dataclass
class EnvVarsFile:
    doc: dict[str, dict[str, str]]
    host_paths: dict[str, list[str]] = field(default_factory=dict)  # variable -> functions whose value is a file
    endpoint_declared: bool = False

    def notes(self, endpoint: str) -> list[str]:
        """What a container cannot use from this file, one line each."""
        lines = []
        if not self.endpoint_declared:
            lines.append(
                f"note: template.yaml does not declare {ENDPOINT_VARIABLE} for every function, and sam local invoke "
                f"passes only declared variables: their AWS calls go to AWS, not to the local emulator ({endpoint})"
            )
        for name, functions in sorted(self.host_paths.items()):
            lines.append(
                f"note: {name} is a file on this machine, not in the container ({', '.join(sorted(functions))})"
            )
        return lines


def env_vars_file(template: Template, endpoint: str, host: str = CONTAINER_HOST) -> EnvVarsFile:
    """Every function's declared variables, resolved against the stack whose emulator listens at ``endpoint``."""
    doc: dict[str, dict[str, str]] = {}
    host_paths: dict[str, list[str]] = {}
    for logical, spec in template.functions().items():
        env = function_environment(spec, endpoint)
        doc[logical] = {name: reach(env[name], host) for name in spec.environment}
        for name in spec.environment:
            if env[name].startswith("/") and Path(env[name]).exists():
                host_paths.setdefault(name, []).append(logical)
    globals_env: dict[str, Any] = (
        template.doc.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    )
    doc["Parameters"] = {
        name: reach(str(template.resolve(value)).replace("{sqs_endpoint}", endpoint), host)
        for name, value in globals_env.items()
    }
    if ENDPOINT_VARIABLE in doc["Parameters"]:
        doc["Parameters"][ENDPOINT_VARIABLE] = reach(endpoint, host)
    declared = all(ENDPOINT_VARIABLE in spec.environment for spec in template.functions().values())
    return EnvVarsFile(doc, host_paths, declared)
