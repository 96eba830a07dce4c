"""`thera env-vars`: the --env-vars file of `sam local invoke`, checked without Docker.

SAM overrides only the variables the template declares for a function, so the file must hold exactly
those, for every function, resolved (no Ref or Sub left) and pointing at the running stack.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, SAMPLE
from tests.unit.test_cli_stack_choice import control, fake_running_stack  # noqa: F401 - the fixture
from thera.kernel.config import LOCAL_AWS_ENDPOINT_URL, AwsSettings
from thera_local import cli
from thera_local.sam_env import env_vars_file, reach
from thera_local.stack import StackConfig
from thera_local.template import Template, load_yaml

ENDPOINT = "http://127.0.0.1:45471"
IN_CONTAINER = "http://host.docker.internal:45471"  # the emulator, as a Lambda container reaches it
STACK_OVERRIDES = {  # what Stack.start gives the template: the stand-ins on loopback, the local model
    "EmbeddingProvider": "local",
    "LocalEmbeddingModel": "/nonexistent/models/lsa.npz",
    "ApolloBaseUrl": "http://127.0.0.1:33773/api/v1",
    "FirecrawlBaseUrl": "http://127.0.0.1:43923",
    "LocalDnsUrl": "http://127.0.0.1:46051/dns",
    "ExtraCaBundle": "/nonexistent/sites-ca.pem",
}


def declared(doc: dict[str, Any]) -> dict[str, set[str]]:
    """Each function's variables as template.yaml spells them: Globals' and its own (read from the YAML).
    A custom resource's inline handler (ApiAuth=Cognito only) is not a function the local stack runs."""
    globals_vars = set(doc["Globals"]["Function"]["Environment"]["Variables"])
    return {
        logical: globals_vars | set(res["Properties"].get("Environment", {}).get("Variables", {}))
        for logical, res in doc["Resources"].items()
        if res["Type"] == "AWS::Serverless::Function" and "InlineCode" not in res["Properties"]
    }


def unresolved(value: str) -> bool:
    return any(mark in value for mark in ("${", "{sqs_endpoint}", "Fn::", "'Ref'", "127.0.0.1", "localhost"))


def test_every_function_gets_exactly_its_declared_variables_resolved_for_a_container() -> None:
    written = env_vars_file(Template(ROOT / "template.yaml", STACK_OVERRIDES), ENDPOINT)
    expected = declared(load_yaml(ROOT / "template.yaml"))
    assert set(written.doc) == {*expected, "Parameters"}
    for logical, names in expected.items():
        assert set(written.doc[logical]) == names, logical
        for name, value in written.doc[logical].items():
            assert isinstance(value, str) and not unresolved(value), (logical, name, value)
    assert set(written.doc["Parameters"]) == set(
        load_yaml(ROOT / "template.yaml")["Globals"]["Function"]["Environment"]["Variables"]
    )
    health = written.doc["DomainHealthFunction"]
    assert health["CRAWL_QUEUE_URL"] == "http://host.docker.internal:45471/123456789012/thera-dev-crawl"
    assert health["LOCAL_DNS_URL"] == "http://host.docker.internal:46051/dns"
    assert written.doc["ApolloPullFunction"]["APOLLO_BASE_URL"] == "http://host.docker.internal:33773/api/v1"
    assert written.doc["MatcherFunction"]["EMBEDDING_PROVIDER"] == "local"
    assert {logical: env[LOCAL_AWS_ENDPOINT_URL] for logical, env in written.doc.items()} == dict.fromkeys(
        written.doc, IN_CONTAINER
    )
    assert written.notes(ENDPOINT) == []


def test_host_address_names_this_machine_as_the_container_reaches_it() -> None:
    on_host = env_vars_file(Template(ROOT / "template.yaml", STACK_OVERRIDES), ENDPOINT, "127.0.0.1")
    assert on_host.doc["DomainHealthFunction"]["CRAWL_QUEUE_URL"] == f"{ENDPOINT}/123456789012/thera-dev-crawl"
    assert reach("http://localhost:9/x", "192.168.65.254") == "http://192.168.65.254:9/x"
    assert reach("https://127.0.0.1.example.com/", "h") == "https://127.0.0.1.example.com/"  # not loopback


def test_a_template_without_the_endpoint_variable_gets_a_note_that_calls_go_to_aws(tmp_path: Path) -> None:
    text = (ROOT / "template.yaml").read_text()
    declaration = "        LOCAL_AWS_ENDPOINT_URL: !Ref LocalAwsEndpointUrl\n"
    assert text.count(declaration) == 1
    copy = tmp_path / "template.yaml"
    copy.write_text(text.replace(declaration, ""))
    written = env_vars_file(Template(copy, STACK_OVERRIDES), ENDPOINT)
    assert not any(LOCAL_AWS_ENDPOINT_URL in env for env in written.doc.values())
    assert written.notes(ENDPOINT) == [
        "note: template.yaml does not declare LOCAL_AWS_ENDPOINT_URL for every function, and sam local invoke "
        f"passes only declared variables: their AWS calls go to AWS, not to the local emulator ({ENDPOINT})"
    ]


def test_thera_env_vars_writes_the_file_for_the_running_stack(
    tmp_path: Path,
    control: str,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    home = tmp_path / "home"
    fake_running_stack(home, control, StackConfig(home=home, template=ROOT / "template.yaml", data=SAMPLE))
    out = tmp_path / "env.json"
    assert cli.main(["env-vars", "--home", str(home), "--output", str(out)]) == 0
    written = json.loads(out.read_text())
    assert set(written) == {*declared(load_yaml(ROOT / "template.yaml")), "Parameters"}
    assert written["PublisherFunction"]["DATA_LAKE_BUCKET"] == "thera-dev-lake-123456789012-us-east-1"
    assert written["PublisherFunction"][LOCAL_AWS_ENDPOINT_URL] == "http://host.docker.internal:1"  # the stack's
    err = capsys.readouterr().err
    assert f"wrote {out}: 14 functions" in err
    assert "note:" not in err
    assert cli.main(["env-vars", "--home", str(home), "--host-address", "http://x"]) == 2
    assert capsys.readouterr().err == "thera: --host-address takes a host name or IP address, got 'http://x'\n"


def sam_environments(doc: dict[str, dict[str, str]], monkeypatch: pytest.MonkeyPatch) -> dict[str, dict[str, str]]:
    """Each function's container environment as SAM CLI's own code builds it from the --env-vars ``doc``
    (``sam local invoke --env-vars FILE --region us-east-1``, up to the container, which needs Docker)."""
    from samcli.commands.local.lib.local_lambda import LocalLambdaRunner
    from samcli.lib.providers.sam_function_provider import SamFunctionProvider
    from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")  # no credential lookup beyond the environment
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.chdir(ROOT)
    stacks, _ = SamLocalStackProvider.get_stacks("template.yaml")
    provider = SamFunctionProvider(stacks)
    runner = LocalLambdaRunner(
        local_runtime=None,  # only the environment is built, nothing is run
        function_provider=provider,
        cwd=str(ROOT),
        real_path=str(ROOT),
        aws_region="us-east-1",
        env_vars_values=doc,
    )
    environments = {}
    for logical in doc:
        if logical == "Parameters":
            continue
        function = provider.get(logical)
        assert function is not None, logical
        environments[logical] = runner._make_env_vars(function).resolve()
    return environments


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # samtranslator's validator, not ours
def test_sam_clis_own_resolution_gives_each_function_the_files_values(monkeypatch: pytest.MonkeyPatch) -> None:
    """SAM CLI's code that builds a container's environment from --env-vars (no Docker needed for this part):
    every declared variable takes the file's value, the emulator's address included, which the functions' settings
    then name as their endpoint; a name the template does not declare (the standard AWS_ENDPOINT_URL) is dropped."""
    written = env_vars_file(Template(ROOT / "template.yaml", STACK_OVERRIDES), ENDPOINT)
    doc = {**written.doc, "Parameters": {**written.doc["Parameters"], "AWS_ENDPOINT_URL": ENDPOINT}}
    environments = sam_environments(doc, monkeypatch)
    assert set(environments) == set(written.doc) - {"Parameters"}
    for logical, environment in environments.items():
        variables = written.doc[logical]
        assert {k: environment[k] for k in variables} == variables, logical
        assert environment[LOCAL_AWS_ENDPOINT_URL] == IN_CONTAINER, logical
        assert AwsSettings.from_env(environment).endpoint_url == IN_CONTAINER, logical
        assert "AWS_ENDPOINT_URL" not in environment  # undeclared: SAM drops it, whatever the file says
