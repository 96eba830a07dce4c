"""The one-shot commands: match, invoke, env-vars, down and reset."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from thera_local.cli.common import UsageError, _config, _err, _function, default_home, project_root
from thera_local.cli.resources import StackResources
from thera_local.lambda_env import invoke_once
from thera_local.stack import (
    ensure_stack,
    http_call,
    stop_stack,
)


def cmd_match(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"challenge_text": args.challenge, "top_k": args.top}
    body.update({k: v for k, v in (("industry", args.industry), ("country", args.country)) if v})
    if getattr(args, "stack", None):
        explorer = StackResources.deployed(args.stack).outputs.get("MatcherApiUrl", "").rstrip("/")
        if not explorer:
            raise UsageError(f"stack {args.stack} has no MatcherApiUrl output")
        status, answer = api_call(explorer + "/match", body, args.token)
    else:
        info = ensure_stack(_config(args), echo=_err)  # stdout is the answer (--json)
        if not info.api:
            _err("thera: the template declares no HTTP API")
            return 2
        explorer = info.api
        status, answer = http_call("POST", info.api + "/match", body)
    if status != 200:
        _err(f"thera: {status}: {answer.get('error') or answer.get('message') or answer}")
        return 1
    left = answer.get("below_floor") or 0
    floor = f"{left} weaker {'match' if left == 1 else 'matches'} left out (score under {answer.get('min_score')})"
    if args.json:
        print(json.dumps(answer["matches"], indent=2))
        if left:
            _err(floor)  # stdout stays the JSON list
        return 0
    print(f"challenge {answer['challenge_id']} · model {answer['model_version']} · index {answer['index_version']}")
    for m in answer["matches"]:
        print(f"{m['rank']:>3}. {m['score']:.3f}  {m['name']} ({m['domain']})  {', '.join(m['industries'])}")
        for reason in m["reasons"]:
            print(f"       - {reason}")
    if left:
        print(floor)
    print(f"explorer: {explorer}/")
    return 0


def api_call(url: str, body: Any, token: str | None) -> tuple[int, Any]:
    """POST to a deployed matcher API: with a Cognito ID token, else SigV4-signed (execute-api) with
    boto3's default credentials, as ApiAuth=IAM requires."""
    import urllib.error
    import urllib.request

    import boto3
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    if not url.startswith(("https://", "http://127.0.0.1:")):
        raise UsageError(f"refusing to send a signed request to {url}")
    data = json.dumps(body).encode()
    request = AWSRequest("POST", url, data=data, headers={"Content-Type": "application/json"})
    if token:
        request.headers["Authorization"] = token
    else:
        session = boto3.session.Session()
        credentials = session.get_credentials()
        if credentials is None:
            raise UsageError("no AWS credentials to sign the request with (or pass --token, for ApiAuth=Cognito)")
        SigV4Auth(credentials, "execute-api", session.region_name or "us-east-1").add_auth(request)
    prepared = urllib.request.Request(url, data=data, method="POST", headers=dict(request.headers.items()))  # noqa: S310
    try:
        with urllib.request.urlopen(prepared, timeout=60) as resp:  # noqa: S310 - https or loopback, checked above
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read() or b"null")
        except ValueError:
            return exc.code, {"message": exc.reason}
    except urllib.error.URLError as exc:
        raise UsageError(f"{url}: {exc.reason}") from exc


def cmd_invoke(args: argparse.Namespace) -> int:
    config = _config(args)
    info = ensure_stack(config, echo=_err)
    spec = _function(info.template_obj(), args.function)
    event = json.loads(Path(args.event).read_text()) if args.event else {}
    log_path = Path(info.home) / "logs" / f"{spec.logical_id}.log"
    start = log_path.stat().st_size if log_path.exists() else 0
    result = invoke_once(spec, info.endpoint, log_path.parent, event)
    with log_path.open() as fh:
        fh.seek(start)
        sys.stderr.write(fh.read())
    print(json.dumps(result.payload, indent=2, default=str))
    return 0 if result.ok else 1


ENV_VARS_HELP = """\
Write the JSON file that `sam local invoke --env-vars FILE` reads: for every function,
exactly the variables template.yaml declares for it (Globals and its own), with the
running local stack's values: table and bucket names, queue URLs on the emulator, the
stand-ins' URLs. A stack is started in the background when none runs; the file holds
while that stack runs (its ports change when it restarts: write the file again).

A Lambda container does not reach this machine at 127.0.0.1, where the stack listens, so
the file names this machine by --host-address:
  Docker Desktop (macOS, Windows): the default, host.docker.internal, which Docker
    Desktop forwards to this machine's loopback.
  Linux: Docker's bridge network cannot reach a service on 127.0.0.1; run
    `sam local invoke --docker-network host ...` with --host-address 127.0.0.1.

  thera env-vars --output .thera/env.json
  sam build
  sam local invoke MatcherFunction -e events/matcher_http_health.json \\
      --env-vars .thera/env.json --region us-east-1

The functions' AWS calls go to the stack's emulator through LOCAL_AWS_ENDPOINT_URL, which
template.yaml declares for every function (empty when deployed); the stack's resources live
in us-east-1, hence --region us-east-1 (SAM otherwise passes your profile's region). SAM
passes a function only the variables the template declares (any other name in the file is
dropped): notes on stderr name what a container cannot use from the stack (files of this
machine, or the endpoint if the template stops declaring it).
"""


def cmd_env_vars(args: argparse.Namespace) -> int:
    """Write the ``--env-vars`` JSON of ``sam local invoke`` for the running stack (started when none runs)."""
    from thera_local.sam_env import env_vars_file

    if not args.host_address or any(c in args.host_address for c in "/: "):
        raise UsageError(f"--host-address takes a host name or IP address, got {args.host_address!r}")
    info = ensure_stack(_config(args), echo=_err)
    written = env_vars_file(info.template_obj(), info.endpoint, args.host_address)
    text = json.dumps(written.doc, indent=2, sort_keys=True) + "\n"
    if args.output:
        try:
            Path(args.output).write_text(text)
        except OSError as exc:
            raise UsageError(f"cannot write {args.output}: {exc.strerror or exc}") from None
        _err(
            f"wrote {args.output}: {len(written.doc) - 1} functions, for the stack with pid {info.pid} "
            "(write it again after the stack restarts: its ports change)"
        )
    else:
        sys.stdout.write(text)
    for line in written.notes(info.endpoint):
        _err(line)
    return 0


def cmd_user(args: argparse.Namespace) -> int:
    """``thera user add EMAIL``: someone who may sign in when the stack runs with ApiAuth=Cognito."""
    from thera_local.users import NoUserPool, add_user

    info = ensure_stack(_config(args), echo=_err)
    try:
        password = add_user(info.template_obj(), info.endpoint, args.email, args.password)
    except NoUserPool as exc:
        raise UsageError(str(exc)) from None
    except ClientError as exc:  # an existing user, a password the pool's policy refuses
        raise UsageError(exc.response["Error"].get("Message") or str(exc)) from None
    print(f"{args.email} may sign in" + ("" if args.password else f" with the password {password}"))
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    root = project_root()
    home = Path(args.home).resolve() if args.home else default_home(root)
    print("local stack stopped" if stop_stack(home) else "no local stack was running")
    return 0


def cmd_reset(args: argparse.Namespace) -> int:
    root = project_root()
    home = Path(args.home).resolve() if args.home else default_home(root)
    stop_stack(home)
    shutil.rmtree(home, ignore_errors=True)
    print(f"local state removed ({home})")
    return 0
