"""What the rehearsal adds to LocalStack community: the services and resource types it only fakes.

LocalStack community has no Cognito, API Gateway v2, Glue, Athena or Budgets, no CloudFormation
type for a dashboard, and runs functions in Docker only, so a stack holding them was partly
"deployed as a fallback": nothing created, nothing checked. Its package ships moto's backends
for those services (moto-ext), and its plugin system takes services and CloudFormation
resource types from any installed distribution. This module is such a plugin set:

- the ``cognito-idp``, ``apigatewayv2``, ``glue``, ``athena`` and ``budgets`` APIs, answered by
  those moto backends;
- CloudFormation resource providers for AWS::Cognito::UserPool, UserPoolClient, UserPoolDomain,
  AWS::ApiGatewayV2::Api (imported from its OpenAPI body, with the JWT authorizers and route
  authorization that body declares, see ``cfn_translate``) and Stage, AWS::Glue::Database and
  Table, AWS::Athena::WorkGroup and NamedQuery, AWS::Budgets::Budget and
  AWS::CloudWatch::Dashboard (on LocalStack's own CloudWatch);
- custom resources (``Custom::*``): a Python function's own code runs in a child process on
  the request CloudFormation would send, its boto3 calls aimed at LocalStack, and answers as
  in AWS by a PUT to a presigned S3 URL.

``launch_localstack.py`` registers it (an entry-point file on sys.path) before LocalStack starts.
Runs with the LocalStack virtual environment's Python (3.13), never the project's.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
import uuid
import zipfile
from contextlib import suppress
from pathlib import Path
from typing import Any, ClassVar

from cfn_translate import (
    custom_resource_event,
    http_api_auth,
    pool_attributes,
    user_pool_request,
    work_group_request,
)
from localstack import config
from localstack.aws.skeleton import Skeleton
from localstack.aws.spec import load_service
from localstack.services.cloudformation.resource_provider import (
    CloudFormationResourceProviderPlugin,
    OperationStatus,
    ProgressEvent,
    ResourceProvider,
    ResourceRequest,
)
from localstack.services.moto import call_moto
from localstack.services.plugins import Service, aws_provider

# ------------------------------------------------------------------------------------------ services


def _moto_service(name: str) -> Service:
    """A service whose every operation is answered by LocalStack's moto backend."""
    model = load_service(name)
    table = {operation: (lambda context, request: call_moto(context)) for operation in model.operation_names}
    return Service(name=name, skeleton=Skeleton(model, table))


@aws_provider(api="cognito-idp")
def cognito_idp() -> Service:
    return _moto_service("cognito-idp")


@aws_provider(api="apigatewayv2")
def apigatewayv2() -> Service:
    return _moto_service("apigatewayv2")


@aws_provider(api="glue")
def glue() -> Service:
    return _moto_service("glue")


@aws_provider(api="athena")
def athena() -> Service:
    return _moto_service("athena")


@aws_provider(api="budgets")
def budgets() -> Service:
    return _moto_service("budgets")


# ------------------------------------------------------------------------------- resource providers


def _done(model: dict[str, Any]) -> ProgressEvent:
    return ProgressEvent(status=OperationStatus.SUCCESS, resource_model=model)


def _failed(message: str) -> ProgressEvent:
    return ProgressEvent(status=OperationStatus.FAILED, resource_model={}, message=message)


class UserPoolProvider(ResourceProvider[dict]):
    TYPE = "AWS::Cognito::UserPool"
    SCHEMA: ClassVar[dict[str, Any]] = {"primaryIdentifier": ["/properties/UserPoolId"]}

    def create(self, request: ResourceRequest[dict]) -> ProgressEvent:
        idp = request.aws_client_factory.cognito_idp
        create, mfa = user_pool_request(request.desired_state)
        pool_id = idp.create_user_pool(**create)["UserPool"]["Id"]
        if mfa:
            idp.set_user_pool_mfa_config(UserPoolId=pool_id, **mfa)
        return _done({**request.desired_state, **pool_attributes(pool_id, request.region_name, request.account_id)})

    def delete(self, request: ResourceRequest[dict]) -> ProgressEvent:
        model = request.desired_state
        if model.get("DeletionProtection") == "ACTIVE":  # what Cognito answers; moto does not check it
            return _failed(f"user pool {model['UserPoolId']} has deletion protection active")
        request.aws_client_factory.cognito_idp.delete_user_pool(UserPoolId=model["UserPoolId"])
        return _done(model)


class UserPoolClientProvider(ResourceProvider[dict]):
    TYPE = "AWS::Cognito::UserPoolClient"
    SCHEMA: ClassVar[dict[str, Any]] = {"primaryIdentifier": ["/properties/UserPoolId", "/properties/ClientId"]}

    def create(self, request: ResourceRequest[dict]) -> ProgressEvent:
        client = request.aws_client_factory.cognito_idp.create_user_pool_client(**request.desired_state)
        made = client["UserPoolClient"]
        return _done({**request.desired_state, "ClientId": made["ClientId"], "Name": made["ClientName"]})

    def delete(self, request: ResourceRequest[dict]) -> ProgressEvent:
        model = request.desired_state
        idp = request.aws_client_factory.cognito_idp
        with suppress(idp.exceptions.ResourceNotFoundException):  # gone with its pool
            idp.delete_user_pool_client(UserPoolId=model["UserPoolId"], ClientId=model["ClientId"])
        return _done(model)


class UserPoolDomainProvider(ResourceProvider[dict]):
    TYPE = "AWS::Cognito::UserPoolDomain"
    SCHEMA: ClassVar[dict[str, Any]] = {"primaryIdentifier": ["/properties/Domain"]}

    def create(self, request: ResourceRequest[dict]) -> ProgressEvent:
        request.aws_client_factory.cognito_idp.create_user_pool_domain(**request.desired_state)
        return _done(dict(request.desired_state))

    def delete(self, request: ResourceRequest[dict]) -> ProgressEvent:
        model = request.desired_state
        request.aws_client_factory.cognito_idp.delete_user_pool_domain(
            Domain=model["Domain"], UserPoolId=model["UserPoolId"]
        )
        return _done(model)


class HttpApiProvider(ResourceProvider[dict]):
    """An HTTP API from its OpenAPI body, as ImportApi makes it: routes, integrations, authorizers."""

    TYPE = "AWS::ApiGatewayV2::Api"
    SCHEMA: ClassVar[dict[str, Any]] = {"primaryIdentifier": ["/properties/ApiId"]}

    def create(self, request: ResourceRequest[dict]) -> ProgressEvent:
        model = dict(request.desired_state)
        body = model.get("Body")
        if not isinstance(body, dict):
            return _failed("only an HTTP API with an inline OpenAPI Body is made here")
        try:
            authorizers, routes = http_api_auth(body)
        except ValueError as e:
            return _failed(f"Warnings found during import: {e}")
        api_gw = request.aws_client_factory.apigatewayv2
        title = body.get("info", {}).get("title") or request.logical_resource_id
        api_id = api_gw.create_api(Name=title, ProtocolType="HTTP")["ApiId"]  # moto has no ImportApi: create, then
        api = api_gw.reimport_api(ApiId=api_id, Body=json.dumps(body), FailOnWarnings=bool(model.get("FailOnWarnings")))
        ids = {name: api_gw.create_authorizer(ApiId=api_id, **a)["AuthorizerId"] for name, a in authorizers.items()}
        by_key = {r["RouteKey"]: r["RouteId"] for r in api_gw.get_routes(ApiId=api_id)["Items"]}
        for route in routes:
            if route.route_key not in by_key:
                return _failed(f"{route.route_key} has no integration: ImportApi made no route for it")
            extra = (
                {"AuthorizerId": ids[route.authorizer], "AuthorizationScopes": list(route.scopes)}
                if route.authorizer
                else {}
            )
            api_gw.update_route(
                ApiId=api_id, RouteId=by_key[route.route_key], AuthorizationType=route.authorization_type, **extra
            )
        if model.get("Tags"):
            api_gw.tag_resource(ResourceArn=_api_arn(request, api_id), Tags=model["Tags"])
        return _done({**model, "ApiId": api_id, "ApiEndpoint": api["ApiEndpoint"]})

    def delete(self, request: ResourceRequest[dict]) -> ProgressEvent:
        request.aws_client_factory.apigatewayv2.delete_api(ApiId=request.desired_state["ApiId"])
        return _done(request.desired_state)


def _api_arn(request: ResourceRequest[dict], api_id: str) -> str:
    return f"arn:aws:apigateway:{request.region_name}::/apis/{api_id}"


class HttpApiStageProvider(ResourceProvider[dict]):
    TYPE = "AWS::ApiGatewayV2::Stage"
    SCHEMA: ClassVar[dict[str, Any]] = {"primaryIdentifier": ["/properties/StageName"]}

    def create(self, request: ResourceRequest[dict]) -> ProgressEvent:
        request.aws_client_factory.apigatewayv2.create_stage(**request.desired_state)
        return _done(dict(request.desired_state))

    def delete(self, request: ResourceRequest[dict]) -> ProgressEvent:
        model = request.desired_state
        api_gw = request.aws_client_factory.apigatewayv2
        with suppress(api_gw.exceptions.NotFoundException):  # gone with its API
            api_gw.delete_stage(ApiId=model["ApiId"], StageName=model["StageName"])
        return _done(model)


class GlueDatabaseProvider(ResourceProvider[dict]):
    TYPE = "AWS::Glue::Database"
    SCHEMA: ClassVar[dict[str, Any]] = {"primaryIdentifier": ["/properties/DatabaseName"]}

    def create(self, request: ResourceRequest[dict]) -> ProgressEvent:
        model = dict(request.desired_state)
        request.aws_client_factory.glue.create_database(**model)
        return _done({**model, "DatabaseName": model["DatabaseInput"]["Name"]})

    def delete(self, request: ResourceRequest[dict]) -> ProgressEvent:
        request.aws_client_factory.glue.delete_database(Name=request.desired_state["DatabaseName"])
        return _done(request.desired_state)


class GlueTableProvider(ResourceProvider[dict]):
    TYPE = "AWS::Glue::Table"
    SCHEMA: ClassVar[dict[str, Any]] = {"primaryIdentifier": ["/properties/TableName"]}

    def create(self, request: ResourceRequest[dict]) -> ProgressEvent:
        model = dict(request.desired_state)
        request.aws_client_factory.glue.create_table(**model)
        return _done({**model, "TableName": model["TableInput"]["Name"]})

    def delete(self, request: ResourceRequest[dict]) -> ProgressEvent:
        model = request.desired_state
        glue_api = request.aws_client_factory.glue
        with suppress(glue_api.exceptions.EntityNotFoundException):  # gone with its database
            glue_api.delete_table(DatabaseName=model["DatabaseName"], Name=model["TableName"])
        return _done(model)


class AthenaWorkGroupProvider(ResourceProvider[dict]):
    TYPE = "AWS::Athena::WorkGroup"
    SCHEMA: ClassVar[dict[str, Any]] = {"primaryIdentifier": ["/properties/Name"]}

    def create(self, request: ResourceRequest[dict]) -> ProgressEvent:
        model = dict(request.desired_state)
        request.aws_client_factory.athena.create_work_group(**work_group_request(model))
        return _done(model)

    def delete(self, request: ResourceRequest[dict]) -> ProgressEvent:
        request.aws_client_factory.athena.delete_work_group(
            WorkGroup=request.desired_state["Name"], RecursiveDeleteOption=True
        )
        return _done(request.desired_state)


class AthenaNamedQueryProvider(ResourceProvider[dict]):
    TYPE = "AWS::Athena::NamedQuery"
    SCHEMA: ClassVar[dict[str, Any]] = {"primaryIdentifier": ["/properties/NamedQueryId"]}

    def create(self, request: ResourceRequest[dict]) -> ProgressEvent:
        model = dict(request.desired_state)
        made = request.aws_client_factory.athena.create_named_query(**model)
        return _done({**model, "NamedQueryId": made["NamedQueryId"]})

    def delete(self, request: ResourceRequest[dict]) -> ProgressEvent:
        from moto.athena.models import athena_backends  # moto has no DeleteNamedQuery: its backend's own map

        backend = athena_backends[request.account_id][request.region_name]
        backend.named_queries.pop(request.desired_state["NamedQueryId"], None)
        return _done(request.desired_state)


class BudgetProvider(ResourceProvider[dict]):
    TYPE = "AWS::Budgets::Budget"
    SCHEMA: ClassVar[dict[str, Any]] = {"primaryIdentifier": ["/properties/BudgetName"]}

    def create(self, request: ResourceRequest[dict]) -> ProgressEvent:
        model = dict(request.desired_state)
        budget = {**model["Budget"], "BudgetLimit": _limit(model["Budget"].get("BudgetLimit"))}
        request.aws_client_factory.budgets.create_budget(
            AccountId=request.account_id,
            Budget={k: v for k, v in budget.items() if v is not None},
            NotificationsWithSubscribers=model.get("NotificationsWithSubscribers", []),
        )
        return _done({**model, "BudgetName": budget["BudgetName"]})

    def delete(self, request: ResourceRequest[dict]) -> ProgressEvent:
        request.aws_client_factory.budgets.delete_budget(
            AccountId=request.account_id, BudgetName=request.desired_state["BudgetName"]
        )
        return _done(request.desired_state)


def _limit(limit: dict[str, Any] | None) -> dict[str, Any] | None:
    """The API wants the amount as a string; a template's number may arrive as one or the other."""
    return None if limit is None else {**limit, "Amount": str(limit["Amount"])}


class DashboardProvider(ResourceProvider[dict]):
    TYPE = "AWS::CloudWatch::Dashboard"
    SCHEMA: ClassVar[dict[str, Any]] = {"primaryIdentifier": ["/properties/DashboardName"]}

    def create(self, request: ResourceRequest[dict]) -> ProgressEvent:
        model = dict(request.desired_state)
        answer = request.aws_client_factory.cloudwatch.put_dashboard(**model)
        if answer.get("DashboardValidationMessages"):
            return _failed(f"dashboard refused: {answer['DashboardValidationMessages']}")
        return _done(model)

    def delete(self, request: ResourceRequest[dict]) -> ProgressEvent:
        request.aws_client_factory.cloudwatch.delete_dashboards(DashboardNames=[request.desired_state["DashboardName"]])
        return _done(request.desired_state)


# --------------------------------------------------------------------------------- custom resources

RUNNER = """import importlib, json, os, sys
class Context:
    function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
    log_stream_name = "rehearsal"
    aws_request_id = "rehearsal"
    def get_remaining_time_in_millis(self):
        return 30000
module, name = os.environ["_HANDLER"].rsplit(".", 1)
with open(sys.argv[1]) as f:
    getattr(importlib.import_module(module), name)(json.load(f), Context())
"""
RESPONSES = "rehearsal-custom-resource-responses"  # where functions PUT their answers, as CloudFormation's S3 URL


class CustomResourceProvider(ResourceProvider[dict]):
    """Runs a custom resource's Python function on the request CloudFormation would send it."""

    TYPE = "AWS::CloudFormation::CustomResource"
    SCHEMA: ClassVar[dict[str, Any]] = {"primaryIdentifier": ["/properties/PhysicalResourceId"]}

    def create(self, request: ResourceRequest[dict]) -> ProgressEvent:
        return self._call(request, "Create")

    def update(self, request: ResourceRequest[dict]) -> ProgressEvent:
        return self._call(request, "Update")

    def delete(self, request: ResourceRequest[dict]) -> ProgressEvent:
        return self._call(request, "Delete")

    def _call(self, request: ResourceRequest[dict], kind: str) -> ProgressEvent:
        state = dict(request.desired_state)
        previous = dict(request.previous_state or {})
        physical = (previous if kind == "Update" else state).get("PhysicalResourceId")
        props = _properties(state)
        old = _properties(previous) if kind == "Update" else None
        event = custom_resource_event(
            kind, request.resource_type, request.logical_resource_id, request.stack_id, props, physical, old
        )
        try:
            answer = run_function(props["ServiceToken"], event, request.region_name)
        except (OSError, RuntimeError, subprocess.SubprocessError, KeyError, ValueError) as e:
            return _failed(f"{request.logical_resource_id}: {e}")
        if answer.get("Status") != "SUCCESS":
            return _failed(f"{request.logical_resource_id}: {answer.get('Reason') or answer.get('Data')}")
        return _done({**props, "PhysicalResourceId": answer["PhysicalResourceId"], **answer.get("Data", {})})


def _properties(model: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in model.items() if k not in ("PhysicalResourceId", "Data")}


def _client(service: str, region: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(  # type: ignore[call-overload]
        service,
        endpoint_url=config.internal_service_url(),
        region_name=region,
        aws_access_key_id="test",
        aws_secret_access_key="test",  # noqa: S106 LocalStack's documented dummy key
        config=Config(s3={"addressing_style": "path"}),
    )


def run_function(arn: str, event: dict[str, Any], region: str) -> dict[str, Any]:
    """Runs the function's own code and environment, its AWS calls aimed at LocalStack, on ``event``.

    As in AWS, the function answers with an HTTP PUT to the request's ResponseURL: a presigned
    S3 URL on LocalStack, read back once the function returns."""
    function = _client("lambda", region).get_function(FunctionName=arn)
    conf = function["Configuration"]
    if not str(conf.get("Runtime", "")).startswith("python"):
        raise RuntimeError(f"only Python functions run here, not {conf.get('Runtime')}")
    # the presigned URL names LocalStack's external host (a DNS name it serves itself): ask it on loopback
    location = urllib.parse.urlsplit(function["Code"]["Location"])
    loopback = location._replace(netloc=urllib.parse.urlsplit(config.internal_service_url()).netloc)
    with urllib.request.urlopen(urllib.parse.urlunsplit(loopback), timeout=30) as response:  # noqa: S310 http
        code = response.read()
    s3 = _client("s3", region)
    s3.create_bucket(Bucket=RESPONSES)  # no error when it exists (us-east-1)
    key = f"{event['LogicalResourceId']}/{uuid.uuid4()}"
    event = {
        **event,
        "ResponseURL": s3.generate_presigned_url(
            "put_object", Params={"Bucket": RESPONSES, "Key": key}, ExpiresIn=3600
        ),
    }
    with tempfile.TemporaryDirectory(prefix="custom-resource-") as tmp:
        root = Path(tmp)
        zipfile.ZipFile(io.BytesIO(code)).extractall(root / "code")
        (root / "runner.py").write_text(RUNNER)
        (root / "event.json").write_text(json.dumps(event))
        env = {
            "PATH": os.environ.get("PATH", ""),
            **conf.get("Environment", {}).get("Variables", {}),
            "AWS_ENDPOINT_URL": config.internal_service_url(),
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_LAMBDA_FUNCTION_NAME": conf["FunctionName"],
            "_HANDLER": conf["Handler"],
            "PYTHONPATH": str(root / "code"),
        }
        done = subprocess.run(
            [sys.executable, str(root / "runner.py"), str(root / "event.json")],
            env=env,
            cwd=root / "code",
            capture_output=True,
            text=True,
            timeout=conf.get("Timeout", 30),
        )
    try:
        answer: dict[str, Any] = json.loads(s3.get_object(Bucket=RESPONSES, Key=key)["Body"].read())
    except s3.exceptions.NoSuchKey:
        raise RuntimeError(
            f"{conf['FunctionName']} sent no answer (exit {done.returncode}): {done.stderr[-500:]}"
        ) from None
    return answer


# ------------------------------------------------------------------------------ plugin registration


def _plugin(provider: type[ResourceProvider[dict]]) -> type[CloudFormationResourceProviderPlugin]:
    def load(self: Any) -> None:
        self.factory = provider

    name = provider.__name__.replace("Provider", "Plugin")  # the module attribute it is bound to below
    return type(name, (CloudFormationResourceProviderPlugin,), {"name": provider.TYPE, "factory": None, "load": load})


UserPoolPlugin = _plugin(UserPoolProvider)
UserPoolClientPlugin = _plugin(UserPoolClientProvider)
UserPoolDomainPlugin = _plugin(UserPoolDomainProvider)
HttpApiPlugin = _plugin(HttpApiProvider)
HttpApiStagePlugin = _plugin(HttpApiStageProvider)
CustomResourcePlugin = _plugin(CustomResourceProvider)
GlueDatabasePlugin = _plugin(GlueDatabaseProvider)
GlueTablePlugin = _plugin(GlueTableProvider)
AthenaWorkGroupPlugin = _plugin(AthenaWorkGroupProvider)
AthenaNamedQueryPlugin = _plugin(AthenaNamedQueryProvider)
BudgetPlugin = _plugin(BudgetProvider)
DashboardPlugin = _plugin(DashboardProvider)

PLUGINS = (
    UserPoolPlugin,
    UserPoolClientPlugin,
    UserPoolDomainPlugin,
    HttpApiPlugin,
    HttpApiStagePlugin,
    CustomResourcePlugin,
    GlueDatabasePlugin,
    GlueTablePlugin,
    AthenaWorkGroupPlugin,
    AthenaNamedQueryPlugin,
    BudgetPlugin,
    DashboardPlugin,
)
SERVICES = ("cognito_idp", "apigatewayv2", "glue", "athena", "budgets")
ENTRY_POINTS = {
    "localstack.aws.provider": {f"{name.replace('_', '-')}:default": name for name in SERVICES},
    "localstack.cloudformation.resource_providers": {p.name: p.__name__ for p in PLUGINS},
}


def register(directory: Path) -> None:
    """Writes a distribution's metadata naming this module's plugins under ``directory`` (put it on sys.path)."""
    info = directory / "thera_rehearsal_extras-1.0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: thera-rehearsal-extras\nVersion: 1.0\n")
    lines = []
    for group, entries in ENTRY_POINTS.items():
        lines.append(f"[{group}]")
        lines += [f"{name} = {__name__}:{attr}" for name, attr in entries.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
