"""Does each physical resource answer its own service's describe call?"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from stack_checks import ApiAuthState, LakeState

Probe = Callable[[Callable[[str], Any], str], object]

PROBES: dict[str, Probe] = {
    "AWS::S3::Bucket": lambda c, pid: c("s3").head_bucket(Bucket=pid),
    "AWS::SQS::Queue": lambda c, pid: c("sqs").get_queue_attributes(QueueUrl=pid, AttributeNames=["QueueArn"]),
    "AWS::DynamoDB::Table": lambda c, pid: c("dynamodb").describe_table(TableName=pid),
    "AWS::Lambda::Function": lambda c, pid: c("lambda").get_function(FunctionName=pid),
    "AWS::Lambda::LayerVersion": lambda c, pid: c("lambda").get_layer_version_by_arn(Arn=pid),
    "AWS::Lambda::EventSourceMapping": lambda c, pid: c("lambda").get_event_source_mapping(UUID=pid),
    "AWS::IAM::Role": lambda c, pid: c("iam").get_role(RoleName=pid),
    "AWS::KMS::Key": lambda c, pid: c("kms").describe_key(KeyId=pid),
    "AWS::KMS::Alias": lambda c, pid: c("kms").describe_key(KeyId=pid),
    "AWS::SNS::Topic": lambda c, pid: c("sns").get_topic_attributes(TopicArn=pid),
    "AWS::SecretsManager::Secret": lambda c, pid: c("secretsmanager").describe_secret(SecretId=pid),
    "AWS::StepFunctions::StateMachine": lambda c, pid: c("stepfunctions").describe_state_machine(stateMachineArn=pid),
    "AWS::Scheduler::Schedule": lambda c, pid: c("scheduler").get_schedule(Name=pid),
    "AWS::ApiGatewayV2::Api": lambda c, pid: c("apigatewayv2").get_api(ApiId=pid),
    "AWS::Cognito::UserPool": lambda c, pid: c("cognito-idp").describe_user_pool(UserPoolId=pid),
    "AWS::Glue::Database": lambda c, pid: c("glue").get_database(Name=pid),
    "AWS::Athena::WorkGroup": lambda c, pid: c("athena").get_work_group(WorkGroup=pid),
    "AWS::Athena::NamedQuery": lambda c, pid: c("athena").get_named_query(NamedQueryId=pid),
    "AWS::CloudWatch::Dashboard": lambda c, pid: c("cloudwatch").get_dashboard(DashboardName=pid),
    "AWS::Logs::LogGroup": lambda c, pid: _one(
        g for g in c("logs").describe_log_groups(logGroupNamePrefix=pid)["logGroups"] if g["logGroupName"] == pid
    ),
    "AWS::CloudWatch::Alarm": lambda c, pid: _one(c("cloudwatch").describe_alarms(AlarmNames=[pid])["MetricAlarms"]),
    "AWS::Budgets::Budget": lambda c, pid: c("budgets").describe_budget(
        AccountId=c("sts").get_caller_identity()["Account"], BudgetName=pid
    ),
    "AWS::Cognito::UserPoolDomain": lambda c, pid: _one(
        [d] if (d := c("cognito-idp").describe_user_pool_domain(Domain=pid)["DomainDescription"]) else []
    ),
}


def _one(items: Iterable[Any]) -> Any:
    found = list(items)
    if not found:
        raise LookupError("not found")
    return found[0]


def probe_resources(
    client: Callable[[str], Any], resources: Iterable[Mapping[str, Any]], faked: set[str]
) -> tuple[int, list[str]]:
    """Describes every resource of a probed type; returns how many answered and the ones that did not."""
    answered, absent = 0, []
    for r in resources:
        probe = PROBES.get(r["ResourceType"])
        if probe is None or r["LogicalResourceId"] in faked:
            continue
        try:
            probe(client, r["PhysicalResourceId"])
            answered += 1
        except Exception as e:  # any client error means the service does not know the resource
            absent.append(f"{r['LogicalResourceId']} ({type(e).__name__})")
    return answered, absent


def _by_type(resources: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Resource type -> physical id (the types read here occur once in a stack)."""
    return {r["ResourceType"]: r["PhysicalResourceId"] for r in resources}


def read_api_auth(
    client: Callable[[str], Any], resources: Iterable[Mapping[str, Any]], outputs: Mapping[str, str]
) -> ApiAuthState:
    """The matcher API's routes and authorizers, and the user pool, client and domain if the stack has them."""
    physical = _by_type(resources)
    api = client("apigatewayv2")
    api_id = physical["AWS::ApiGatewayV2::Api"]
    routes = {
        r["RouteKey"]: (r.get("AuthorizationType", "NONE"), r.get("AuthorizerId"))
        for r in api.get_routes(ApiId=api_id)["Items"]
    }
    authorizers = {
        a: api.get_authorizer(ApiId=api_id, AuthorizerId=a) for a in sorted({a for _, a in routes.values() if a})
    }
    pool_id = physical.get("AWS::Cognito::UserPool")
    client_id = physical.get("AWS::Cognito::UserPoolClient")
    domain = physical.get("AWS::Cognito::UserPoolDomain")
    idp = client("cognito-idp") if pool_id else None
    return ApiAuthState(
        routes,
        authorizers,
        outputs.get("MatcherApiUrl"),
        pool=idp.describe_user_pool(UserPoolId=pool_id)["UserPool"] if idp else None,
        client=idp.describe_user_pool_client(UserPoolId=pool_id, ClientId=client_id)["UserPoolClient"]
        if idp and client_id
        else None,
        domain=idp.describe_user_pool_domain(Domain=domain)["DomainDescription"] if idp and domain else None,
    )


def read_lake(client: Callable[[str], Any], resources: Iterable[Mapping[str, Any]]) -> LakeState:
    """The stack's Glue database with its tables, its Athena workgroup and the named queries in it."""
    physical = _by_type(resources)
    glue, athena = client("glue"), client("athena")
    database = physical["AWS::Glue::Database"]
    tables = {
        t["Name"]: t
        for page in glue.get_paginator("get_tables").paginate(DatabaseName=database)
        for t in page["TableList"]
    }
    work_group = physical["AWS::Athena::WorkGroup"]
    ids = athena.list_named_queries(WorkGroup=work_group)["NamedQueryIds"]
    queries = [athena.get_named_query(NamedQueryId=i)["NamedQuery"] for i in ids]
    return LakeState(
        database,
        tables,
        athena.get_work_group(WorkGroup=work_group)["WorkGroup"],
        {q["Name"]: q for q in queries},
    )
