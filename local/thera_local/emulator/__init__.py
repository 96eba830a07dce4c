"""The embedded AWS emulator: moto's server on loopback, its stack created from template.yaml.

``server`` (the WSGI server and the middleware that serialises what moto does not make atomic),
``moto_patches`` (moto's hot paths, its Cognito ids kept stable across starts, and the check of
the moto version they were written against),
``provisioning`` (the stack from the template), ``in_process`` (moto's backends read and written
in place by the stack's own process), ``persistence`` (snapshot and restore) and ``counting`` (the
requests served, per service and action, for ``thera cost``).
"""

from __future__ import annotations

from thera_local.cloudformation import publish_api_url
from thera_local.emulator.clients import CREDENTIALS, aws_client
from thera_local.emulator.in_process import InProcess, LocalLogs, LocalSqs
from thera_local.emulator.persistence import restore, snapshot
from thera_local.emulator.provisioning import provision
from thera_local.emulator.server import Emulator, SerializedRequests

__all__ = [
    "CREDENTIALS",
    "Emulator",
    "InProcess",
    "LocalLogs",
    "LocalSqs",
    "SerializedRequests",
    "aws_client",
    "provision",
    "publish_api_url",
    "restore",
    "snapshot",
]
