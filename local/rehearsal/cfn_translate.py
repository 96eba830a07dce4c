"""What CloudFormation does with the resources LocalStack community lacks, as plain data (no LocalStack import).

``localstack_extras`` turns these into calls on LocalStack's own moto backends: a user pool, its app
client and domain, an HTTP API imported from its OpenAPI body with the authorizers and route
authorization that body declares (moto's ImportApi keeps routes and integrations only), and the
event CloudFormation sends a custom resource's function. Pure, so tests/unit checks them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# AWS::Cognito::UserPool properties CreateUserPool takes under another name, or not at all
_POOL_RENAMED = {"UserPoolName": "PoolName"}
_POOL_LATER = {"EnabledMfas"}  # SetUserPoolMfaConfig, once the pool exists


def user_pool_request(props: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """CreateUserPool's arguments, and SetUserPoolMfaConfig's (without the pool id) when MFA methods are named."""
    create = {_POOL_RENAMED.get(k, k): v for k, v in props.items() if k not in _POOL_LATER}
    enabled = props.get("EnabledMfas") or []
    if not enabled:
        return create, None
    mfa: dict[str, Any] = {"MfaConfiguration": props.get("MfaConfiguration", "OFF")}
    if "SOFTWARE_TOKEN_MFA" in enabled:
        mfa["SoftwareTokenMfaConfiguration"] = {"Enabled": True}
    if "SMS_MFA" in enabled:
        mfa["SmsMfaConfiguration"] = {"SmsConfiguration": props.get("SmsConfiguration", {})}
    return create, mfa


def pool_attributes(pool_id: str, region: str, account: str) -> dict[str, str]:
    """The attributes GetAtt reads from a user pool."""
    provider = f"cognito-idp.{region}.amazonaws.com/{pool_id}"
    return {
        "UserPoolId": pool_id,
        "Arn": f"arn:aws:cognito-idp:{region}:{account}:userpool/{pool_id}",
        "ProviderName": provider,
        "ProviderURL": f"https://{provider}",
    }


def work_group_request(props: Mapping[str, Any]) -> dict[str, Any]:
    """CreateWorkGroup's arguments from AWS::Athena::WorkGroup's properties (State and RecursiveDeleteOption are
    CloudFormation's own; a parameter's cutoff arrives as a string, the API wants a number)."""
    request: dict[str, Any] = {
        k: v for k, v in props.items() if k not in ("State", "RecursiveDeleteOption", "WorkGroupConfiguration")
    }
    configuration = dict(props.get("WorkGroupConfiguration") or {})
    if "BytesScannedCutoffPerQuery" in configuration:
        configuration["BytesScannedCutoffPerQuery"] = int(configuration["BytesScannedCutoffPerQuery"])
    if configuration:
        request["Configuration"] = configuration
    return request


@dataclass(frozen=True)
class RouteAuth:
    route_key: str  # "POST /match"
    authorization_type: str  # NONE | AWS_IAM | JWT
    authorizer: str | None  # the security scheme's name for JWT
    scopes: tuple[str, ...] = ()


class BodyError(ValueError):
    """An OpenAPI body API Gateway would refuse to import."""


_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "x-amazon-apigateway-any-method"}


def http_api_auth(body: Mapping[str, Any]) -> tuple[dict[str, dict[str, Any]], list[RouteAuth]]:
    """The JWT authorizers an OpenAPI body declares (security scheme name -> CreateAuthorizer's arguments
    but the API id) and each route's authorization, as ImportApi reads them."""
    schemes = body.get("components", {}).get("securitySchemes", {}) or {}
    authorizers: dict[str, dict[str, Any]] = {}
    iam = set()
    for name, scheme in schemes.items():
        if scheme.get("x-amazon-apigateway-authtype") == "awsSigv4":
            iam.add(name)
            continue
        spec = scheme.get("x-amazon-apigateway-authorizer")
        if spec is None:
            raise BodyError(f"security scheme {name} is neither awsSigv4 nor an x-amazon-apigateway-authorizer")
        if str(spec.get("type", "")).lower() != "jwt":
            raise BodyError(f"security scheme {name}: only JWT authorizers are imported here, not {spec.get('type')}")
        jwt = spec.get("jwtConfiguration") or {}
        if not jwt.get("issuer") or not jwt.get("audience"):
            raise BodyError(f"security scheme {name}: a JWT authorizer needs jwtConfiguration.issuer and audience")
        authorizers[name] = {
            "Name": name,
            "AuthorizerType": "JWT",
            "IdentitySource": [spec.get("identitySource", "$request.header.Authorization")],
            "JwtConfiguration": {"Issuer": jwt["issuer"], "Audience": list(jwt["audience"])},
        }
    jwt_names = set(authorizers)
    default = body.get("security")
    routes = []
    for path, operations in (body.get("paths") or {}).items():
        for method, operation in operations.items():
            if method.lower() not in _METHODS:
                continue
            verb = "ANY" if method.lower() == "x-amazon-apigateway-any-method" else method.upper()
            routes.append(_route_auth(f"{verb} {path}", operation.get("security", default), iam, jwt_names))
    return authorizers, routes


def _route_auth(route_key: str, security: Any, iam: set[str], jwt_names: set[str]) -> RouteAuth:
    if not security:
        return RouteAuth(route_key, "NONE", None)
    if len(security) != 1 or len(security[0]) != 1:
        raise BodyError(f"{route_key}: API Gateway takes one security requirement per route, not {security}")
    ((name, scopes),) = security[0].items()
    if name in iam:
        return RouteAuth(route_key, "AWS_IAM", None)
    if name in jwt_names:
        return RouteAuth(route_key, "JWT", name, tuple(scopes or ()))
    raise BodyError(f"{route_key}: security names {name}, which components.securitySchemes does not declare")


def custom_resource_event(
    request_type: str,
    resource_type: str,
    logical_id: str,
    stack_id: str,
    props: Mapping[str, Any],
    physical_id: str | None = None,
    old_props: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The request CloudFormation sends a custom resource's function (its response goes back another way here)."""
    event: dict[str, Any] = {
        "RequestType": request_type,
        "ServiceToken": props["ServiceToken"],
        "ResponseURL": "",
        "StackId": stack_id,
        "RequestId": f"{logical_id}-{request_type.lower()}",
        "LogicalResourceId": logical_id,
        "ResourceType": resource_type,
        "ResourceProperties": dict(props),
    }
    if physical_id is not None:
        event["PhysicalResourceId"] = physical_id
    if old_props is not None:
        event["OldResourceProperties"] = dict(old_props)
    return event
