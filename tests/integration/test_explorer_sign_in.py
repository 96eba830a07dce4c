"""The match explorer with ApiAuth=Cognito in headless Chromium: it signs in through the hosted UI
(the stand-in, code grant with PKCE), then calls the local API with the token and shows results.

The API is the local runtime's (``LocalHttpApi`` with the JWT authorizer, the matcher in its own
execution environment), the tokens the emulator's cognito-idp issues; the index is the one
tests/integration/test_explorer_page.py builds.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import ROOT
from tests.integration.conftest import Aws
from tests.integration.test_explorer_page import _search, lake  # noqa: F401 - the fixture
from thera_local.api import LocalHttpApi
from thera_local.cognito import JwtAuthorizer, UserPool, provision_user_pool, public_routes, set_callback_urls
from thera_local.lambda_env import function_environment
from thera_local.standins.hosted_ui import HostedUiStandIn
from thera_local.template import Template
from thera_local.users import add_user

EMAIL = "ana@example.com"
PASSWORD = "Local-Passw0rd!"


@dataclass
class SignedApi:
    url: str
    hosted_ui: str


def matcher_api_behind_pool(template: Template, pool: UserPool, endpoint: str, tmp_path: Path) -> LocalHttpApi:
    """MatcherFunction's routes (the lake fixture's index, its local embedding model) behind the JWT authorizer
    of ``pool``, the page and its config public, as the local stack serves them with ApiAuth=Cognito; not started."""
    spec = template.functions()["MatcherFunction"]
    env = {
        **function_environment(spec, endpoint),
        "EMBEDDING_PROVIDER": "local",
        "LOCAL_EMBEDDING_MODEL": str(tmp_path / "lsa.npz"),
    }
    routes = [(route, spec, env, tmp_path / "matcher.log") for route in spec.http_routes]
    return LocalHttpApi(
        routes, "dev", authorizer=JwtAuthorizer.for_pool(pool, endpoint), public=public_routes(template)
    )


@pytest.fixture
def signed_api(lake: list[dict[str, Any]], aws: Aws, tmp_path: Path) -> Iterator[SignedApi]:  # noqa: F811
    ui = HostedUiStandIn(aws.endpoint)
    ui.start()
    template = Template(ROOT / "template.yaml", {"ApiAuth": "Cognito", "LocalHostedUiUrl": ui.url})
    pool = provision_user_pool(template, aws.client("cognito-idp"))
    assert pool is not None
    ui.pool = pool
    api = matcher_api_behind_pool(template, pool, aws.endpoint, tmp_path)
    api.start()
    set_callback_urls(aws.client("cognito-idp"), pool, f"{api.url}/")
    add_user(template, aws.endpoint, EMAIL, PASSWORD)
    try:
        yield SignedApi(f"{api.url}/", ui.url)
    finally:
        api.stop()
        ui.stop()


def test_the_explorer_signs_in_through_the_hosted_ui_and_shows_results(signed_api: SignedApi, page: Page) -> None:
    page.goto(signed_api.url)
    expect(page).to_have_url(re.compile(re.escape(f"{signed_api.hosted_ui}/oauth2/authorize?")))
    assert "code_challenge_method=S256" in page.url
    page.fill("input[name=username]", EMAIL)
    page.fill("input[name=password]", "wrong-Passw0rd!")
    page.click("button[type=submit]")
    expect(page.get_by_role("alert")).to_have_text("Incorrect username or password.")
    page.fill("input[name=username]", EMAIL)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")

    # back on the page, the code exchanged and gone from the address; the filters load with the token
    expect(page.locator("#status")).to_have_attribute("data-state", "ready", timeout=30_000)
    assert page.url == signed_api.url
    assert page.evaluate("sessionStorage.getItem('thera.token')").count(".") == 2  # a JWT
    assert page.evaluate("sessionStorage.getItem('thera.verifier')") is None
    assert _search(page) == "done"
    assert page.locator("#results > *").count() > 0

    # a saved shortlist names who saved it, from the token; its CSV downloads with the token too
    page.fill("#save-name", "Signed")
    page.click("#save")
    expect(page.locator("#save-status")).to_have_attribute("data-state", "done", timeout=20_000)
    expect(page.locator("#saved li").first).to_contain_text(EMAIL)
    with page.expect_download() as download:
        page.click("#export")
    assert download.value.suggested_filename.endswith(".csv")
    lines = Path(download.value.path()).read_text().splitlines()
    assert "decided_by" in lines[0] and len(lines) > 1  # the CSV, not the 401 a bare link would fetch

    # the API itself still refuses a call without the token
    assert page.evaluate("fetch('facets').then(r => r.status)") == 401
    # a reload keeps the session: no second trip to the hosted UI
    page.reload()
    expect(page.locator("#status")).to_have_attribute("data-state", "ready", timeout=30_000)
    assert page.url == signed_api.url
