"""The rehearsal's checks of what LocalStack community lacks: sign-in, the HTTP API, the lake's catalog."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.unit.test_rehearsal import _load, stack_checks, summary

cfn_translate = _load("cfn_translate")
resource_probes = _load("resource_probes")

REGION = "us-east-1"
POOL = "us-east-1_abc"
CLIENT = "client123"
URL = "https://api1.execute-api.us-east-1.amazonaws.com/prod/"


def _choose(node: Any, cognito: bool) -> Any:
    """The template with its UseCognito conditions decided (the only condition inside the API's body)."""
    if isinstance(node, dict):
        if set(node) == {"Fn::If"}:
            name, yes, no = node["Fn::If"]
            assert name == "UseCognito"
            return _choose(yes if cognito else no, cognito)
        return {k: _choose(v, cognito) for k, v in node.items()}
    if isinstance(node, list):
        return [_choose(v, cognito) for v in node]
    return node


@pytest.fixture(scope="module")
def translated() -> dict[str, Any]:
    from tests.conftest import ROOT
    from thera_local.cloudformation import translate

    return translate(ROOT / "template.yaml")


@pytest.fixture(scope="module")
def body(translated: dict[str, Any]) -> dict[str, Any]:
    api = translated["Resources"]["MatcherApi"]
    assert api["Type"] == "AWS::ApiGatewayV2::Api"
    return dict(api["Properties"]["Body"])


def test_with_cognito_every_route_but_the_page_and_its_config_wants_the_pools_token(body: dict[str, Any]) -> None:
    authorizers, routes = cfn_translate.http_api_auth(_choose(body, cognito=True))
    assert list(authorizers) == ["CognitoAuthorizer"]
    assert authorizers["CognitoAuthorizer"]["IdentitySource"] == ["$request.header.Authorization"]
    assert authorizers["CognitoAuthorizer"]["AuthorizerType"] == "JWT"
    kinds = {r.route_key: (r.authorization_type, r.authorizer) for r in routes}
    assert {k for k, (kind, _) in kinds.items() if kind == "NONE"} == {"GET /", "GET /config"}
    assert {v for k, v in kinds.items() if k not in ("GET /", "GET /config")} == {("JWT", "CognitoAuthorizer")}
    assert "POST /feedback/batch" in kinds and "GET /shortlists/{id}/csv" in kinds


def test_with_iam_every_route_wants_sigv4_and_there_is_no_authorizer(body: dict[str, Any]) -> None:
    authorizers, routes = cfn_translate.http_api_auth(_choose(body, cognito=False))
    assert authorizers == {}
    assert {r.authorization_type for r in routes} == {"AWS_IAM"}
    assert len(routes) >= 13


def test_a_body_api_gateway_would_refuse_is_refused_with_its_reason(body: dict[str, Any]) -> None:
    doc = _choose(body, cognito=True)
    undeclared = copy.deepcopy(doc)
    undeclared["paths"]["/match"]["post"]["security"] = [{"Elsewhere": []}]
    with pytest.raises(cfn_translate.BodyError, match="POST /match: security names Elsewhere"):
        cfn_translate.http_api_auth(undeclared)
    lambda_auth = copy.deepcopy(doc)
    lambda_auth["components"]["securitySchemes"]["CognitoAuthorizer"]["x-amazon-apigateway-authorizer"]["type"] = (
        "request"
    )
    with pytest.raises(cfn_translate.BodyError, match="only JWT authorizers"):
        cfn_translate.http_api_auth(lambda_auth)
    no_audience = copy.deepcopy(doc)
    jwt = no_audience["components"]["securitySchemes"]["CognitoAuthorizer"]["x-amazon-apigateway-authorizer"]
    del jwt["jwtConfiguration"]["audience"]
    with pytest.raises(cfn_translate.BodyError, match=r"needs jwtConfiguration\.issuer and audience"):
        cfn_translate.http_api_auth(no_audience)


def test_the_user_pools_mfa_methods_go_to_their_own_call_after_creation() -> None:
    create, mfa = cfn_translate.user_pool_request(
        {"UserPoolName": "thera-prod-users", "MfaConfiguration": "OPTIONAL", "EnabledMfas": ["SOFTWARE_TOKEN_MFA"]}
    )
    assert create == {"PoolName": "thera-prod-users", "MfaConfiguration": "OPTIONAL"}
    assert mfa == {"MfaConfiguration": "OPTIONAL", "SoftwareTokenMfaConfiguration": {"Enabled": True}}
    assert cfn_translate.user_pool_request({"UserPoolName": "p"}) == ({"PoolName": "p"}, None)
    assert cfn_translate.pool_attributes(POOL, REGION, "000000000000")["ProviderURL"] == (
        f"https://cognito-idp.{REGION}.amazonaws.com/{POOL}"
    )


def test_a_custom_resource_update_carries_its_old_properties_and_physical_id() -> None:
    event = cfn_translate.custom_resource_event(
        "Update", "Custom::X", "Urls", "stack-1", {"ServiceToken": "arn:f", "Url": "b"}, "p-1", {"Url": "a"}
    )
    assert event["RequestType"] == "Update" and event["ServiceToken"] == "arn:f"
    assert event["PhysicalResourceId"] == "p-1"
    assert event["OldResourceProperties"] == {"Url": "a"}
    assert event["ResourceProperties"] == {"ServiceToken": "arn:f", "Url": "b"}
    create = cfn_translate.custom_resource_event("Create", "Custom::X", "Urls", "stack-1", {"ServiceToken": "t"})
    assert "PhysicalResourceId" not in create and "OldResourceProperties" not in create


# ------------------------------------------------------------------------------------ judging a stack


def _routes(open_kind: str = "NONE", guarded: str = "JWT") -> dict[str, tuple[str, str | None]]:
    guarded_routes: dict[str, tuple[str, str | None]] = {
        k: (guarded, "a1" if guarded == "JWT" else None) for k in ("POST /match", "GET /shortlists")
    }
    return {"GET /": (open_kind, None), "GET /config": (open_kind, None), **guarded_routes}


def _cognito_state(**changes: Any) -> Any:
    state = stack_checks.ApiAuthState(
        routes=_routes(),
        authorizers={
            "a1": {
                "AuthorizerType": "JWT",
                "JwtConfiguration": {
                    "Issuer": f"https://cognito-idp.{REGION}.amazonaws.com/{POOL}",
                    "Audience": [CLIENT],
                },
            }
        },
        explorer_url=URL,
        pool={
            "Id": POOL,
            "Name": "thera-prod-users",
            "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": True},
            "Policies": {"PasswordPolicy": {"MinimumLength": 12}},
        },
        client={"ClientId": CLIENT, "AllowedOAuthFlows": ["code"], "CallbackURLs": [URL]},
        domain={"Domain": "thera-prod-000000000000"},
    )
    return stack_checks.ApiAuthState(**{**state.__dict__, **changes})


def test_a_cognito_stack_wired_as_meant_passes_and_says_so() -> None:
    state = _cognito_state()
    assert stack_checks.api_auth_problems("Cognito", state, REGION) == []
    line = stack_checks.api_auth_summary("Cognito", state)
    assert "thera-prod-users" in line and "on 2 routes, 2 open" in line


def test_each_way_a_cognito_stack_can_be_miswired_is_named() -> None:
    other_client = _cognito_state(
        authorizers={"a1": {"AuthorizerType": "JWT", "JwtConfiguration": {"Issuer": "x", "Audience": ["other"]}}}
    )
    assert stack_checks.api_auth_problems("Cognito", other_client, REGION) == [
        "GET /shortlists's authorizer trusts x for ['other'], not this pool's client",
        "POST /match's authorizer trusts x for ['other'], not this pool's client",
    ]
    open_match = _cognito_state(routes={**_routes(), "POST /match": ("NONE", None)})
    assert stack_checks.api_auth_problems("Cognito", open_match, REGION) == ["POST /match is NONE, not JWT"]
    stale_callback = _cognito_state(
        client={"ClientId": CLIENT, "AllowedOAuthFlows": ["code"], "CallbackURLs": ["https://localhost/"]}
    )
    (problem,) = stack_checks.api_auth_problems("Cognito", stale_callback, REGION)
    assert "callback URLs ['https://localhost/'] are not the explorer's URL" in problem
    signup = _cognito_state(pool={**_cognito_state().pool, "AdminCreateUserConfig": {}})
    assert stack_checks.api_auth_problems("Cognito", signup, REGION) == ["the user pool lets people sign themselves up"]
    guarded_page = _cognito_state(routes={**_routes(), "GET /": ("JWT", "a1")})
    assert stack_checks.api_auth_problems("Cognito", guarded_page, REGION) == [
        "GET / wants JWT: the page cannot sign in before it loads"
    ]
    assert stack_checks.api_auth_problems("Cognito", _cognito_state(domain=None), REGION) == [
        "ApiAuth=Cognito yet the user pool, its explorer client or its hosted UI domain is missing"
    ]


def test_an_iam_stack_wants_sigv4_on_every_route_and_no_pool() -> None:
    iam = stack_checks.ApiAuthState(routes=_routes("AWS_IAM", "AWS_IAM"), authorizers={}, explorer_url=URL)
    assert stack_checks.api_auth_problems("IAM", iam, REGION) == []
    assert stack_checks.api_auth_summary("IAM", iam) == "ApiAuth=IAM: all 4 routes want SigV4 (AWS_IAM)"
    page_open = stack_checks.ApiAuthState(routes=_routes("NONE", "AWS_IAM"), authorizers={}, explorer_url=URL)
    assert stack_checks.api_auth_problems("IAM", page_open, REGION) == [
        "GET / is NONE, not AWS_IAM",
        "GET /config is NONE, not AWS_IAM",
    ]
    assert stack_checks.api_auth_problems("IAM", stack_checks.ApiAuthState({}, {}, URL), REGION) == [
        "the matcher API has no routes"
    ]


class FakeApiGateway:
    def get_routes(self, ApiId: str) -> dict[str, Any]:
        assert ApiId == "api1"
        return {
            "Items": [
                {"RouteKey": "GET /", "AuthorizationType": "NONE"},
                {"RouteKey": "POST /match", "AuthorizationType": "JWT", "AuthorizerId": "a1"},
            ]
        }

    def get_authorizer(self, ApiId: str, AuthorizerId: str) -> dict[str, Any]:
        return {"AuthorizerId": AuthorizerId, "AuthorizerType": "JWT"}


class FakeCognito:
    def describe_user_pool(self, UserPoolId: str) -> dict[str, Any]:
        return {"UserPool": {"Id": UserPoolId}}

    def describe_user_pool_client(self, UserPoolId: str, ClientId: str) -> dict[str, Any]:
        return {"UserPoolClient": {"UserPoolId": UserPoolId, "ClientId": ClientId}}

    def describe_user_pool_domain(self, Domain: str) -> dict[str, Any]:
        return {"DomainDescription": {"Domain": Domain}}


def test_the_stack_is_read_through_its_resources_physical_ids() -> None:
    clients = {"apigatewayv2": FakeApiGateway(), "cognito-idp": FakeCognito()}
    resources = [
        summary("MatcherApi", "AWS::ApiGatewayV2::Api", physical="api1"),
        summary("UserPool", "AWS::Cognito::UserPool", physical=POOL),
        summary("UserPoolClient", "AWS::Cognito::UserPoolClient", physical=CLIENT),
        summary("UserPoolDomain", "AWS::Cognito::UserPoolDomain", physical="thera-prod-1"),
    ]
    state = resource_probes.read_api_auth(clients.__getitem__, resources, {"MatcherApiUrl": URL})
    assert state.routes == {"GET /": ("NONE", None), "POST /match": ("JWT", "a1")}
    assert state.authorizers == {"a1": {"AuthorizerId": "a1", "AuthorizerType": "JWT"}}
    assert state.pool == {"Id": POOL} and state.client == {"UserPoolId": POOL, "ClientId": CLIENT}
    assert state.domain == {"Domain": "thera-prod-1"} and state.explorer_url == URL
    iam = resource_probes.read_api_auth(clients.__getitem__, resources[:1], {})
    assert iam.pool is None and iam.explorer_url is None


def test_the_cognito_plan_keeps_samconfigs_parameters_and_adds_its_own() -> None:
    plan = stack_checks.StackPlan("prod", "thera-prod", {"Stage": "prod", "LogLevel": "INFO"})
    assert plan.api_auth == "IAM" and not plan.overridden
    cognito = plan.with_parameters(ApiAuth="Cognito")
    assert cognito.parameters == {"Stage": "prod", "LogLevel": "INFO", "ApiAuth": "Cognito"}
    assert cognito.api_auth == "Cognito" and cognito.overridden


# ------------------------------------------------------------------------------------------- the lake


@pytest.fixture(scope="module")
def declared(translated: dict[str, Any]) -> tuple[dict[str, list[tuple[str, str]]], set[str]]:
    result: tuple[dict[str, list[tuple[str, str]]], set[str]] = stack_checks.declared_lake(translated)
    return result


BUCKET = "thera-dev-lake-000000000000"


def _table(name: str, columns: list[tuple[str, str]]) -> dict[str, Any]:
    *data, (partition, kind) = columns
    return {
        "Name": name,
        "Parameters": {"projection.enabled": "true", "storage.location.template": f"s3://{BUCKET}/x/date=${{dt}}/"},
        "PartitionKeys": [{"Name": partition, "Type": kind}],
        "StorageDescriptor": {"Location": f"s3://{BUCKET}/x/", "Columns": [{"Name": n, "Type": t} for n, t in data]},
    }


def _lake(declared: tuple[dict[str, list[tuple[str, str]]], set[str]], **changes: Any) -> Any:
    tables, queries = declared
    state = stack_checks.LakeState(
        database="thera_dev",
        tables={name: _table(name, cols) for name, cols in tables.items()},
        work_group={
            "Name": "thera-dev",
            "Configuration": {
                "EnforceWorkGroupConfiguration": True,
                "BytesScannedCutoffPerQuery": 10**9,
                "ResultConfiguration": {
                    "OutputLocation": f"s3://{BUCKET}/athena-results/",
                    "EncryptionConfiguration": {"EncryptionOption": "SSE_KMS"},
                },
            },
        },
        named_queries={q: {"Name": q, "Database": "thera_dev"} for q in queries},
    )
    return stack_checks.LakeState(**{**state.__dict__, **changes})


def test_the_template_declares_eleven_tables_partitioned_by_day_and_thirteen_queries(
    declared: tuple[dict[str, list[tuple[str, str]]], set[str]],
) -> None:
    tables, queries = declared
    assert len(tables) == 11 and len(queries) == 13
    assert all(columns[-1] == ("dt", "string") for columns in tables.values())


def test_a_catalog_as_declared_passes_and_says_what_it_holds(
    declared: tuple[dict[str, list[tuple[str, str]]], set[str]],
) -> None:
    state = _lake(declared)
    assert stack_checks.lake_problems(declared, state, BUCKET) == []
    assert stack_checks.lake_summary(state) == (
        "Glue database thera_dev with 11 tables (columns and partition projection as declared), workgroup "
        "thera-dev (cutoff 1,000,000,000 bytes, SSE_KMS results), 13 named queries"
    )


def test_each_way_the_deployed_lake_can_differ_is_named(
    declared: tuple[dict[str, list[tuple[str, str]]], set[str]],
) -> None:
    good = _lake(declared)
    tables = dict(good.tables)
    del tables["feedback"]
    tables["ams"] = {**tables["ams"], "StorageDescriptor": {"Location": "s3://elsewhere/ams/", "Columns": []}}
    drift = _lake(declared, tables=tables)
    problems = stack_checks.lake_problems(declared, drift, BUCKET)
    assert problems[0] == "table feedback is missing"
    assert "table ams has columns [('dt', 'string')], not the template's" in problems
    assert f"table ams lies at s3://elsewhere/ams/, outside the lake bucket {BUCKET}" in problems
    loose = _lake(declared, work_group={"Name": "thera-dev", "Configuration": {"EnforceWorkGroupConfiguration": False}})
    assert stack_checks.lake_problems(declared, loose, BUCKET) == [
        "the workgroup does not enforce its settings with a bytes-scanned cutoff",
        f"the workgroup's results are not SSE_KMS under s3://{BUCKET}/athena-results/",
    ]
    queries = {n: q for n, q in good.named_queries.items() if n != "ams_trend"}
    queries["model_runs"] = {"Name": "model_runs", "Database": "default"}
    assert stack_checks.lake_problems(declared, _lake(declared, named_queries=queries), BUCKET) == [
        "1 named queries missing: ams_trend",
        "named queries on another database: model_runs",
    ]


def test_a_work_group_request_drops_cloudformations_own_keys_and_counts_bytes() -> None:
    request = cfn_translate.work_group_request(
        {
            "Name": "thera-dev",
            "State": "ENABLED",
            "RecursiveDeleteOption": True,
            "WorkGroupConfiguration": {
                "BytesScannedCutoffPerQuery": "1000000000",
                "EnforceWorkGroupConfiguration": True,
            },
        }
    )
    assert request == {
        "Name": "thera-dev",
        "Configuration": {"BytesScannedCutoffPerQuery": 1_000_000_000, "EnforceWorkGroupConfiguration": True},
    }


class FakeGlue:
    class Pages:
        def paginate(self, DatabaseName: str) -> list[dict[str, Any]]:
            assert DatabaseName == "thera_dev"
            return [{"TableList": [{"Name": "ams"}]}, {"TableList": [{"Name": "feedback"}]}]

    def get_paginator(self, name: str) -> Pages:
        assert name == "get_tables"
        return self.Pages()


class FakeAthena:
    def list_named_queries(self, WorkGroup: str) -> dict[str, Any]:
        return {"NamedQueryIds": ["q1"]}

    def get_named_query(self, NamedQueryId: str) -> dict[str, Any]:
        return {"NamedQuery": {"Name": "ams_trend", "Database": "thera_dev"}}

    def get_work_group(self, WorkGroup: str) -> dict[str, Any]:
        return {"WorkGroup": {"Name": WorkGroup}}


def test_the_lake_is_read_page_by_page_through_the_stacks_resources() -> None:
    clients = {"glue": FakeGlue(), "athena": FakeAthena()}
    resources = [
        summary("LakeDatabase", "AWS::Glue::Database", physical="thera_dev"),
        summary("LakeWorkGroup", "AWS::Athena::WorkGroup", physical="thera-dev"),
    ]
    state = resource_probes.read_lake(clients.__getitem__, resources)
    assert state.database == "thera_dev" and set(state.tables) == {"ams", "feedback"}
    assert state.work_group == {"Name": "thera-dev"}
    assert state.named_queries == {"ams_trend": {"Name": "ams_trend", "Database": "thera_dev"}}
