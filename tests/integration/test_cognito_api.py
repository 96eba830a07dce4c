"""ApiAuth=Cognito on the local API: tokens the emulator's cognito-idp issues, checked as API Gateway's
JWT authorizer checks them (issuer, audience or client_id, expiry, signature), 401 otherwise."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from botocore.exceptions import ClientError
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.conftest import ROOT
from tests.integration.conftest import API_KEY, FIRECRAWL_KEY
from thera.matching.shortlists import caller_identity
from thera_local.api import LocalHttpApi, http_event
from thera_local.cognito import JwtAuthorizer, UserPool, find_user_pool, public_routes, set_callback_urls
from thera_local.emulator import Emulator, aws_client, provision
from thera_local.lambda_env import function_environment
from thera_local.standins.hosted_ui import HostedUiStandIn, pkce_challenge
from thera_local.template import Template
from thera_local.users import NoUserPool, add_user

PASSWORD = "Local-Passw0rd!"
HOSTED_UI = "http://127.0.0.1:9"


@dataclass
class CognitoStack:
    endpoint: str
    template: Template
    pool: UserPool
    api: LocalHttpApi

    def tokens(self, email: str, client_id: str | None = None, password: str = PASSWORD) -> dict[str, str]:
        idp = aws_client("cognito-idp", self.endpoint)
        answer = idp.admin_initiate_auth(
            UserPoolId=self.pool.pool_id,
            ClientId=client_id or self.pool.client_id,
            AuthFlow="ADMIN_USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": email, "PASSWORD": password},
        )
        return dict(answer["AuthenticationResult"])


@pytest.fixture(scope="module")
def stack(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CognitoStack]:
    req = urllib.request.Request(emulator.endpoint + "/moto-api/reset", method="POST")  # noqa: S310
    urllib.request.urlopen(req, timeout=10).close()  # noqa: S310 - loopback emulator
    overrides = {"ApiAuth": "Cognito", "ApolloBaseUrl": "http://127.0.0.1:9/api/v1", "LocalHostedUiUrl": HOSTED_UI}
    template = Template(ROOT / "template.yaml", overrides)
    secrets = {"ApolloApiKeySecret": API_KEY, "FirecrawlApiKeySecret": FIRECRAWL_KEY}
    pool = provision(template, emulator.endpoint, secrets)
    assert pool is not None
    spec = template.functions()["MatcherFunction"]
    logs = tmp_path_factory.mktemp("logs")
    routes = [(r, spec, function_environment(spec, emulator.endpoint), logs / "matcher.log") for r in spec.http_routes]
    api = LocalHttpApi(
        routes, "dev", authorizer=JwtAuthorizer.for_pool(pool, emulator.endpoint), public=public_routes(template)
    )
    api.start()
    yield CognitoStack(emulator.endpoint, template, pool, api)
    api.stop()


def call(stack: CognitoStack, method: str, path: str, token: str | None = None, body: Any = None) -> tuple[int, Any]:
    headers = {"content-type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{stack.api.url}{path}", data=data, method=method, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=60) as answer:  # noqa: S310 - loopback
            raw = answer.read()
            status = answer.status
    except urllib.error.HTTPError as error:
        raw, status = error.read(), error.code
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode()


def test_the_pool_is_the_templates_and_is_found_again_by_name(stack: CognitoStack) -> None:
    idp = aws_client("cognito-idp", stack.endpoint)
    assert find_user_pool(stack.template, idp) == stack.pool
    pool = idp.describe_user_pool(UserPoolId=stack.pool.pool_id)["UserPool"]
    assert pool["Name"] == "thera-dev-users"
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    client = idp.describe_user_pool_client(UserPoolId=stack.pool.pool_id, ClientId=stack.pool.client_id)
    assert client["UserPoolClient"]["AllowedOAuthFlows"] == ["code"]
    assert "ClientSecret" not in client["UserPoolClient"]


def test_no_token_or_a_malformed_one_is_401(stack: CognitoStack) -> None:
    assert call(stack, "GET", "/shortlists") == (401, {"message": "Unauthorized"})
    assert call(stack, "GET", "/shortlists", token="not-a-jwt")[0] == 401
    status, _ = call(stack, "GET", "/shortlists/abc/csv", token="")
    assert status == 401


def test_the_explorer_page_is_public(stack: CognitoStack) -> None:
    status, body = call(stack, "GET", "/")
    assert status == 200
    assert "<html" in str(body).lower()


def test_how_the_page_signs_in_is_public_and_names_the_emulators_client(stack: CognitoStack) -> None:
    assert call(stack, "GET", "/config") == (
        200,
        {"auth": "Cognito", "client_id": stack.pool.client_id, "hosted_ui_url": HOSTED_UI},
    )


def test_a_valid_id_or_access_token_is_let_through_and_names_the_caller(stack: CognitoStack) -> None:
    email = "ana@example.com"
    add_user(stack.template, stack.endpoint, email, PASSWORD)
    tokens = stack.tokens(email)
    for kind in ("IdToken", "AccessToken"):
        status, body = call(stack, "GET", "/shortlists", token=tokens[kind])
        assert status == 200, (kind, body)
    # what the handler is given: the token's claims where API Gateway puts them, naming the caller
    assert stack.api.authorizer is not None
    context = stack.api.authorizer.check(f"Bearer {tokens['IdToken']}")
    event = http_event("POST", "/shortlists/x/decisions", "", {}, b"{}", "dev", authorizer={"jwt": context})
    assert caller_identity(event["requestContext"]) == email
    assert context["claims"]["aud"] == stack.pool.client_id
    # API Gateway takes the token alone too ("only the token, or the token prefixed with Bearer")
    assert stack.api.authorizer.check(tokens["IdToken"])["claims"]["email"] == email
    with pytest.raises(Exception, match="invalid token"):
        stack.api.authorizer.check(f"Basic {tokens['IdToken']}")


def test_a_token_of_another_client_is_401(stack: CognitoStack) -> None:
    email = "bo@example.com"
    add_user(stack.template, stack.endpoint, email, PASSWORD)
    idp = aws_client("cognito-idp", stack.endpoint)
    other = idp.create_user_pool_client(
        UserPoolId=stack.pool.pool_id, ClientName="other", ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH"]
    )["UserPoolClient"]["ClientId"]
    tokens = stack.tokens(email, client_id=other)
    for kind in ("IdToken", "AccessToken"):
        assert call(stack, "GET", "/shortlists", token=tokens[kind])[0] == 401, kind


def _moto_key() -> RSAKey:
    """The key moto signs with (its private JWKS ships with moto), to forge expired and foreign tokens."""
    from moto.utilities.utils import load_resource

    return RSAKey.import_key(load_resource("cognitoidp/resources/jwks-private.json"))


def test_an_expired_token_or_one_of_another_issuer_is_401(stack: CognitoStack) -> None:
    now = int(time.time())
    claims = {
        "iss": stack.pool.issuer,
        "sub": "s",
        "aud": stack.pool.client_id,
        "token_use": "id",
        "email": "x@example.com",
        "iat": now - 7200,
        "exp": now - 3600,
    }
    header = {"kid": "dummy", "alg": "RS256"}
    assert call(stack, "GET", "/shortlists", token=jwt.encode(header, claims, _moto_key()))[0] == 401
    fresh = {**claims, "exp": now + 600}
    assert call(stack, "GET", "/shortlists", token=jwt.encode(header, fresh, _moto_key()))[0] == 200
    other_issuer = {**fresh, "iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_other"}
    assert call(stack, "GET", "/shortlists", token=jwt.encode(header, other_issuer, _moto_key()))[0] == 401
    not_yet = {**fresh, "nbf": now + 600}
    assert call(stack, "GET", "/shortlists", token=jwt.encode(header, not_yet, _moto_key()))[0] == 401
    foreign_key = RSAKey.generate_key(2048, parameters={"kid": "dummy"})
    assert call(stack, "GET", "/shortlists", token=jwt.encode(header, fresh, foreign_key))[0] == 401


def test_a_route_that_names_scopes_wants_an_access_token_holding_one(stack: CognitoStack) -> None:
    email = "cy@example.com"
    add_user(stack.template, stack.endpoint, email, PASSWORD)
    tokens = stack.tokens(email)
    assert stack.api.authorizer is not None
    granted = stack.api.authorizer.check(f"Bearer {tokens['AccessToken']}", ("aws.cognito.signin.user.admin",))
    assert granted["scopes"] == ["aws.cognito.signin.user.admin"]
    with pytest.raises(Exception, match="scopes"):
        stack.api.authorizer.check(f"Bearer {tokens['AccessToken']}", ("email",))
    with pytest.raises(Exception, match="scopes"):
        stack.api.authorizer.check(f"Bearer {tokens['IdToken']}", ("email",))


def test_a_user_added_without_a_password_signs_in_with_the_one_printed(stack: CognitoStack) -> None:
    password = add_user(stack.template, stack.endpoint, "di@example.com")
    assert len(password) >= 12
    tokens = stack.tokens("di@example.com", password=password)
    assert call(stack, "GET", "/shortlists", token=tokens["IdToken"])[0] == 200
    with pytest.raises(ClientError):  # the pool's policy: twelve characters at least
        add_user(stack.template, stack.endpoint, "ed@example.com", "Sh0rt!")


def test_in_iam_mode_there_is_no_pool_and_no_public_route(stack: CognitoStack) -> None:
    template = Template(ROOT / "template.yaml")
    assert public_routes(template) == set()
    assert find_user_pool(template, aws_client("cognito-idp", stack.endpoint)) is None
    with pytest.raises(NoUserPool):
        add_user(template, stack.endpoint, "fa@example.com")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def test_the_hosted_ui_stand_in_signs_in_with_the_code_grant_and_pkce(stack: CognitoStack) -> None:
    add_user(stack.template, stack.endpoint, "gu@example.com", PASSWORD)
    explorer = f"{stack.api.url}/"
    set_callback_urls(aws_client("cognito-idp", stack.endpoint), stack.pool, explorer)
    ui = HostedUiStandIn(stack.endpoint, stack.pool)
    ui.start()
    try:
        verifier = "v" * 50
        request = {
            "response_type": "code",
            "client_id": stack.pool.client_id,
            "redirect_uri": explorer,
            "state": "s1",
            "code_challenge": pkce_challenge(verifier),
            "code_challenge_method": "S256",
        }
        with urllib.request.urlopen(f"{ui.url}/oauth2/authorize?{urlencode(request)}", timeout=10) as page:  # noqa: S310
            assert 'name="password"' in page.read().decode()
        elsewhere = {**request, "redirect_uri": "http://127.0.0.1:9/"}
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{ui.url}/oauth2/authorize?{urlencode(elsewhere)}", timeout=10)  # noqa: S310
        assert refused.value.code == 400

        def sign_in(password: str) -> tuple[int, str]:
            opener = urllib.request.build_opener(_NoRedirect)
            data = urlencode({**request, "username": "gu@example.com", "password": password}).encode()
            try:
                with opener.open(f"{ui.url}/login", data=data, timeout=10) as answer:
                    return answer.status, answer.read().decode()
            except urllib.error.HTTPError as error:
                return error.code, error.headers["Location"]

        status, text = sign_in("wrong-Passw0rd!")
        assert status == 200 and "Incorrect username or password." in text
        status, location = sign_in(PASSWORD)
        assert status == 302 and location.startswith(explorer)
        query = parse_qs(urlsplit(location).query)
        assert query["state"] == ["s1"]

        def exchange(code: str, code_verifier: str) -> tuple[int, dict[str, Any]]:
            form = {
                "grant_type": "authorization_code",
                "client_id": stack.pool.client_id,
                "code": code,
                "redirect_uri": explorer,
                "code_verifier": code_verifier,
            }
            try:
                with urllib.request.urlopen(f"{ui.url}/oauth2/token", urlencode(form).encode(), timeout=10) as a:  # noqa: S310
                    return a.status, json.loads(a.read())
            except urllib.error.HTTPError as error:
                return error.code, json.loads(error.read())

        code = query["code"][0]
        assert exchange(code, "x" * 50) == (400, {"error": "invalid_grant"})  # the wrong verifier spends the code
        _, location = sign_in(PASSWORD)
        code = parse_qs(urlsplit(location).query)["code"][0]
        status, tokens = exchange(code, verifier)
        assert status == 200 and tokens["token_type"] == "Bearer"
        assert exchange(code, verifier)[0] == 400  # once only
        assert call(stack, "GET", "/shortlists", token=tokens["id_token"])[0] == 200
        assert call(stack, "GET", "/shortlists", token=tokens["access_token"])[0] == 200
    finally:
        ui.stop()
