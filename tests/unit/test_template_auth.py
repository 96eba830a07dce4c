"""The matcher API's two ways of knowing its callers (parameter ApiAuth): IAM, or a Cognito user pool."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.conftest import ROOT
from thera_local.cloudformation import translate
from thera_local.template import Template

IAM = Template(ROOT / "template.yaml")
COGNITO = Template(ROOT / "template.yaml", {"ApiAuth": "Cognito"})
COGNITO_ONLY = ("UserPool", "UserPoolDomain", "UserPoolClient", "ExplorerCallbackUrls", "ExplorerCallbackUrlsFunction")


def routes(template: Template) -> list[tuple[str, str]]:
    return [(r.path, r.method.lower()) for r in template.functions()["MatcherFunction"].http_routes]


def body(template: Template) -> dict[str, Any]:
    return dict(template.resources["MatcherApi"]["Properties"]["DefinitionBody"])


def test_iam_is_the_default_and_creates_no_user_pool() -> None:
    assert IAM.params["ApiAuth"] == "IAM"
    assert IAM.doc["Parameters"]["ApiAuth"]["AllowedValues"] == ["IAM", "Cognito"]
    assert not set(COGNITO_ONLY) & set(IAM.resources)
    assert set(COGNITO_ONLY) <= set(COGNITO.resources)


@pytest.mark.parametrize("template", [IAM, COGNITO], ids=["IAM", "Cognito"])
def test_every_route_of_the_matcher_is_in_the_api_body_with_its_authorization(template: Template) -> None:
    paths = body(template)["paths"]
    assert sorted(routes(template)) == sorted((p, m) for p, ms in paths.items() for m in ms)
    for path, method in routes(template):
        security = template.resolve(paths[path][method]["security"])
        if template is IAM:
            assert security == [{"AWS_IAM": []}], (path, method)
        elif path in ("/", "/config"):  # the page and how it signs in are public
            assert security == [], (path, method)
        else:
            assert security == [{"CognitoAuthorizer": []}], (path, method)


def test_iam_mode_renders_what_sam_rendered_from_the_iam_default_authorizer() -> None:
    schemes = IAM.resolve(body(IAM)["components"]["securitySchemes"])
    assert schemes == {
        "AWS_IAM": {
            "type": "apiKey",
            "name": "Authorization",
            "in": "header",
            "x-amazon-apigateway-authtype": "awsSigv4",
        }
    }


def test_cognito_mode_checks_tokens_of_the_pool_for_the_explorer_client() -> None:
    raw = COGNITO.resources["MatcherApi"]["Properties"]["DefinitionBody"]["components"]["securitySchemes"]
    authorizer = raw["Fn::If"][1]["CognitoAuthorizer"]["x-amazon-apigateway-authorizer"]
    assert authorizer["type"] == "jwt"
    assert authorizer["identitySource"] == "$request.header.Authorization"
    jwt = authorizer["jwtConfiguration"]
    assert jwt["issuer"] == {"Fn::Sub": "https://cognito-idp.${AWS::Region}.amazonaws.com/${UserPool}"}
    assert jwt["audience"] == [{"Ref": "UserPoolClient"}]


def test_only_admins_add_users_who_sign_in_with_their_email_and_a_sound_password() -> None:
    pool = COGNITO.resources["UserPool"]["Properties"]
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert pool["UsernameAttributes"] == ["email"]
    policy = pool["Policies"]["PasswordPolicy"]
    assert policy["MinimumLength"] >= 12
    assert all(policy[f"Require{kind}"] for kind in ("Lowercase", "Uppercase", "Numbers", "Symbols"))


def test_the_explorer_client_is_public_and_uses_the_code_grant() -> None:
    client = COGNITO.resources["UserPoolClient"]["Properties"]
    assert client["GenerateSecret"] is False  # a public client: Cognito then insists on PKCE for the code grant
    assert client["AllowedOAuthFlows"] == ["code"]
    assert client["AllowedOAuthFlowsUserPoolClient"] is True
    assert sorted(client["AllowedOAuthScopes"]) == ["email", "openid", "profile"]
    # a placeholder Cognito insists on; ExplorerCallbackUrls sets the explorer's URL (naming the API here
    # would close a cycle: the API names the client as its audience)
    assert client["CallbackURLs"] == ["https://localhost/"]


def test_the_callback_url_is_the_explorer_url_with_its_slash() -> None:
    url = COGNITO.resolve(COGNITO.resources["ExplorerCallbackUrls"]["Properties"]["Url"])
    assert url == COGNITO.resolve(COGNITO.doc["Outputs"]["ExplorerUrl"]["Value"])
    assert url.endswith(f"/{COGNITO.params['Stage']}/")
    for name in ("UserPoolId", "UserPoolClientId", "HostedUiDomain"):
        assert COGNITO.doc["Outputs"][name]["Condition"] == "UseCognito"


def _references(value: Any) -> set[str]:
    if isinstance(value, list):
        return set().union(*(_references(v) for v in value)) if value else set()
    if not isinstance(value, dict):
        return set()
    found: set[str] = set()
    for key, arg in value.items():
        if key == "Ref":
            found.add(str(arg))
        elif key == "Fn::GetAtt":
            found.add(str(arg[0] if isinstance(arg, list) else str(arg).split(".")[0]))
        elif key == "Fn::Sub":
            text = arg[0] if isinstance(arg, list) else arg
            found |= {m.split(".")[0] for m in re.findall(r"\$\{([^}!]+)\}", str(text))}
            found |= _references(arg[1]) if isinstance(arg, list) else set()
        else:
            found |= _references(arg)
    return found


def test_the_translated_template_has_no_dependency_cycle() -> None:
    """SAM puts the JWT authorizer in the API's body: the API depends on the client. The client
    must not depend on the API in turn (CloudFormation refuses a cycle)."""
    resources = translate(ROOT / "template.yaml")["Resources"]
    edges = {
        name: {d for d in _references(res) | set(_as_list(res.get("DependsOn"))) if d in resources and d != name}
        for name, res in resources.items()
    }
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, " -> ".join((*path, name))
        if name in done:
            return
        for dep in edges[name]:
            visit(dep, (*path, name))
        done.add(name)

    for name in edges:
        visit(name, ())
    assert "UserPoolClient" in edges["MatcherApi"]


def _as_list(value: Any) -> list[str]:
    return [] if value is None else [value] if isinstance(value, str) else list(value)


def test_the_matcher_learns_how_the_page_signs_in_from_its_environment() -> None:
    iam = IAM.functions()["MatcherFunction"].environment
    assert (iam["API_AUTH"], iam["USER_POOL_CLIENT_ID"], iam["HOSTED_UI_URL"]) == ("IAM", "", "")
    cognito = COGNITO.functions()["MatcherFunction"].environment
    assert cognito["API_AUTH"] == "Cognito"
    assert cognito["USER_POOL_CLIENT_ID"] == COGNITO.physical("UserPoolClient")
    domain = COGNITO.physical("UserPoolDomain")
    assert cognito["HOSTED_UI_URL"] == f"https://{domain}.auth.us-east-1.amazoncognito.com"
    local = Template(ROOT / "template.yaml", {"ApiAuth": "Cognito", "LocalHostedUiUrl": "http://127.0.0.1:9"})
    assert local.functions()["MatcherFunction"].environment["HOSTED_UI_URL"] == "http://127.0.0.1:9"
