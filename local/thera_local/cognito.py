"""ApiAuth=Cognito on this machine: the template's user pool in the emulator, and API Gateway's JWT authorizer.

moto's CloudFormation has no Cognito resources, so the pool, its domain and the explorer's
client are created through moto's cognito-idp API from the template's properties; they are
found again by their names (another process, such as ``thera user add``, looks them up the same
way). moto signs the tokens it issues (RS256, one key) and serves the key set at
``<endpoint>/<pool id>/.well-known/jwks.json``; its issuer is the one AWS writes,
``https://cognito-idp.<region>.amazonaws.com/<pool id>``.

``JwtAuthorizer`` checks a request as an HTTP API's JWT authorizer does: a token in
``Authorization`` (alone or after ``Bearer``), signed by a key of the pool, ``iss`` the pool,
``aud`` (ID token) or ``client_id`` (access token) the client, ``exp`` and ``nbf``, and, when a
route names scopes, an access token holding one of them. Anything else is a 401.
"""

from __future__ import annotations

import json
import time
import urllib.request
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from thera_local.template import REGION, Template

# CreateUserPool / CreateUserPoolClient parameters taken from the template as they are
_POOL_PROPERTIES = (
    "UsernameAttributes",
    "AutoVerifiedAttributes",
    "AdminCreateUserConfig",
    "Policies",
    "AccountRecoverySetting",
    "MfaConfiguration",
    "DeletionProtection",
)
_CLIENT_PROPERTIES = (
    "ClientName",
    "GenerateSecret",
    "AllowedOAuthFlowsUserPoolClient",
    "AllowedOAuthFlows",
    "AllowedOAuthScopes",
    "SupportedIdentityProviders",
    "PreventUserExistenceErrors",
    "EnableTokenRevocation",
    "AccessTokenValidity",
    "IdTokenValidity",
    "RefreshTokenValidity",
    "TokenValidityUnits",
)
# what thera user add and the tests sign in with (the hosted UI's code grant in AWS)
_LOCAL_AUTH_FLOWS = ["ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]


@dataclass(frozen=True)
class UserPool:
    pool_id: str
    client_id: str
    region: str = REGION

    @property
    def issuer(self) -> str:
        return f"https://cognito-idp.{self.region}.amazonaws.com/{self.pool_id}"


def _logical(template: Template, kind: str) -> str | None:
    found = template.of_type(kind)
    if len(found) > 1:
        raise ValueError(f"the local runtime handles one {kind}, the template has {sorted(found)}")
    return next(iter(found), None)


def _one(template: Template, kind: str) -> dict[str, Any] | None:
    logical = _logical(template, kind)
    return template.resolve(template.resources[logical]["Properties"]) if logical else None


def provision_user_pool(template: Template, idp: Any) -> UserPool | None:
    """The template's user pool, domain and client in the emulator (None when ApiAuth is IAM)."""
    pool_props = _one(template, "AWS::Cognito::UserPool")
    client_props = _one(template, "AWS::Cognito::UserPoolClient")
    if pool_props is None or client_props is None:
        return None
    pool_id = idp.create_user_pool(
        PoolName=pool_props["UserPoolName"], **{k: pool_props[k] for k in _POOL_PROPERTIES if k in pool_props}
    )["UserPool"]["Id"]
    domain = _one(template, "AWS::Cognito::UserPoolDomain")
    if domain is not None:
        idp.create_user_pool_domain(UserPoolId=pool_id, Domain=domain["Domain"])
    client = {k: client_props[k] for k in _CLIENT_PROPERTIES if k in client_props}
    client["ExplicitAuthFlows"] = sorted({*client_props.get("ExplicitAuthFlows", []), *_LOCAL_AUTH_FLOWS})
    client_id = idp.create_user_pool_client(UserPoolId=pool_id, **client)["UserPoolClient"]["ClientId"]
    # a Ref to the pool or the client (a function's environment) resolves to the emulator's ids
    for kind, physical in (("UserPool", pool_id), ("UserPoolClient", client_id)):
        logical = _logical(template, f"AWS::Cognito::{kind}")
        assert logical is not None
        template.set_physical(logical, physical)
    domain_logical = _logical(template, "AWS::Cognito::UserPoolDomain")
    if domain is not None and domain_logical is not None:
        template.set_physical(domain_logical, str(domain["Domain"]))  # Ref of a domain is its prefix
    return UserPool(pool_id, client_id)


def find_user_pool(template: Template, idp: Any) -> UserPool | None:
    """The pool ``provision_user_pool`` created, by the template's pool and client names."""
    pool_props = _one(template, "AWS::Cognito::UserPool")
    client_props = _one(template, "AWS::Cognito::UserPoolClient")
    if pool_props is None or client_props is None:
        return None
    pools = idp.list_user_pools(MaxResults=60)["UserPools"]
    for pool_id in [p["Id"] for p in pools if p["Name"] == pool_props["UserPoolName"]]:
        clients = idp.list_user_pool_clients(UserPoolId=pool_id, MaxResults=60)["UserPoolClients"]
        for client in clients:
            if client["ClientName"] == client_props["ClientName"]:
                return UserPool(pool_id, client["ClientId"])
    return None


def set_callback_urls(idp: Any, pool: UserPool, url: str) -> None:
    """What the custom resource ExplorerCallbackUrls does in AWS: the explorer's URL as the client's
    callback and logout URL, the client's other settings kept (the update resets what it omits)."""
    client = idp.describe_user_pool_client(UserPoolId=pool.pool_id, ClientId=pool.client_id)["UserPoolClient"]
    kept = {k: client[k] for k in (*_CLIENT_PROPERTIES, "ExplicitAuthFlows") if k in client and k != "GenerateSecret"}
    idp.update_user_pool_client(
        UserPoolId=pool.pool_id, ClientId=pool.client_id, **kept, CallbackURLs=[url], LogoutURLs=[url]
    )


def public_routes(template: Template) -> set[tuple[str, str]]:
    """(METHOD, path) of the HTTP API routes whose security is empty for these parameters."""
    public = set()
    for res in template.of_type("AWS::Serverless::HttpApi").values():
        paths = res.get("Properties", {}).get("DefinitionBody", {}).get("paths", {})
        for path, methods in paths.items():
            for method, operation in methods.items():
                if template.resolve(operation.get("security")) == []:
                    public.add((method.upper(), path))
    return public


class Unauthorized(Exception):
    pass


class JwtAuthorizer:
    """An HTTP API JWT authorizer for one issuer and one audience (the explorer's client)."""

    def __init__(self, issuer: str, audience: str, keys: KeySet, leeway: int = 0) -> None:
        self.issuer, self.audience, self.keys, self.leeway = issuer, audience, keys, leeway

    @classmethod
    def for_pool(cls, pool: UserPool, endpoint: str) -> JwtAuthorizer:
        url = f"{endpoint}/{pool.pool_id}/.well-known/jwks.json"
        with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 - the loopback emulator
            keys = KeySet.import_key_set(json.loads(answer.read()))
        return cls(pool.issuer, pool.client_id, keys)

    def check(self, authorization: str | None, scopes: tuple[str, ...] = ()) -> dict[str, Any]:
        """The request context's ``authorizer.jwt`` for a valid token; raises Unauthorized otherwise."""
        # the header holds the token alone or after "Bearer " (AWS: "only the token, or the token
        # prefixed with Bearer"); thera --stack NAME match --token sends it alone
        value = (authorization or "").strip()
        scheme, _, rest = value.partition(" ")
        token = rest if scheme.lower() == "bearer" else value
        if not token.strip():
            raise Unauthorized("no token")
        try:
            claims = jwt.decode(token.strip(), self.keys, algorithms=["RS256"]).claims
            jwt.JWTClaimsRegistry(
                now=int(time.time()),
                leeway=self.leeway,
                iss={"essential": True, "value": self.issuer},
                exp={"essential": True},
            ).validate(claims)
        except (JoseError, ValueError) as error:
            raise Unauthorized(f"invalid token: {error}") from error
        use = claims.get("token_use")
        audience = claims.get("aud") if use == "id" else claims.get("client_id") if use == "access" else None
        if audience != self.audience:
            raise Unauthorized("token of another client")
        granted = str(claims.get("scope", "")).split() if use == "access" else []
        if scopes and not set(scopes) & set(granted):
            raise Unauthorized("token lacks the route's scopes")
        # API Gateway hands claims over as strings, lists as "[a b]"
        as_text = {
            k: v if isinstance(v, str) else f"[{' '.join(map(str, v))}]" if isinstance(v, list) else json.dumps(v)
            for k, v in claims.items()
        }
        return {"claims": as_text, "scopes": granted or None}
