"""boto3 clients for the emulator: fixed test credentials, the template's region."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

from thera_local.emulator.counting import TOOL_APP_ID
from thera_local.template import REGION

CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": REGION}


def aws_client(service: str, endpoint: str, config: Config | None = None) -> Any:
    """A client for the local tools: its calls are counted apart from the functions' (AWS would not see them)."""
    tagged = Config(user_agent_extra=TOOL_APP_ID)
    return boto3.client(
        service, endpoint_url=endpoint, config=tagged.merge(config) if config else tagged, **CREDENTIALS
    )  # type: ignore[call-overload]
