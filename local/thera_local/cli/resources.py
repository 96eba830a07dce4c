"""The stack a command operates, as names and clients: from the local stack, or from CloudFormation.

``thera status``, ``redrive`` and ``logs`` read queues, tables and log groups through AWS APIs
only; they differ between the local stack and a deployed one (``thera --stack NAME ...``) in
how a logical id becomes a physical name and where the clients point. ``StackResources.local``
resolves names from the template and the running stack's endpoint; ``StackResources.deployed``
from CloudFormation's ListStackResources and DescribeStacks, with boto3's default credential
chain and region (``AWS_ENDPOINT_URL`` honoured).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from thera_local.cli.common import UsageError


@dataclass(frozen=True)
class StackResources:
    name: str
    physical: dict[str, str]  # logical id -> physical id (a queue's is its URL)
    types: dict[str, str]  # logical id -> resource type
    outputs: dict[str, str]
    clients: Callable[[str], Any]
    environments: Callable[[str], dict[str, str]] = field(repr=False)

    def client(self, service: str) -> Any:
        return self.clients(service)

    def of_type(self, kind: str) -> list[str]:
        return sorted(k for k, t in self.types.items() if t == kind)

    def function(self, name: str) -> str:
        """A function's logical id, given it or its physical name."""
        functions = self.of_type("AWS::Lambda::Function")
        for logical in functions:
            if name in (logical, self.physical[logical]):
                return logical
        raise UsageError(f"no function {name!r} in stack {self.name}; known: {', '.join(functions)}")

    def environment(self, function: str) -> dict[str, str]:
        """A function's environment variables (its tables, queues and settings)."""
        return self.environments(function)

    def log_group(self, function: str) -> str:
        return f"/aws/lambda/{self.physical[function]}"

    @classmethod
    def local(cls, info: Any) -> StackResources:
        """The running local stack (a ``StackInfo``): names from its template, clients at its emulator."""
        from thera_local.emulator import aws_client
        from thera_local.lambda_env import function_environment
        from thera_local.template import STACK_NAME

        template = info.template_obj()
        functions = template.functions()
        physical, types = {}, {}
        for logical, res in template.resources.items():
            kind = str(res.get("Type"))
            if kind == "AWS::Serverless::Function":
                kind = "AWS::Lambda::Function"
            try:
                physical[logical] = (
                    template.queue_url(logical, info.endpoint)
                    if kind == "AWS::SQS::Queue"
                    else template.physical(logical)
                )
            except KeyError:
                continue
            types[logical] = kind
        return cls(
            STACK_NAME,
            physical,
            types,
            {"MatcherApiUrl": info.api + "/"} if info.api else {},
            lambda service: aws_client(service, info.endpoint),
            lambda function: function_environment(functions[function], info.endpoint),
        )

    @classmethod
    def deployed(cls, name: str) -> StackResources:
        """A CloudFormation stack, through boto3's default session (credentials, region, endpoint)."""
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError

        session = boto3.session.Session()
        clients: dict[str, Any] = {}

        def client(service: str) -> Any:
            if service not in clients:
                clients[service] = session.client(service)  # type: ignore[call-overload]
            return clients[service]

        cfn = client("cloudformation")
        try:
            stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
            physical, types = {}, {}
            for page in cfn.get_paginator("list_stack_resources").paginate(StackName=name):
                for res in page["StackResourceSummaries"]:
                    if res.get("PhysicalResourceId"):
                        physical[res["LogicalResourceId"]] = res["PhysicalResourceId"]
                        types[res["LogicalResourceId"]] = res["ResourceType"]
        except ClientError as exc:
            raise UsageError(f"stack {name}: {exc.response['Error'].get('Message') or exc}") from exc
        except BotoCoreError as exc:
            raise UsageError(f"stack {name}: {exc}") from exc
        outputs = {o["OutputKey"]: o.get("OutputValue", "") for o in stack.get("Outputs", [])}

        def environment(function: str) -> dict[str, str]:
            config = client("lambda").get_function_configuration(FunctionName=physical[function])
            return dict(config.get("Environment", {}).get("Variables", {}))

        return cls(name, physical, types, outputs, client, environment)
