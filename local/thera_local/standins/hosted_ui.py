"""Cognito's hosted UI on loopback, for the local user pool (moto has no hosted UI).

The authorization code grant with PKCE, as the explorer page uses it in AWS:
``GET /oauth2/authorize?response_type=code&client_id=…&redirect_uri=…&state=…&code_challenge=…
&code_challenge_method=S256`` shows a sign-in form; its ``POST /login`` signs the user in against
the emulator's pool (``AdminInitiateAuth``, so the tokens are the emulator's, signed with the key
its JWKS serves) and redirects to ``redirect_uri?code=…&state=…``. ``POST /oauth2/token``
(``grant_type=authorization_code``, ``code``, ``client_id``, ``redirect_uri``, ``code_verifier``)
answers ``{id_token, access_token, refresh_token, expires_in, token_type}`` once per code, when
``BASE64URL(SHA256(code_verifier))`` is the challenge. The redirect URI must be one of the
client's callback URLs, as Cognito checks.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import html
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from botocore.exceptions import ClientError

from thera_local.cognito import UserPool
from thera_local.emulator import aws_client
from thera_local.loopback import LoopbackServer

CODE_SECONDS = 300  # how long a code may wait to be exchanged (Cognito: 5 minutes)
CORS = {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Headers": "Content-Type"}


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    challenge: str
    tokens: dict[str, Any]
    expires: float


def pkce_challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


class HostedUiStandIn(LoopbackServer):
    thread_name = "hosted-ui"

    def __init__(self, endpoint: str, pool: UserPool | None = None) -> None:
        """``pool`` may be set after start (the stack starts this before it provisions the pool)."""
        super().__init__()
        self.pool, self.endpoint = pool, endpoint
        self._grants: dict[str, _Grant] = {}
        self._lock = threading.Lock()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/oauth2/authorize", self._authorize)
        app.router.add_get("/login", self._authorize)
        app.router.add_post("/login", self._login)
        app.router.add_post("/oauth2/token", self._token)
        app.router.add_options("/oauth2/token", self._preflight)
        return app

    def _callback_urls(self) -> list[str]:
        assert self.pool is not None
        idp = aws_client("cognito-idp", self.endpoint)
        client = idp.describe_user_pool_client(UserPoolId=self.pool.pool_id, ClientId=self.pool.client_id)
        return list(client["UserPoolClient"].get("CallbackURLs", []))

    async def _check_request(self, params: Any) -> str | None:
        """Why an authorization request is refused, or None."""
        if self.pool is None:
            return "no user pool (the stack runs with ApiAuth=IAM)"
        if params.get("response_type") != "code":
            return "unsupported_response_type"
        if params.get("client_id") != self.pool.client_id:
            return "invalid_client"
        if params.get("redirect_uri") not in await asyncio.to_thread(self._callback_urls):
            return "redirect_mismatch"
        if not params.get("code_challenge") or params.get("code_challenge_method") != "S256":
            return "invalid_request: a public client signs in with PKCE (code_challenge, S256)"
        return None

    def _form(self, params: Any, message: str = "") -> web.Response:
        hidden = "".join(
            f'<input type="hidden" name="{k}" value="{html.escape(str(params.get(k, "")))}">'
            for k in ("response_type", "client_id", "redirect_uri", "state", "code_challenge", "code_challenge_method")
        )
        note = f'<p role="alert">{html.escape(message)}</p>' if message else ""
        page = (
            "<!doctype html><html><head><title>Sign in</title></head><body><h1>Sign in</h1>"
            f'{note}<form method="post" action="/login">{hidden}'
            '<label>Email <input name="username" type="email" autocomplete="username"></label>'
            '<label>Password <input name="password" type="password" autocomplete="current-password"></label>'
            '<button type="submit">Sign in</button></form></body></html>'
        )
        return web.Response(text=page, content_type="text/html")

    async def _authorize(self, request: web.Request) -> web.Response:
        refused = await self._check_request(request.query)
        if refused:
            return web.Response(text=refused, status=400)
        return self._form(request.query)

    async def _login(self, request: web.Request) -> web.Response:
        form = await request.post()
        refused = await self._check_request(form)
        if refused:
            return web.Response(text=refused, status=400)
        assert self.pool is not None
        idp = aws_client("cognito-idp", self.endpoint)
        try:
            answer = await asyncio.to_thread(
                idp.admin_initiate_auth,
                UserPoolId=self.pool.pool_id,
                ClientId=self.pool.client_id,
                AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                AuthParameters={"USERNAME": str(form.get("username", "")), "PASSWORD": str(form.get("password", ""))},
            )
        except ClientError:
            return self._form(form, "Incorrect username or password.")
        result = answer["AuthenticationResult"]
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._grants[code] = _Grant(
                client_id=str(form["client_id"]),
                redirect_uri=str(form["redirect_uri"]),
                challenge=str(form["code_challenge"]),
                tokens={
                    "id_token": result["IdToken"],
                    "access_token": result["AccessToken"],
                    "refresh_token": result.get("RefreshToken", ""),
                    "expires_in": result.get("ExpiresIn", 3600),
                    "token_type": "Bearer",
                },
                expires=time.monotonic() + CODE_SECONDS,
            )
        query = {"code": code, **({"state": str(form["state"])} if form.get("state") else {})}
        raise web.HTTPFound(str(form["redirect_uri"]) + "?" + urlencode(query))

    async def _preflight(self, request: web.Request) -> web.Response:
        return web.Response(status=204, headers=CORS)

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        with self._lock:
            grant = self._grants.pop(str(form.get("code", "")), None)  # a code is good once
        if form.get("grant_type") != "authorization_code":
            return web.json_response({"error": "unsupported_grant_type"}, status=400, headers=CORS)
        if (
            grant is None
            or grant.expires < time.monotonic()
            or form.get("client_id") != grant.client_id
            or form.get("redirect_uri") != grant.redirect_uri
            or pkce_challenge(str(form.get("code_verifier", ""))) != grant.challenge
        ):
            return web.json_response({"error": "invalid_grant"}, status=400, headers=CORS)
        return web.json_response(grant.tokens, headers=CORS)
